#!/usr/bin/env bash
# device_pack.sh: prepares a run on the lent GPU machine (whose image has nvcc but not the HDF5,
# cJSON and stb headers this build needs). Here, with nvcc, it builds bin/nn and the CUDA test
# binaries for sm_90 into local/gpu-build, and packs into local/gpu/:
#   bin.tar.xz  nn and tests/cuda/test_cuda_* (stripped)
#   lib.tar.xz  the shared libraries they need beyond glibc (Debian 12's, which run on the
#               machine's newer glibc), so nothing has to be installed there
# and copies the photos to local/catsdogs. The device command then runs tests/cuda/device_run.sh
# with carry = [local/gpu, local/catsdogs]. local/ is in .gitignore: none of this is committed.
set -eu
cd "$(dirname "$0")/../.."
B=local/gpu-build
make -j2 CUDA_ARCH=sm_90 BUILD=$B BIN=$B/bin $B/bin/nn test-cuda-build >/dev/null
rm -rf local/gpu && mkdir -p local/gpu/stage/bin local/gpu/stage/lib
cp $B/bin/nn $B/tests/cuda/test_cuda_* local/gpu/stage/bin/
rm -f local/gpu/stage/bin/*.d
strip local/gpu/stage/bin/*
for f in local/gpu/stage/bin/*; do ldd "$f"; done | awk '/=>/ {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*)\.so' | while read -r lib; do
        cp -L "$lib" local/gpu/stage/lib/
    done
# xz -9: a 64 MiB window, so the CUDA kernels every test binary carries (8 MB each) are stored once
XZ_OPT=-9 tar -C local/gpu/stage -cJf local/gpu/bin.tar.xz bin
tar -C local/gpu/stage -cJf local/gpu/lib.tar.xz lib
rm -rf local/gpu/stage
if [ ! -d local/catsdogs ]; then cp -r "${NN_SHARED_DATA:-../shared/data}/catsdogs" local/catsdogs; fi
du -sh local/gpu local/catsdogs
