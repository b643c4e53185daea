#!/usr/bin/env bash
# data_bench.sh (make bench-data): images per second decoded and resized to 64x64, by the data
# pipeline (bench/data_bench.c: libjpeg-turbo for JPEG + Pillow-exact NEAREST, pthreads) and by Pillow doing
# what Keras's load_img does (bench/data_bench_pil.py), on the same files in the same run, with
# one thread/process and with all cores; then the cost of one augmented epoch from the warm
# cache, and one training epoch of models/catdog.cfg on the C path with the share of its time
# spent waiting on data. Prints a Markdown table for bench/RESULTS.md. Needs
# ${NN_SHARED_DATA:-../shared/data}.
set -eu
cd "$(dirname "$0")/.."
BENCH=${DATA_BENCH:-build/bench/data_bench}
SHARED=${NN_SHARED_DATA:-../shared/data}
REPS_BASE=${REPS:-3}
PY=/usr/bin/python3
if [ ! -d "$SHARED/fullres" ] || [ ! -d "$SHARED/catsdogs" ]; then
    echo "data_bench: $SHARED/fullres or $SHARED/catsdogs not found: set NN_SHARED_DATA" >&2
    exit 1
fi
[ -x "$BENCH" ] || { echo "data_bench: $BENCH not built (make bench-data)" >&2; exit 1; }
cores=$(nproc)
echo "date $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $cores cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| set | images | who | threads | img/s (wall) | img per CPU-second | vs Pillow |"
echo "|---|---|---|---|---|---|---|"
rate() { sed -n 's/.*img_per_s \([0-9]*\).*/\1/p'; }
cpurate() { sed -n 's/.*img_per_cpu_s \([0-9]*\).*/\1/p'; }
count() { sed -n 's/.* images \([0-9]*\) .*/\1/p'; }
for set in fullres catsdogs; do
    dir=$SHARED/$set
    # fullres is 100 files (a tenth of a second a pass): take the best of more passes there.
    if [ "$set" = fullres ]; then REPS=$((REPS_BASE * 4)); else REPS=$REPS_BASE; fi
    find "$dir" -type f -exec cat {} + > /dev/null   # warm the page cache for everyone
    p1=$($PY bench/data_bench_pil.py "$dir" --procs 1 --reps "$REPS")
    pn=$($PY bench/data_bench_pil.py "$dir" --procs "$cores" --reps "$REPS")
    c1=$("$BENCH" "$dir" --threads 1 --reps "$REPS")
    cn=$("$BENCH" "$dir" --threads "$cores" --reps "$REPS")
    cs=$("$BENCH" "$dir" --slow --reps "$REPS")
    n=$(echo "$c1" | count)
    r_p1=$(echo "$p1" | rate); r_pn=$(echo "$pn" | rate)
    r_c1=$(echo "$c1" | rate); r_cn=$(echo "$cn" | rate); r_cs=$(echo "$cs" | rate)
    u_p1=$(echo "$p1" | cpurate); u_c1=$(echo "$c1" | cpurate); u_cs=$(echo "$cs" | cpurate)
    u_cn=$(echo "$cn" | cpurate)
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
    # One thread: compared per CPU-second (robust when other jobs share the cores); all cores:
    # compared by wall time, the only measure that counts there.
    echo "| $set | $n | Pillow (load_img's steps) | 1 | $r_p1 | $u_p1 | 1.00x |"
    echo "| $set | $n | nn data pipeline | 1 | $r_c1 | $u_c1 | $(ratio "$u_c1" "$u_p1") per core |"
    echo "| $set | $n | nn, full decode then resize (no shortcut) | 1 | $r_cs | $u_cs | $(ratio "$u_cs" "$u_p1") per core |"
    echo "| $set | $n | Pillow, $cores processes | $cores | $r_pn | | 1.00x |"
    echo "| $set | $n | nn data pipeline | $cores | $r_cn | $u_cn | $(ratio "$r_cn" "$r_pn") wall |"
done
echo
train=$SHARED/catsdogs/training_set
for t in 1 "$cores"; do
    l=$("$BENCH" "$train" --loader --threads "$t" --reps "$REPS")
    echo "augmented epoch from the warm cache, $t loader thread(s): $(echo "$l" | sed -n 's/.*seconds \([0-9.]*\).*/\1/p') s for $(echo "$l" | count) images ($(echo "$l" | rate) img/s)"
done
# One real training epoch of the article's CNN on the C path from the warm cache, loader threads
# as nn train gives them on the C path (half the cores), to see how long it waits on data.
w=$(( cores / 2 )); [ "$w" -ge 1 ] || w=1
t=$("$BENCH" "$train" --train models/catdog.cfg --threads "$w")
field() { echo "$t" | sed -n "s/.* $1 \([0-9.]*\).*/\1/p"; }
echo "one training epoch of models/catdog.cfg on the C path, batch 32, $w loader thread(s): $(field epoch_s) s, of which waiting on data $(field wait_s) s ($(field wait_pct)%)"
echo
echo "command: make bench-data (bench/data_bench.sh, best of $((REPS_BASE * 4)) passes on fullres, $REPS_BASE on catsdogs)"
