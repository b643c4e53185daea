#!/usr/bin/env bash
# test_keras_compat.sh: the command line with Keras's files (issue 14), through the fixtures of
# tests/oracles/keras_compat_fixtures.py (tf.keras 2.15 and Keras 3; CI has no Keras):
#  1 nn predict on a tf.keras 2.15 model.save file, and on the cfg's layers with each Keras
#    weights-only file (--model small.cfg --weights W), prints what Keras predicted for the
#    fixture PNGs (1e-5, from --json); nn evaluate and nn summary take --model/--weights too
#  2 a weights-only file given as the model, layers that do not match, --weights with
#    --resume: one error line saying what to do (the layer and both shapes for a mismatch)
#  3 nn train --resume of the tf.keras 2.15 file (Adam at step 3, no epochs recorded): says so,
#    starts epoch 1 at its first step, never "the batch size or the data differ"; the file it
#    saves records 1 epoch and Adam at step 3 + the epoch's steps; nn summary of the Keras file
#    says its epochs are not recorded
#  4 nn train --model small.cfg --weights W starts from those weights (fresh Adam, epoch 1): at
#    --lr 1e-9 the saved model predicts what Keras predicted from them
# Run from the repository root; the CLI is ${NN:-bin/nn}.
set -u
NN=${NN:-bin/nn}
. "$(dirname "$0")/lib.sh"
test_begin test_keras_compat
F=$ROOT/tests/fixtures
printf 'input 16 16 3\nconv2d filters=4 kernel=3 activation=relu\nmaxpool2d pool=2\nflatten\ndense units=8 activation=relu\ndense units=1 activation=sigmoid\n' >small.cfg
sed 's/filters=4/filters=6/' small.cfg >wide.cfg
cp "$F/keras_compat_a.png" a.png
cp "$F/keras_compat_b.png" b.png

# same_as_keras PRED JSON: each image's "output" in nn's --json equals PRED's "image" line, 1e-5
same_as_keras() {
    awk -v pred="$1" '
        BEGIN { while ((getline l < pred) > 0) { split(l, f, " "); if (f[1] == "image") want[f[2]] = f[3] } }
        /"path"/ {
            match($0, /"path": "[^"]*"/); p = substr($0, RSTART + 9, RLENGTH - 10); sub(/^a/, "keras_compat_a", p); sub(/^b/, "keras_compat_b", p)
            match($0, /"output": [-0-9.e]+/); v = substr($0, RSTART + 10, RLENGTH - 10) + 0
            if (!(p in want)) { print "no Keras prediction for " p; bad = 1; next }
            d = v - want[p]; if (d < 0) d = -d
            if (d > 1e-5) { print p ": nn " v ", Keras " want[p]; bad = 1 }
            n++
        }
        END { if (n != 2) { print n " predictions, want 2"; bad = 1 } exit bad }' "$2"
}

# 1 predictions
"$NN" predict --json "$F/keras2_input_small.h5" a.png b.png >p.json 2>p.err
why=$(same_as_keras "$F/keras2_compat_pred.txt" p.json; cat p.err)
check predict_tf_keras2_model same_as_keras "$F/keras2_compat_pred.txt" p.json
for w in keras3_small.weights.h5:keras3 keras2_small_weights.h5:keras2 keras2_small.weights.h5:keras2; do
    file=${w%%:*}; k=${w##*:}
    "$NN" predict --json --model small.cfg --weights "$F/$file" a.png b.png >p.json 2>p.err
    why="$(same_as_keras "$F/${k}_compat_pred.txt" p.json) $(cat p.err)"
    check "predict_weights_$file" same_as_keras "$F/${k}_compat_pred.txt" p.json
done
# the layers as positional argument, --model after the images: the same
"$NN" predict --json a.png b.png --model small.cfg --weights "$F/keras3_small.weights.h5" >p.json 2>&1
why=$(cat p.json); check predict_model_after_images same_as_keras "$F/keras3_compat_pred.txt" p.json
"$NN" predict --json small.cfg a.png b.png --weights "$F/keras3_small.weights.h5" >p.json 2>&1
why=$(cat p.json); check predict_cfg_positional same_as_keras "$F/keras3_compat_pred.txt" p.json
mkdir -p ev/cats ev/dogs && cp a.png ev/cats/ && cp b.png ev/dogs/
"$NN" evaluate --model small.cfg --weights "$F/keras3_small.weights.h5" --data ev --device cpu >ev.out 2>&1
why=$(cat ev.out); check evaluate_weights has ev.out '^2 images - .* - accuracy: 0\.5000'
"$NN" summary small.cfg --weights "$F/keras2_small_weights.h5" >su.out 2>&1
why=$(cat su.out); check summary_weights grep -q 'Weights: .*keras2_small_weights.h5' su.out

# 2 errors that say what to do
expect_error weights_file_as_model 'holds weights only .*--model FILE\.cfg .*--weights' \
    "$NN" predict "$F/keras3_small.weights.h5" a.png
expect_error weights_file_resumed 'holds weights only .*--weights' \
    "$NN" train --resume "$F/keras2_small_weights.h5" --epochs 1 --synthetic 40 --device cpu --out r.h5
expect_error weights_shape_mismatch "keras3_small.weights.h5: layer 'conv2d' kernel has shape \(3, 3, 3, 4\) in the file, wide.cfg needs \(3, 3, 3, 6\)" \
    "$NN" predict --model wide.cfg --weights "$F/keras3_small.weights.h5" a.png
expect_error weights_shape_mismatch_legacy "keras2_small_weights.h5: layer 'conv2d' kernel has shape \(3, 3, 3, 4\) in the file, wide.cfg needs \(3, 3, 3, 6\)" \
    "$NN" evaluate --model wide.cfg --weights "$F/keras2_small_weights.h5" --data ev
expect_error weights_train_mismatch "layer 'conv2d' kernel has shape \(3, 3, 3, 4\) in the file, wide.cfg needs" \
    "$NN" train --model wide.cfg --weights "$F/keras3_small.weights.h5" --epochs 1 --synthetic 40 --device cpu --out r.h5
expect_error weights_and_resume 'not both' \
    "$NN" train --resume "$F/keras2_input_small.h5" --weights "$F/keras3_small.weights.h5" --out r.h5
check no_model_written test ! -e r.h5

# 3 resuming the tf.keras 2.15 file: Adam at step 3, epochs not recorded
cp "$F/keras2_input_small.h5" k.h5
"$NN" summary k.h5 >ks.out 2>&1
why=$(cat ks.out); check summary_keras_epochs_not_recorded has ks.out '^Epochs trained: not recorded'
"$NN" train --resume k.h5 --epochs 1 --synthetic 40 --batch 8 --device cpu --seed 2 --out kr.h5 >kr.out 2>&1
rc=$?
why="status $rc: $(cat kr.out)"
check resume_keras_says_so test $rc -eq 0 -a "$(grep -c 'Resuming k.h5 (written by Keras, Adam at step 3; Keras records no epochs or batch size): epochs count from this run, epoch 1 starts at its first step.' kr.out)" -eq 1
check resume_keras_no_guess test "$(grep -c 'differ' kr.out)" -eq 0 -a "$(grep -c '^\[synthetic\] Epoch 1/1' kr.out)" -eq 1
"$NN" summary kr.h5 >krs.out 2>&1
why=$(cat krs.out); check resume_keras_saved_epochs has krs.out '^Epochs trained: 1$'
check resume_keras_adam_steps has krs.out 'learning_rate 0\.002, .*8 steps taken'

# 4 training from given weights: at a learning rate of 1e-9 the saved model still predicts
# what Keras predicted from those weights (fresh ones would not)
"$NN" train --model small.cfg --weights "$F/keras3_small.weights.h5" --epochs 1 --synthetic 40 --batch 8 \
    --lr 1e-9 --device cpu --out tw.h5 >tw.out 2>&1
rc=$?
why="status $rc: $(cat tw.out)"
check train_from_weights test $rc -eq 0 -a "$(grep -c 'Model: small.cfg, weights from .*keras3_small.weights.h5, 1697 parameters$' tw.out)" -eq 1
"$NN" predict --json tw.h5 a.png b.png >p.json 2>&1
why=$(same_as_keras "$F/keras3_compat_pred.txt" p.json; cat p.json)
check train_from_weights_uses_them same_as_keras "$F/keras3_compat_pred.txt" p.json
"$NN" summary tw.h5 >tws.out 2>&1
why=$(cat tws.out); check train_from_weights_fresh_adam has tws.out 'Epochs trained: 1$'
check train_from_weights_fresh_adam_steps has tws.out ' 5 steps taken'
