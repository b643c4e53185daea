#!/usr/bin/env bash
# test_every_layer.sh: a model of every layer kind nn has (tests/fixtures/every_layer.cfg:
# conv2d, batchnorm, maxpool2d, leakyrelu, avgpool2d, dropout, globalavgpool, dense, activation,
# and the activations relu, tanh, leaky_relu, sigmoid; every_layer3.cfg the same with a softmax
# over three classes) through the commands a user runs, on the C path, in seconds:
#  - nn summary: Keras's table with the non-trainable parameters (batchnorm's moving statistics);
#  - nn train on the synthetic set learns (training accuracy past chance), and --resume after 2 of 3 epochs ends with
#    every dataset of the .h5 (weights, moving statistics, Adam's moments) equal bit for bit to
#    the unbroken run: dropout's masks and the batch statistics are functions of (seed, step);
#  - nn evaluate and nn predict on the written images: evaluate's accuracy is the last epoch's
#    val_accuracy (dropout off and the moving statistics used, as in validation).
# The Keras side of this model (both Keras versions, both ways) is tests/oracles/keras_interop.sh
# tests/fixtures/every_layer.cfg tests/fixtures/every_layer3.cfg, run by hand (tests/README.md).
set -u
NN=${NN:-bin/nn}
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
test_begin test_every_layer

for cfg in every_layer every_layer3; do
    c=$ROOT/tests/fixtures/$cfg.cfg
    "$NN" summary "$c" >s.out 2>&1
    why="$(tail -3 s.out)"
    check ${cfg}_summary has s.out "Non-trainable params: (48|96)$"
    "$NN" train --model "$c" --synthetic 160 --batch 16 --epochs 3 --device cpu --seed 7 \
        --out full.h5 --log full.csv --write-synthetic syn >full.out 2>&1
    rc=$?
    why="status $rc: $(tail -2 full.out)"; check ${cfg}_trains test $rc -eq 0
    # training accuracy: 30 steps leave batchnorm's moving statistics (momentum 0.99) near their
    # start, so validation stays near chance for a while, in Keras as here
    acc=$(tail -1 full.csv | cut -d, -f3)
    why="training accuracy $acc"
    check ${cfg}_learns $PY -c "import sys; sys.exit(not float('$acc') > (0.75 if '$cfg' == 'every_layer' else 0.5))"
    "$NN" train --model "$c" --synthetic 160 --batch 16 --epochs 2 --device cpu --seed 7 --out r.h5 >r1.out 2>&1 &&
        "$NN" train --resume r.h5 --synthetic 160 --batch 16 --epochs 3 --device cpu --seed 7 --out r.h5 >r2.out 2>&1
    rc=$?
    why="status $rc: $(tail -2 r2.out)"; check ${cfg}_resume_runs test $rc -eq 0
    $PY "$ROOT/tests/h5_same.py" full.h5 r.h5 --min 20 >same.out 2>&1
    why="$(cat same.out)"; check ${cfg}_resume_same_weights test $? -eq 0
    "$NN" evaluate full.h5 --data syn/val --device cpu >ev.out 2>&1
    rc=$?
    vacc=$(tail -1 full.csv | cut -d, -f5)
    eacc=$(grep -o 'accuracy: [0-9.]*' ev.out | head -1 | cut -d' ' -f2)
    why="status $rc, evaluate accuracy $eacc, log val_accuracy $vacc"
    check ${cfg}_evaluate_is_validation $PY -c "import sys; sys.exit(not abs(float('$eacc') - float('$vacc')) < 1e-4)"
    img=$(find syn/val -name '*.png' | sort | head -1)
    "$NN" predict full.h5 "$img" >p.out 2>&1
    why="$(cat p.out)"; check ${cfg}_predicts has p.out "^Prediction = "
    rm -rf syn
done
