#!/usr/bin/env bash
# deps.sh (make deps): installs the Debian packages the build and the tests need, when missing.
set -u
# libopenmpi-dev + openmpi-bin: data-parallel training (mpirun -np N nn train; the MPI plugin
# bin/nn-mpi.so is built when they are there, and tests/test_mpi.sh runs mpirun)
build_pkgs="build-essential pkg-config libstb-dev libjpeg62-turbo-dev libhdf5-dev libcjson-dev libopenmpi-dev openmpi-bin"
test_pkgs="python3 python3-numpy python3-scipy python3-h5py python3-pil python3-torch python3-torchvision python3-keras-preprocessing hdf5-tools clang libclang-rt-14-dev libomp-dev valgrind"
missing=""
for p in $build_pkgs $test_pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then echo "deps: all packages present"; exit 0; fi
echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
        echo "deps: not root and no sudo: ask an administrator to run: apt-get install$missing" >&2; exit 1; fi
else SUDO=""; fi
if ! command -v apt-get >/dev/null; then
    echo "deps: apt-get not found: install these packages (or their equivalents) by hand:$missing" >&2; exit 1
fi
$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing \
    || { echo "deps: apt-get install failed; see the messages above" >&2; exit 1; }
