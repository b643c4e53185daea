#!/usr/bin/env bash
# test_demo.sh: `nn demo` and `nn gpuinfo` from the command line, on the C path (any machine):
# the article's c[0] = 8 ... c[5] = 18; the timed addition checks itself; the Mandelbrot
# command prints the oracle's sum of iteration counts (tests/fixtures, from
# tests/oracles/mandelbrot_ref.py) and writes a PNG of the requested size; bad options fail with
# status 2; gpuinfo without a GPU says so in one line and exits 0.
set -u
NN=${NN:-bin/nn}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# The article's arrays: A = [1..6], B = [7..12], so c[i] = A[i] + B[i].
out=$("$NN" demo add --device cpu 2>"$tmp/err"); rc=$?
want=$(for i in 0 1 2 3 4 5; do echo "c[$i] = $(( (i + 1) + (i + 7) ))"; done)
got=$(printf '%s\n' "$out" | grep '^c\[')
if [ $rc -eq 0 ] && [ "$got" = "$want" ]; then pass demo_add_article
else fail demo_add_article "status $rc, printed: $out $(cat "$tmp/err")"; fi

# A large addition (odd n, over the OpenMP threshold): the command checks every element itself.
out=$("$NN" demo add --device cpu --n 300007 --reps 2 2>&1); rc=$?
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'check: every c\[i\] equals a\[i\] + b\[i\]' \
   && printf '%s\n' "$out" | grep -Eq 'C path .* GB/s = .*% of memcpy'; then pass demo_add_timed
else fail demo_add_timed "status $rc, printed: $out"; fi

# Mandelbrot at the article's size: the sum of all counts is the Python oracle's.
fix=tests/fixtures/mandelbrot_1536x1024x20.txt
want=$(awk '$1 == "sum" {print $2}' "$fix")
out=$("$NN" demo mandelbrot --device cpu --no-png 2>&1); rc=$?
got=$(printf '%s\n' "$out" | sed -n 's/.*sum of iterations \([0-9]*\).*/\1/p' | head -1)
if [ $rc -eq 0 ] && [ -n "$want" ] && [ "$got" = "$want" ]; then pass demo_mandelbrot_sum
else fail demo_mandelbrot_sum "status $rc, sum '$got', oracle '$want': $out"; fi

# The PNG has the requested size: width and height are the big-endian words at bytes 16-23.
"$NN" demo mandelbrot --device cpu --width 301 --height 203 --iters 30 --x -2.5:1 --y -1.2:1.2 \
    --out "$tmp/m.png" >"$tmp/log" 2>&1; rc=$?
sig=$(od -An -tx1 -N8 "$tmp/m.png" 2>/dev/null | tr -d ' \n')
wh=$(od -An -tu1 -j16 -N8 "$tmp/m.png" 2>/dev/null | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}')
if [ $rc -eq 0 ] && [ "$sig" = "89504e470d0a1a0a" ] && [ "$wh" = "301 203" ]; then pass demo_mandelbrot_png_size
else fail demo_mandelbrot_png_size "status $rc, signature '$sig', size '$wh': $(cat "$tmp/log")"; fi

# Bad input: a usage error (status 2) that names the option.
err=$("$NN" demo mandelbrot --device cpu --x 1:-2 --no-png 2>&1 >/dev/null); rc=$?
if [ $rc -eq 2 ] && printf '%s' "$err" | grep -q -- '--x'; then pass demo_bad_range
else fail demo_bad_range "status $rc: $err"; fi
err=$("$NN" demo add --n 0 2>&1 >/dev/null); rc=$?
if [ $rc -eq 2 ] && printf '%s' "$err" | grep -q -- '--n'; then pass demo_bad_n
else fail demo_bad_n "status $rc: $err"; fi
"$NN" demo mandelbrot --out "$tmp/no/such/dir/m.png" --device cpu --width 8 --height 8 >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "no/such/dir/m.png" "$tmp/err"; then pass demo_png_unwritable
else fail demo_png_unwritable "status $rc: $(cat "$tmp/err")"; fi

# gpuinfo: with no GPU one clear line and status 0; with one, a description of each device.
out=$("$NN" gpuinfo 2>&1); rc=$?
if [ $rc -ne 0 ]; then fail gpuinfo "status $rc: $out"
elif printf '%s\n' "$out" | grep -q '^GPU 0: '; then
    if printf '%s\n' "$out" | grep -q 'compute capability' && printf '%s\n' "$out" | grep -q 'GB/s theoretical'; then
        pass gpuinfo; else fail gpuinfo "a GPU was found but not described: $out"; fi
elif [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && printf '%s\n' "$out" | grep -q '^no usable CUDA GPU: '; then
    pass gpuinfo
else fail gpuinfo "expected one line 'no usable CUDA GPU: ...', got: $out"; fi
