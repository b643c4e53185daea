#!/usr/bin/env bash
# keras_interop.sh: nn's .h5 files read by real Keras 3, run by hand (CI has no Keras).
# For three models written by nn: the round-trip test model (strides, 'same' padding, a conv
# without bias, an Activation layer), the article's CNN as nn initialises it, and the article's
# CNN trained by `nn train` for 2 epochs on the synthetic set, it writes nn's predictions on
# fixed inputs (test_h5 --predict) and has keras_load_nn.py load the file with
# keras.models.load_model and compare (1e-5), Adam's state included.
# Usage (from the repository root, after `make` and `make test` built bin/nn and test_h5):
#   PY=/tmp/kvenv/bin/python NN=bin/nn NN_BUILD=build tests/oracles/keras_interop.sh
set -eu
PY=${PY:-python3}
NN=${NN:-bin/nn}
T=${NN_BUILD:-build}/tests/test_h5
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
"$T" --write-sample "$dir/sample.h5"
"$T" --write-sample "$dir/catdog_init.h5" models/catdog.cfg
"$NN" train --epochs 2 --device cpu --seed 3 --out "$dir/catdog_trained.h5" >"$dir/train.log" 2>&1 \
    || { cat "$dir/train.log"; exit 1; }
status=0
for m in sample catdog_init catdog_trained; do
    "$T" --predict "$dir/$m.h5" "$dir/$m.txt"
    "$PY" tests/oracles/keras_load_nn.py "$dir/$m.h5" "$dir/$m.txt" 2>/dev/null | grep -E '^(PASS|FAIL)' || status=1
done
exit $status
