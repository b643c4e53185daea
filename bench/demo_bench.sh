#!/usr/bin/env bash
# demo_bench.sh (make bench-demo): the demos' figures on a GPU machine, with the yardstick measured
# in the same run (bench/demo_cupy.py: the CuPy Mandelbrot kernel, PyTorch's int32 add and copy).
#   - Mandelbrot kernel time at 1536x1024x20 (the article's image; target <= 30 us) and at
#     8192x8192x1000, CUDA events, median of single launches and back to back; the C path on all
#     cores beside it, and the two compared on every pixel;
#   - int32 vector add at 2^28 elements in GB/s (3 x 4 bytes x n / time) against the copy
#     bandwidth measured by the same command (target >= 90%).
# Prints every command's output, then a summary; with $OUT set, also writes $OUT/demo_bench.txt.
set -u
NN=${NN:-bin/nn}
PY=${PYTHON:-python3}
log=$(mktemp); trap 'rm -f "$log"' EXIT
run() { echo "\$ $*"; "$@" 2>&1 | tee -a "$log"; echo; }

echo "== demo bench, $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
run "$NN" gpuinfo
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv
a=$(run "$NN" demo mandelbrot --device both --no-png --reps 200); echo "$a"
b=$(run "$NN" demo mandelbrot --device both --width 8192 --height 8192 --iters 1000 --no-png --reps 10); echo "$b"
c=$(run "$NN" demo add --device both --n 268435456 --reps 20); echo "$c"
y=$(run "$PY" bench/demo_cupy.py); echo "$y"

# --- summary
ms() { printf '%s\n' "$1" | sed -n "s/.*$2 *\([0-9.]*\) ms.*/\1/p" | head -1; }
val() { printf '%s\n' "$y" | awk -v k="$1" '$1 == k {print $2}'; }
us() { awk -v m="$1" 'BEGIN { if (m == "") print "?"; else printf "%.1f", m * 1000 }'; }
echo "== summary"
echo "mandelbrot 1536x1024x20: CUDA kernel $(us "$(ms "$a" kernel)") us (median of single launches), $(us "$(ms "$a" 'back to back:')") us back to back; target <= 30 us"
echo "   CuPy (yardstick kernel): $(us "$(val cupy_mandel_1536x1024x20_single)") us (median of single launches), $(us "$(val cupy_mandel_1536x1024x20_burst)") us back to back"
echo "   C path: $(ms "$a" 'OpenMP)') ms; C and CUDA agree on every pixel: $(printf '%s\n' "$a" | grep -q 'agree on every pixel' && echo yes || echo NO)"
echo "mandelbrot 8192x8192x1000: CUDA kernel $(ms "$b" kernel) ms, back to back $(ms "$b" 'back to back:') ms; CuPy $(val cupy_mandel_8192x8192x1000_single) ms single, $(val cupy_mandel_8192x8192x1000_burst) ms back to back; C path $(ms "$b" 'OpenMP)') ms"
echo "vector add 2^28 int32: $(printf '%s\n' "$c" | grep -E '^  CUDA' | sed 's/^ *//')"
echo "   $(printf '%s\n' "$c" | grep -E 'back to back' | sed 's/^ *//')"
echo "   C path: $(printf '%s\n' "$c" | grep -E '^  C path' | sed 's/^ *//')"
echo "   PyTorch same run: int32 add $(val torch_add_int32_2^28) GB/s, copy $(val torch_copy_int32_2^28) GB/s"
[ -n "${OUT:-}" ] && cp "$log" "$OUT/demo_bench.txt"
exit 0
