#!/usr/bin/env bash
# demo_standalone.sh: builds a demo-only nn and the demos' GPU test into DIR (default
# /tmp/demo-standalone) from the files the demos use, for a GPU machine where the full build
# cannot run (no HDF5, cJSON or stb headers there). Then: NN=DIR/nn bash bench/demo_bench.sh.
set -eu
d=${1:-/tmp/demo-standalone}; arch=${CUDA_ARCH:-sm_90}
mkdir -p "$d"
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$NVCC")")}
objs=(); core=()
for f in ctx_cuda elementwise_cuda gridmap_cuda gpuinfo_cuda demo_cuda; do
    "$NVCC" -O3 -arch="$arch" -std=c++17 --expt-relaxed-constexpr -c cuda/$f.cu -o "$d/$f.o" &
    objs+=("$d/$f.o"); core+=("$d/$f.o")
done
for f in nn/common.c nn/elementwise.c nn/gridmap.c tools/cli.c tools/cmd_demo.c tools/demo_mandelbrot.c tools/outfile.c tools/cmd_gpuinfo.c; do
    o="$d/$(basename "$f" .c).o"
    gcc -O3 -std=c11 -D_GNU_SOURCE -Wall -Wextra -fopenmp -c "$f" -o "$o" &
    objs+=("$o"); case $f in nn/*) core+=("$o");; esac
done
wait
libs=(-L"$CUDA_HOME/lib64" -Wl,-rpath,"$CUDA_HOME/lib64" -lcudart -lstdc++ -lm -fopenmp)
gcc -O3 -std=c11 -D_GNU_SOURCE -fopenmp -o "$d/nn" bench/demo_standalone.c "${objs[@]}" "${libs[@]}"
gcc -O3 -std=c11 -D_GNU_SOURCE -fopenmp -I"$CUDA_HOME/include" -o "$d/test_demo_cuda" tests/cuda/test_demo_cuda.c \
    "${core[@]}" "${libs[@]}"
echo "built $d/nn and $d/test_demo_cuda"
