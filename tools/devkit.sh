#!/usr/bin/env bash
# devkit.sh: packs the headers and shared libraries the build needs (stb, HDF5, cJSON and their
# library closure) into local/devkit, for a machine that has nvcc but not these Debian packages
# and cannot install them (the lent GPU machine has no network). Carry local/devkit with the
# repository there; the Makefile picks up local/devkit/devkit.mk by itself.
set -eu
cd "$(dirname "$0")/.."
kit=local/devkit
rm -rf "$kit"; mkdir -p "$kit/include" "$kit/lib"
cp -r /usr/include/stb "$kit/include/stb"
cp -r /usr/include/hdf5/serial "$kit/include/hdf5"
cp -r /usr/include/cjson "$kit/include/cjson"
# The libraries nn links and everything they pull in, except the C runtime and compiler runtime
# that every Linux machine with gcc has.
bin=${1:-bin/nn}
[ -x "$bin" ] || { echo "devkit: build $bin first (make)" >&2; exit 1; }
ldd "$bin" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libgomp.so*|libpthread.so*|libdl.so*|librt.so*|libstdc++.so*|libgcc_s.so*|ld-linux*|libcudart*) ;;
        *) cp -L "$lib" "$kit/lib/" ;;
    esac
done
ln -sf libhdf5_serial.so.103 "$kit/lib/libhdf5.so"
ln -sf libcjson.so.1 "$kit/lib/libcjson.so"
cat > "$kit/devkit.mk" <<'MK'
# Included by the Makefile when present: headers and libraries from tools/devkit.sh.
DEVKIT := $(abspath local/devkit)
CPPFLAGS += -I$(DEVKIT)/include -I$(DEVKIT)/include/stb -I$(DEVKIT)/include/hdf5
LDLIBS := -L$(DEVKIT)/lib -Wl,-rpath,$(DEVKIT)/lib $(LDLIBS)
MK
# One compressed file travels faster and smaller than the folder (carry local/devkit.tar.xz and
# unpack it there with: tar xJf local/devkit.tar.xz -C local).
tar cJf local/devkit.tar.xz -C local devkit
du -sh "$kit" local/devkit.tar.xz
