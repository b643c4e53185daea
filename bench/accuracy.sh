#!/usr/bin/env bash
# accuracy.sh (make bench-accuracy): test accuracy of nn against PyTorch + torchvision, the same
# model file trained the same way in the same run (issue 14's yardstick). For each model:
#   nn train --model M --data DATA/training_set (the article's augmentation, --epochs, --batch)
#   nn evaluate on DATA/test_set
#   bench/torch_accuracy.py M DATA/training_set DATA/test_set (same epochs and batch;
#   TORCH_AUG=keras, the default, augments as Keras and nn do; torchvision: RandomAffine;
#   TORCH_INIT=keras, the default, starts from Keras's initial weights; torch: PyTorch's)
# and a table: test accuracy of each, nn - PyTorch, and the whole-process seconds.
#
# usage: bash bench/accuracy.sh   (DATA=../shared/data/catsdogs MODELS="models/catdog2.cfg ..."
#        EPOCHS=25 BATCH=32 SEEDS="1" NN=bin/nn DEVICE=cuda PYTHON=python3 OUT=/tmp/accuracy
#        TORCH_JOBS=1 TORCH_AUG=keras TORCH_INIT=keras)
set -u
cd "$(dirname "$0")/.." || exit 1
DATA=${DATA:-../shared/data/catsdogs}; OUT=${OUT:-/tmp/accuracy}; mkdir -p "$OUT"
MODELS=${MODELS:-"models/catdog2.cfg models/catdog_bn.cfg"}
EPOCHS=${EPOCHS:-25}; BATCH=${BATCH:-32}; SEEDS=${SEEDS:-1}; NN=${NN:-bin/nn}
DEVICE=${DEVICE:-cuda}; PYTHON=${PYTHON:-python3}; TORCH_AUG=${TORCH_AUG:-keras}; TORCH_INIT=${TORCH_INIT:-keras}
[ -d "$DATA/training_set" ] && [ -d "$DATA/test_set" ] || { echo "accuracy.sh: $DATA needs training_set/ and test_set/ (see ../shared/data/README.md)" >&2; exit 1; }
echo "== $(date -u '+%F %T UTC') $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
echo "== $EPOCHS epochs, batch $BATCH, seeds $SEEDS, data $DATA, PyTorch's augmentation: $TORCH_AUG, initial weights: $TORCH_INIT"
# nn first, one run at a time (its whole-run seconds are alone on the card); then PyTorch, TORCH_JOBS
# runs at once (default 1: its seconds alone too; more shortens a many-seed run, each PyTorch run
# then shares the card and the CPUs, so its seconds say less)
TORCH_JOBS=${TORCH_JOBS:-1}
declare -A nn_acc nn_sec t_sec
for m in $MODELS; do
    name=$(basename "$m" .cfg)
    for seed in $SEEDS; do
        k=${name}_s$seed
        t=$(date +%s)
        # shellcheck disable=SC2086  # NN may carry its environment (device_run.sh)
        $NN train --model "$m" --data "$DATA/training_set" --epochs "$EPOCHS" --batch "$BATCH" \
            --seed "$seed" --device "$DEVICE" --out "$OUT/nn_$k.h5" \
            >"$OUT/nn_$k.log" 2>&1 || echo "nn train $m failed: $(tail -2 "$OUT/nn_$k.log")"
        nn_sec[$k]=$(($(date +%s) - t))
        # shellcheck disable=SC2086
        $NN evaluate "$OUT/nn_$k.h5" --data "$DATA/test_set" --device "$DEVICE" >"$OUT/nn_$k.eval" 2>&1
        nn_acc[$k]=$(grep -io 'accuracy[: =]*[0-9.]*' "$OUT/nn_$k.eval" | head -1 | grep -o '[0-9.]*$')
        echo "$name seed $seed: nn ${nn_acc[$k]:-?} (${nn_sec[$k]} s)"
    done
done
torch_run() {   # model name seed
    local t; t=$(date +%s)
    timeout 900 "$PYTHON" bench/torch_accuracy.py "$1" "$DATA/training_set" "$DATA/test_set" \
        --epochs "$EPOCHS" --batch "$BATCH" --seed "$3" --aug "$TORCH_AUG" --init "$TORCH_INIT" >"$OUT/torch_$2_s$3.log" 2>&1 \
        || echo "torch $1 failed: $(tail -2 "$OUT/torch_$2_s$3.log")"
    echo $(($(date +%s) - t)) >"$OUT/torch_$2_s$3.sec"
}
for m in $MODELS; do
    name=$(basename "$m" .cfg)
    for seed in $SEEDS; do
        while [ "$(jobs -rp | wc -l)" -ge "$TORCH_JOBS" ]; do wait -n; done
        torch_run "$m" "$name" "$seed" &
    done
done
wait
rows=()
for m in $MODELS; do
    name=$(basename "$m" .cfg)
    for seed in $SEEDS; do
        k=${name}_s$seed
        t_acc=$(grep -o 'test accuracy [0-9.]*' "$OUT/torch_$k.log" | grep -o '[0-9.]*$')
        t_s=$(cat "$OUT/torch_$k.sec" 2>/dev/null)
        echo "$name seed $seed: nn ${nn_acc[$k]:-?} (${nn_sec[$k]} s)   PyTorch ${t_acc:-?} (${t_s:-?} s)"
        rows+=("| $name | $seed | ${nn_acc[$k]:-?} | ${t_acc:-?} | ${nn_sec[$k]} s | ${t_s:-?} s |")
    done
done
echo
echo "| model | seed | nn test accuracy | PyTorch test accuracy | nn whole run | PyTorch whole run |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
# the mean over the seeds, per model (the fair comparison: one seed's run is one draw)
if [ "$(echo $SEEDS | wc -w)" -gt 1 ]; then
    echo
    printf '%s\n' "${rows[@]}" | awk -F'|' '{gsub(/ /, "", $2); if ($4 + 0 > 0) {n[$2]++; a[$2] += $4; if ($5 + 0 > 0) {tn[$2]++; t[$2] += $5}}}
        END {for (m in n) printf "%s: mean over %d seeds: nn %.4f, PyTorch %s\n", m, n[m], a[m] / n[m],
             tn[m] ? sprintf("%.4f (%d seeds)", t[m] / tn[m], tn[m]) : "?"}'
fi
