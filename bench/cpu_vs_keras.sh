#!/usr/bin/env bash
# cpu_vs_keras.sh: the C path beside Keras 3 on TensorFlow CPU (XLA, jit_compile=True) on the
# same cores, in one run: training steps of models/catdog.cfg and models/catdog2.cfg at batch
# BATCH, `nn bench --device cpu --steps 40 --warmup 5` against bench/keras_cpu.py building the
# same model from the same file (Adam(1e-3), binary_crossentropy, random 64x64x3 inputs in
# [0, 1), train_on_batch timed one call at a time after 5 warm-up calls, TF pinned to THREADS
# intra- and inter-op threads).
# The two alternate for ROUNDS rounds (default 3) per model and the best round of each is kept,
# because the machine is shared: a figure taken while other work runs is low, never high.
# Figures are from the median step of 40 (robust to a preempted step); the mean step's ratio
# follows in brackets.
# The oracle's Python is a virtualenv made on first use in local/kerasvenv (git-ignored):
# python3 -m venv local/kerasvenv && local/kerasvenv/bin/pip install tensorflow-cpu keras
# Usage: bench/cpu_vs_keras.sh   (env: NN=bin/nn THREADS=<all cores> ROUNDS=3 BATCH=32
#        MODELS="models/catdog.cfg models/catdog2.cfg" KERAS_PYTHON=local/kerasvenv/bin/python)
set -eu
cd "$(dirname "$0")/.."
NN=${NN:-bin/nn}
THREADS=${THREADS:-$(nproc)}
ROUNDS=${ROUNDS:-3}
BATCH=${BATCH:-32}
MODELS=${MODELS:-models/catdog.cfg models/catdog2.cfg}
VENV=local/kerasvenv
[ -x "$NN" ] || { echo "cpu_vs_keras: $NN not found: run make first" >&2; exit 1; }

if [ -z "${KERAS_PYTHON:-}" ]; then
    KERAS_PYTHON=$VENV/bin/python
    if ! "$KERAS_PYTHON" -c 'import tensorflow, keras' 2>/dev/null; then
        echo "cpu_vs_keras: making $VENV (pip install tensorflow-cpu keras; a few minutes, once)" >&2
        { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q tensorflow-cpu keras; } >&2 ||
            { echo "cpu_vs_keras: could not make $VENV with tensorflow-cpu and keras (see pip's" \
                   "message above); set KERAS_PYTHON to a Python that has them" >&2; exit 1; }
    fi
fi
"$KERAS_PYTHON" -c 'import tensorflow, keras' 2>/dev/null ||
    { echo "cpu_vs_keras: $KERAS_PYTHON cannot import tensorflow and keras" >&2; exit 1; }

nn_train() {   # prints "ms/step-median ms/step-mean"
    "$NN" bench --device cpu --model "$1" --batch "$BATCH" --steps 40 --warmup 5 --threads "$THREADS" |
        awk '/ms\/step mean/ {for (i = 1; i < NF; i++) {if ($(i + 1) == "ms/step") a = $i; if ($(i + 1) == "median,") b = $i}}
             END {if (a == "" || b == "") exit 1; print b, a}'
}
keras_train() {   # prints "ms/step-median ms/step-mean tf-version keras-version"
    "$KERAS_PYTHON" bench/keras_cpu.py "$1" --batch "$BATCH" --steps 40 --warmup 5 --threads "$THREADS" |
        tail -1 | "$KERAS_PYTHON" -c 'import json, sys; d = json.load(sys.stdin)
print(d["ms_median"], d["ms_mean"], d["tf"], d["keras"])'
}

min() { awk -v a="$1" -v b="$2" 'BEGIN {print (a < b ? a : b)}'; }
ips() { awk -v b="$BATCH" -v ms="$1" 'BEGIN {printf "%.0f", b / ms * 1e3}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
rows=""
for m in $MODELS; do
    nm=1e9; nmean=1e9; km=1e9; kmean=1e9
    for r in $(seq "$ROUNDS"); do
        read -r a b <<<"$(nn_train "$m")"
        [ -n "$b" ] || { echo "cpu_vs_keras: $NN bench on $m gave no timing" >&2; exit 1; }
        read -r c d tfver kver <<<"$(keras_train "$m")"
        [ -n "$kver" ] || { echo "cpu_vs_keras: bench/keras_cpu.py on $m gave no timing" >&2; exit 1; }
        nm=$(min "$nm" "$a"); nmean=$(min "$nmean" "$b"); km=$(min "$km" "$c"); kmean=$(min "$kmean" "$d")
        echo "$m round $r: nn $a, Keras $c ms/step (median); best so far nn $nm, Keras $km"
    done
    rows="$rows| $m | $(ips "$nm") ($nm ms) | $(ips "$km") ($km ms) | $(ratio "$km" "$nm")x [$(ratio "$kmean" "$nmean")x] |
"
done

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
isa=$("$NN" bench --device cpu --batch 1 --steps 1 --warmup 0 --threads "$THREADS" | sed -n 's/.*sgemm \([^)]*\)).*/\1/p')
echo
echo "date $(date -u +%F), $cpu, $THREADS threads of $(nproc) cores, sgemm kernel $isa," \
     "TensorFlow $tfver, Keras $kver; batch $BATCH, best of $ROUNDS rounds, median step of 40"
echo
echo "| model | nn img/s | Keras 3 (TF CPU, jit) img/s | ratio nn/Keras [from mean steps] |"
echo "|---|---|---|---|"
printf "%s" "$rows"
