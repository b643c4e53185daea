#!/usr/bin/env bash
# test_demo_cuda.sh: `nn demo` and `nn gpuinfo` on a GPU machine (make test-cuda): both demos run on
# the C path and on the GPU and agree (the commands compare every element and pixel and fail
# otherwise), and gpuinfo describes the device. Exit status 1 when any check fails.
set -u
NN=${NN:-bin/nn}
fails=0
if "$NN" gpuinfo | grep -q '^no usable CUDA GPU'; then
    echo "SKIP cuda_demo_cli: $("$NN" gpuinfo)"
    exit 0
fi
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

out=$("$NN" demo add --device both 2>&1); rc=$?
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^c\[5\] = 18$' && printf '%s\n' "$out" | grep -q 'the C path gives the same'
then pass cuda_demo_add_article; else fail cuda_demo_add_article "status $rc: $out"; fi

out=$("$NN" demo add --device both --n 1000003 --reps 3 2>&1); rc=$?
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'equals a\[i\] + b\[i\] on both sides'
then pass cuda_demo_add_large; else fail cuda_demo_add_large "status $rc: $out"; fi

for args in "" "--width 1000 --height 700 --iters 1000" "--width 640 --height 400 --iters 3000 --x -0.75:-0.74 --y 0.1:0.11"; do
    # shellcheck disable=SC2086
    out=$("$NN" demo mandelbrot --device both --no-png --reps 5 $args 2>&1); rc=$?
    if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'agree on every pixel'
    then pass "cuda_demo_mandelbrot${args:+ $args}"; else fail "cuda_demo_mandelbrot $args" "status $rc: $out"; fi
done

out=$("$NN" gpuinfo 2>&1); rc=$?
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^GPU 0: ' && printf '%s\n' "$out" | grep -q 'multiprocessors'
then pass cuda_gpuinfo; else fail cuda_gpuinfo "status $rc: $out"; fi
[ $fails -eq 0 ]
