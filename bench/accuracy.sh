#!/usr/bin/env bash
# accuracy.sh (make bench-accuracy): test accuracy of nn against PyTorch + torchvision, the same
# model file trained the same way in the same run (issue 14's yardstick). For each model:
#   nn train --model M --data DATA/training_set (the article's augmentation, --epochs, --batch)
#   nn evaluate on DATA/test_set
#   bench/torch_accuracy.py M DATA/training_set DATA/test_set (same epochs and batch)
# and a table: test accuracy of each, nn - PyTorch, and the whole-process seconds.
#
# usage: bash bench/accuracy.sh   (DATA=../shared/data/catsdogs MODELS="models/catdog2.cfg ..."
#        EPOCHS=25 BATCH=32 SEEDS="1" NN=bin/nn DEVICE=cuda PYTHON=python3 OUT=/tmp/accuracy)
set -u
cd "$(dirname "$0")/.." || exit 1
DATA=${DATA:-../shared/data/catsdogs}; OUT=${OUT:-/tmp/accuracy}; mkdir -p "$OUT"
MODELS=${MODELS:-"models/catdog2.cfg models/catdog_bn.cfg"}
EPOCHS=${EPOCHS:-25}; BATCH=${BATCH:-32}; SEEDS=${SEEDS:-1}; NN=${NN:-bin/nn}
DEVICE=${DEVICE:-cuda}; PYTHON=${PYTHON:-python3}
[ -d "$DATA/training_set" ] && [ -d "$DATA/test_set" ] || { echo "accuracy.sh: $DATA needs training_set/ and test_set/ (see ../shared/data/README.md)" >&2; exit 1; }
echo "== $(date -u '+%F %T UTC') $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
echo "== $EPOCHS epochs, batch $BATCH, seeds $SEEDS, data $DATA"
rows=()
for m in $MODELS; do
    name=$(basename "$m" .cfg)
    for seed in $SEEDS; do
        t=$(date +%s)
        # shellcheck disable=SC2086  # NN may carry its environment (device_run.sh)
        $NN train --model "$m" --data "$DATA/training_set" --epochs "$EPOCHS" --batch "$BATCH" \
            --seed "$seed" --device "$DEVICE" --out "$OUT/nn_${name}_s$seed.h5" \
            >"$OUT/nn_${name}_s$seed.log" 2>&1 || echo "nn train $m failed: $(tail -2 "$OUT/nn_${name}_s$seed.log")"
        nn_s=$(($(date +%s) - t))
        # shellcheck disable=SC2086
        $NN evaluate "$OUT/nn_${name}_s$seed.h5" --data "$DATA/test_set" --device "$DEVICE" \
            >"$OUT/nn_${name}_s$seed.eval" 2>&1
        nn_acc=$(grep -io 'accuracy[: =]*[0-9.]*' "$OUT/nn_${name}_s$seed.eval" | head -1 | grep -o '[0-9.]*$')
        t=$(date +%s)
        timeout 900 "$PYTHON" bench/torch_accuracy.py "$m" "$DATA/training_set" "$DATA/test_set" \
            --epochs "$EPOCHS" --batch "$BATCH" --seed "$seed" >"$OUT/torch_${name}_s$seed.log" 2>&1 \
            || echo "torch $m failed: $(tail -2 "$OUT/torch_${name}_s$seed.log")"
        t_s=$(($(date +%s) - t))
        t_acc=$(grep -o 'test accuracy [0-9.]*' "$OUT/torch_${name}_s$seed.log" | grep -o '[0-9.]*$')
        echo "$name seed $seed: nn ${nn_acc:-?} (${nn_s%.*} s)   PyTorch ${t_acc:-?} (${t_s%.*} s)"
        rows+=("| $name | $seed | ${nn_acc:-?} | ${t_acc:-?} | ${nn_s%.*} s | ${t_s%.*} s |")
    done
done
echo
echo "| model | seed | nn test accuracy | PyTorch test accuracy | nn whole run | PyTorch whole run |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
