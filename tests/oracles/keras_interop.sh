#!/usr/bin/env bash
# keras_interop.sh: nn's .h5 files read by real Keras 3 and tf.keras 2.15, and their files read
# back by nn, run by hand (CI has no Keras).
#
#   tests/oracles/keras_interop.sh [MODEL.cfg ...]     (default: models/catdog*.cfg)
#
# For the round-trip test model of test_h5 (strides, 'same' padding, a conv without bias, an
# Activation layer, random Adam state at step 123457) and for each cfg given, trained by
# `nn train` for one epoch of 5 steps on the synthetic set, and for each Keras (PY3: Keras 3,
# PY2: tf.keras 2.15):
#   nn -> Keras: keras_load_nn.py loads nn's file with keras.models.load_model, compares
#     Keras's predictions with nn's on the same inputs (1e-5), checks Adam's settings and state,
#     and resumes training (one model.fit step from nn's Adam state), then saves the model
#     with model.save("x.h5");
#   Keras -> nn: nn predicts that Keras-written file (test_h5 --predict), Keras predicts it
#     too (--predict-only), the two compared to 1e-5; `nn train --resume` continues it for one
#     epoch, and must say the file recorded no epochs (no "batch size or data differ" line).
# A cfg with a layer kind one Keras lacks fails in that Keras's line, not in the others.
# Usage (from the repository root, after `make` and `make build/tests/test_h5`):
#   tests/oracles/keras_interop.sh models/catdog.cfg models/catdog2.cfg models/catdog3.cfg
# Environment: PY3 (default local/kerasvenv/bin/python), PY2 (local/tfkeras215/bin/python; the
# venvs: tests/README.md), NN (bin/nn), NN_BUILD (build). Each Python left empty is skipped.
set -u
PY3=${PY3-local/kerasvenv/bin/python}
PY2=${PY2-local/tfkeras215/bin/python}
NN=${NN:-bin/nn}
T=${NN_BUILD:-build}/tests/test_h5
L=tests/oracles/keras_load_nn.py
[ $# -gt 0 ] || set -- models/catdog.cfg models/catdog2.cfg models/catdog3.cfg
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
status=0
fail() { echo "FAIL keras_interop: $*"; status=1; }

"$T" --write-sample "$dir/sample.h5" || exit 1
models=(sample)
for cfg in "$@"; do
    m=$(basename "$cfg" .cfg)
    if "$NN" train --model "$cfg" --epochs 1 --synthetic 40 --batch 8 --device cpu --seed 3 \
        --out "$dir/$m.h5" >"$dir/$m.train.log" 2>&1; then
        models+=("$m")
    else
        fail "$cfg: nn train failed: $(tail -1 "$dir/$m.train.log")"
    fi
done

for m in "${models[@]}"; do
    "$T" --predict "$dir/$m.h5" "$dir/$m.txt" || { fail "$m: test_h5 --predict"; continue; }
    for k in 3 2; do
        py=PY$k; py=${!py}
        [ -n "$py" ] || continue
        [ -x "$py" ] || { echo "SKIP keras_interop: $m: $py not found (PY$k)"; continue; }
        kf="$dir/$m.keras$k.h5"
        # nn -> Keras, and Keras saves the model after one resumed step
        "$py" "$L" "$dir/$m.h5" "$dir/$m.txt" --save-after-fit "$kf" >"$dir/out" 2>&1
        grep -E '^(PASS|FAIL|NOTE)' "$dir/out" | sed "s|^|[$m] |"
        grep -q '^PASS' "$dir/out" || { fail "$m: Keras $k: $(grep -E 'Error|FAIL' "$dir/out" | tail -1)"; continue; }
        # Keras -> nn: predictions of the Keras-written file
        "$T" --predict "$kf" "$kf.txt" 2>"$dir/err" || { fail "$m: nn cannot load Keras $k's file: $(cat "$dir/err")"; continue; }
        "$py" "$L" "$kf" "$kf.txt" --predict-only >"$dir/out" 2>&1
        grep -E '^(PASS|FAIL)' "$dir/out" | sed "s|^|[$m] Keras $k -> nn: |"
        grep -q '^PASS' "$dir/out" || fail "$m: Keras $k's file: $(grep -E 'Error|FAIL' "$dir/out" | tail -1)"
        [ "$m" = sample ] && continue   # 12x10 inputs: not an image model nn train takes
        # Keras -> nn: resuming training of the Keras-written file
        if "$NN" train --resume "$kf" --epochs 1 --synthetic 40 --batch 8 --device cpu --seed 3 \
            --out "$dir/$m.resumed$k.h5" >"$dir/resume.log" 2>&1; then
            line=$(grep -m1 'Resuming' "$dir/resume.log")
            if grep -q 'differ' "$dir/resume.log"; then fail "$m: nn train --resume Keras $k's file: $line"
            else echo "PASS keras_interop: [$m] nn train --resume Keras $k's file: $line"; fi
        else
            fail "$m: nn train --resume Keras $k's file: $(tail -1 "$dir/resume.log")"
        fi
    done
done
[ $status -eq 0 ] && echo "PASS keras_interop: ${#models[@]} models, both ways" 
exit $status
