#!/usr/bin/env bash
# test_robust.sh: "never answer from a broken model" (the issue's part B), one test or a few per
# row of tests/README.md's bad-input table that these rows added:
#  1 a model with NaN or infinite weights: predict (text and --json), evaluate refuse it with one
#    line naming the file, the layer and the count; summary prints the table, then that line,
#    status 1; finite weights whose activations overflow give an error per image, and --json
#    never holds nan or inf
#  2 train --resume of such a model: refused at load, before any epoch
#  3 a class folder empty, or none of its images readable: train refuses naming the folder;
#    evaluate warns naming it and goes on
#  4 a mid-epoch checkpoint resumed with another --batch: refused, naming the batch to use; the
#    same batch resumes at the step it stopped; an epoch-end checkpoint resumes at any batch
#  5 ESC and newline in file and class names: shown as '?' in text output, exact in JSON (and
#    a name that is not UTF-8 still gives valid JSON)
#  6 a cfg saved with a UTF-8 byte order mark is read
#  7 nn bench outside the repository: the built-in CNN, and it says so
#  8 evaluate --batch 65536 on a few images: clipped to the data (under a 3 GB address limit)
#  9 no GPU driver: a plain line, not "driver version is insufficient"
# 10 plural class folders (cats, dogs): text output prints the singular (dog), as the article;
#    JSON keeps "class": "dogs" and adds "label": "dog"; README and --help agree
# Each NaN or inf is written into a saved .h5 with h5py (python3-h5py). Run from the
# repository root; the CLI is ${NN:-bin/nn}.
set -u
NN=${NN:-bin/nn}
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
test_begin test_robust

# An error case: stdout must not hold nan or inf either (lib.sh's expect_error).
EXPECT_NO_OUT='(^|[^a-z])(-?nan|-?inf)([^a-z]|$)'
# Writes VALUE into one element of a weight of an .h5 model: poke FILE LAYER TENSOR VALUE [INDEX]
poke() {
    $PY - "$@" <<'EOF'
import sys, h5py, numpy as np
path, layer, tensor, value = sys.argv[1:5]
with h5py.File(path, "r+") as f:
    d = f["model_weights/%s/sequential/%s/%s" % (layer, layer, tensor)]
    a = d[()]
    if value == "overflow":     # finite, but units 0 and 1 of a pass through it overflow to +inf
        a[..., :2] = 3e38
    elif value == "opposite":   # +inf from unit 0, -inf from unit 1: the logit is NaN
        a[...] = 0
        a[0], a[1] = 1, -1
    else:
        a.flat[int(sys.argv[5]) if len(sys.argv) > 5 else 0] = float(value)
    d[...] = a
EOF
}
# stdin is one JSON document with no NaN or Infinity in it (Python's json accepts both by default)
strict_json() {
    $PY -c '
import json, sys
def bad(c): raise ValueError("non-finite number %s in the JSON" % c)
json.load(sys.stdin, parse_constant=bad)'
}

# --- a small trained model and its images (the article's CNN on 64 synthetic images)
"$NN" train --synthetic 64 --epochs 1 --device cpu --out m.h5 --write-synthetic syn >train.out 2>&1 ||
    { fail robust_setup "nn train: $(tail -3 train.out)"; exit 1; }
IMG=syn/val/vertical/0002.png

# --- row 1: NaN / inf weights
cp m.h5 nan.h5 && poke nan.h5 dense kernel nan 12345
cp m.h5 inf.h5 && poke inf.h5 conv2d kernel inf 3 && poke inf.h5 dense kernel -inf 7 && poke inf.h5 dense bias nan 0
expect_error nan_predict_refused "nan\.h5: the weights hold 1 NaN or infinite value \(1 of the 3,936,384 in layer 4 'dense'\)" \
    "$NN" predict nan.h5 "$IMG"
expect_error nan_predict_json_refused "nan\.h5: .*1 NaN or infinite value.*layer 4 'dense'" "$NN" predict nan.h5 "$IMG" --json
expect_error inf_predict_names_layers "inf\.h5: the weights hold 3 NaN or infinite values \(1 of the 896 in layer 1 'conv2d', 2 of the 3,936,384 in layer 4 'dense'\)" \
    "$NN" predict inf.h5 "$IMG"
expect_error nan_evaluate_refused "nan\.h5: .*NaN or infinite.*layer 4 'dense'" "$NN" evaluate nan.h5 --data syn/val --device cpu
"$NN" summary nan.h5 >sum.out 2>sum.err
rc=$?
why="status $rc, stdout $(wc -l <sum.out) lines, stderr: $(cat sum.err)"
check nan_summary_table_then_line_status_1 test $rc -eq 1 -a "$(grep -c . sum.err)" -eq 1
why="$(cat sum.out sum.err)"
check nan_summary_says_count has sum.err "nan\.h5: the weights hold 1 NaN or infinite value"
check nan_summary_prints_table has sum.out "^Total params: 3,937,409"
"$NN" summary m.h5 >sum2.out 2>&1
rc=$?
why="status $rc: $(cat sum2.out)"; check finite_summary_status_0 test $rc -eq 0
# finite weights that overflow in the pass: an error for the image, never "nan" in JSON
cp m.h5 ovf.h5 && poke ovf.h5 dense kernel overflow && poke ovf.h5 dense_1 kernel opposite
cp m.h5 ovf1.h5 && poke ovf1.h5 dense kernel overflow && poke ovf1.h5 dense_1 kernel opposite && poke ovf1.h5 dense_1 kernel 1 1
"$NN" predict ovf.h5 "$IMG" syn/val/horizontal/0001.png --json >ovf.json 2>ovf.err
rc=$?
why="status $rc: $(cat ovf.json ovf.err | head -c 600)"
check overflow_predict_status_1 test $rc -eq 1
check overflow_predict_json_valid_no_nan strict_json <ovf.json
check overflow_predict_json_errors $PY -c '
import json, sys
a = json.load(open("ovf.json"))
assert len(a) == 2 and all("NaN or infinite" in e["error"] for e in a), a'
# an infinite logit is an overflow too, not a confident 1.0000
expect_error overflow_inf_logit_refused "0002\.png: the model's output for this image is NaN or infinite" "$NN" predict ovf1.h5 "$IMG"
expect_error overflow_evaluate_refused "ovf\.h5: the loss on syn/val is (NaN|infinite)" "$NN" evaluate ovf.h5 --data syn/val --device cpu
"$NN" predict m.h5 "$IMG" syn/val/horizontal/0001.png --json >good.json 2>good.err
why="$(cat good.json good.err)"; check predict_json_valid strict_json <good.json

# --- row 2: --resume of a NaN model is refused at load
if grep -q setup_check_loaded "$ROOT/tools/cmd_train.c" 2>/dev/null; then
    expect_error nan_resume_refused "nan\.h5: the weights hold 1 NaN" \
        "$NN" train --resume nan.h5 --synthetic 64 --epochs 3 --device cpu --out resumed.h5
    why="$(cat err.out)"; check nan_resume_no_epoch_run test ! -e resumed.h5 -a "$(grep -c '^\[synthetic\] Epoch' err.out)" -eq 0
else
    skip nan_resume_refused "tools/cmd_train.c does not call setup_check_loaded on --resume's file yet (see tools/setup.h)"
fi

# --- row 3: a class with no image, or none readable
mkdir -p cls/empty/cats cls/empty/dogs cls/junk/cats cls/junk/dogs
cp syn/train/horizontal/00[0-9]*.png cls/empty/cats/ && cp syn/train/horizontal/00[0-9]*.png cls/junk/cats/
for i in 1 2 3; do echo "not an image" >cls/junk/dogs/$i.jpg; done
expect_error empty_class_train_refused "cls/empty/dogs: no images .*two-class model cannot learn" \
    "$NN" train --data cls/empty --epochs 1 --device cpu --out e.h5
why="e.h5 was written"; check empty_class_no_model test ! -e e.h5
"$NN" evaluate m.h5 --data cls/empty --device cpu >ev.out 2>ev.err
rc=$?
why="status $rc: $(cat ev.out ev.err)"
check empty_class_evaluate_warns test $rc -eq 0 -a "$(grep -c 'warning: cls/empty/dogs: no images' ev.err)" -eq 1
if grep -q setup_check_decoded "$ROOT/tools/cmd_train.c" "$ROOT/tools/train_data.c" 2>/dev/null; then   # the data: train_data.c
    "$NN" train --data cls/junk --epochs 1 --device cpu --out j.h5 >j.out 2>j.err
    rc=$?
    why="status $rc: $(cat j.err)"
    check unreadable_class_train_refused test $rc -eq 1 -a ! -e j.h5
    check unreadable_class_names_folder has j.err "^nn train: cls/junk/dogs: none of its 3 images could be read"
else
    skip unreadable_class_train_refused "tools/cmd_train.c does not call setup_check_decoded yet (see tools/setup.h)"
fi
"$NN" evaluate m.h5 --data cls/junk --device cpu >ev.out 2>ev.err
rc=$?
why="status $rc: $(cat ev.out ev.err)"
check unreadable_class_evaluate_warns test $rc -eq 0 -a "$(grep -c 'warning: cls/junk/dogs: none of its 3 images could be read' ev.err)" -eq 1

# --- row 4: a mid-epoch checkpoint and another --batch
if grep -q setup_resume_step "$ROOT/tools/cmd_train.c" 2>/dev/null; then
    # 1000 images at batch 32: 32 steps of about 50 ms on 2 cores; SIGINT after the first
    # checkpoint lands in mid-epoch (the step finishes, a checkpoint is saved, status 130)
    "$NN" train --synthetic 1000 --epochs 1 --batch 32 --device cpu --checkpoint-every 1 --out mid.h5 >mid.out 2>&1 &
    bg=$!
    for _ in $(seq 400); do [ -e mid.h5 ] && break; sleep 0.05; done
    kill -INT "$bg" 2>/dev/null; wait "$bg"; bg=""
    step=$(sed -n 's/.*Interrupted at epoch 1, step \([0-9]*\)\/32.*/\1/p' mid.out)
    if [ -z "$step" ]; then
        skip mid_epoch_resume "the run was not interrupted in mid-epoch: $(tail -2 mid.out)"
    else
        expect_error mid_epoch_other_batch_refused "mid\.h5 was saved mid-epoch \(epoch 1, step $step\) at batch 32; resume with --batch 32" \
            "$NN" train --resume mid.h5 --synthetic 1000 --epochs 1 --batch 16 --device cpu --out r16.h5
        "$NN" train --resume mid.h5 --synthetic 1000 --epochs 1 --batch 32 --device cpu --out r32.h5 >r32.out 2>&1
        rc=$?
        why="status $rc: $(grep -i resum r32.out)"
        check mid_epoch_same_batch_resumes test $rc -eq 0 -a "$(grep -c "Resuming mid.h5: epoch 1, step $step/32" r32.out)" -eq 1
        # r32.h5 ends at an epoch: another batch size may go on from it
        "$NN" train --resume r32.h5 --synthetic 1000 --epochs 2 --batch 16 --device cpu --out r2.h5 >r2.out 2>&1
        rc=$?
        why="status $rc: $(tail -2 r2.out)"
        check epoch_end_other_batch_resumes test $rc -eq 0 -a "$(grep -c 'Resuming r32.h5 after epoch 1' r2.out)" -eq 1
    fi
else
    skip mid_epoch_resume "tools/cmd_train.c does not call setup_resume_step yet (see tools/setup.h)"
fi

# --- row 5: control characters in names
ESC=$(printf '\033')
mkdir -p names
cp "$IMG" "names/a${ESC}[31mred.png"
cp "$IMG" "names/new
line.png"
cp "$IMG" "names/latin$(printf '\351').png"
"$NN" predict m.h5 names >names.out 2>names.err
rc=$?
why="status $rc: $(cat -v names.out names.err)"
check names_predict_three_lines test $rc -eq 0 -a "$(wc -l <names.out)" -eq 3
check names_predict_no_control_bytes $PY -c '
b = open("names.out", "rb").read()
assert not [c for c in b if (c < 0x20 and c != 0x0a) or c == 0x7f], b'
check names_predict_shown_as_question_mark has names.out '^names/a\?\[31mred\.png  '
"$NN" predict m.h5 "names/new
line.png" "names/a${ESC}[31mred.png" --json >names.json 2>&1
why="$(cat -v names.json)"
check names_json_exact $PY -c '
import json, sys
a = json.load(open("names.json"))
assert [e["path"] for e in a] == ["names/new\nline.png", "names/a\x1b[31mred.png"], a'
"$NN" predict m.h5 "names/latin$(printf '\351').png" --json >latin.json 2>&1
why="$(cat -v latin.json)"; check names_json_not_utf8_is_valid strict_json <latin.json
# a class name with an ESC, saved in the model: summary and predict show '?'
cp m.h5 esc.h5
$PY - esc.h5 <<'EOF'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs["nn_class_names"] = ["hori\x1b[2Jzontal", "vertical"]
EOF
"$NN" summary esc.h5 >esc.out 2>&1
why="$(cat -v esc.out)"; check class_name_summary_escaped has esc.out '^Classes: hori\?\[2Jzontal, vertical$'
"$NN" predict esc.h5 syn/val/horizontal/0001.png >escp.out 2>&1
why="$(cat -v escp.out)"; check class_name_predict_escaped has escp.out '^Prediction = hori\?\[2Jzontal$'

# --- row 6: a cfg with a UTF-8 byte order mark
printf '\357\273\277# saved by Notepad\ninput 8 8 3\nflatten\ndense units=1 activation=sigmoid\n' >bom.cfg
"$NN" summary bom.cfg >bom.out 2>&1
rc=$?
why="status $rc: $(cat -v bom.out)"; check cfg_bom_accepted test $rc -eq 0 -a "$(grep -c '^Total params: 193' bom.out)" -eq 1

# --- row 7: nn bench where models/catdog.cfg is not (this folder)
"$NN" bench --steps 1 --warmup 0 --batch 2 --threads 2 >bench.out 2>&1
rc=$?
why="status $rc: $(cat bench.out)"
check bench_builtin_model test $rc -eq 0 -a "$(grep -c "models/catdog.cfg is not here: timing the article's CNN built into nn" bench.out)" -eq 1
check bench_builtin_model_size has bench.out '^model built-in catdog\.cfg \(3937409 parameters\)'

# --- row 8: a batch larger than the data, under a 3 GB address-space limit (the unclipped
# batch asked for 32 GB of activations)
# (not under AddressSanitizer, whose shadow memory needs terabytes of address space)
limit="ulimit -v 3000000"
if nm "$NN" 2>/dev/null | grep -q __asan_init || ldd "$NN" 2>/dev/null | grep -q libasan; then limit=true; fi
(eval "$limit"; "$NN" evaluate m.h5 --data syn/val --batch 65536 --device cpu) >big.out 2>big.err
rc=$?
why="status $rc: $(cat big.out big.err | tail -3)"
check evaluate_batch_clipped test $rc -eq 0 -a "$(grep -c '^16 images - ' big.out)" -eq 1

# --- row 9: no GPU driver at all
"$NN" gpuinfo >gpu.out 2>&1
if grep -q "no NVIDIA driver is loaded\|built without CUDA\|without CUDA" gpu.out; then
    expect_error no_driver_plain_line "--device cuda: (no NVIDIA GPU driver found on this machine|this nn was built without CUDA)" \
        "$NN" train --synthetic 8 --epochs 1 --device cuda --out g.h5
    why="$(cat err.txt)"; check no_driver_not_insufficient test "$(grep -ci insufficient err.txt)" -eq 0
    "$NN" train --synthetic 8 --epochs 1 --batch 8 --device auto --out g.h5 >auto.out 2>&1
    why="$(grep 'Using' auto.out)"
    check no_driver_auto_says_cpu has auto.out "Using CPU: (no NVIDIA GPU driver found on this machine|this nn was built without CUDA)"
else
    skip no_driver_plain_line "this machine has an NVIDIA driver: $(head -1 gpu.out)"
fi

# --- row 10: plural class folders print the singular, as the article does
cp m.h5 cd.h5
$PY - cd.h5 <<'EOF'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs["nn_class_names"] = ["cats", "dogs"]
EOF
"$NN" predict cd.h5 "$IMG" >cd1.out 2>&1
why="$(cat cd1.out)"; check label_singular_text has cd1.out '^Prediction = (cat|dog)$'
"$NN" predict cd.h5 "$IMG" syn/val/horizontal/0001.png >cd2.out 2>&1
why="$(cat cd2.out)"; check label_singular_lines $PY -c '
import re
for l in open("cd2.out"): assert re.fullmatch(r"\S+  (cat|dog)  [01]\.\d{4}\n", l), l'
"$NN" predict cd.h5 "$IMG" --json >cdj.out 2>&1
why="$(cat cdj.out)"; check label_json_class_and_label $PY -c '
import json
e = json.load(open("cdj.out"))[0]
assert e["class"] in ("cats", "dogs") and e["label"] == e["class"][:-1], e'
"$NN" predict --help >help.out 2>&1
why="$(grep Prediction help.out)"; check label_help_singular has help.out '^  Prediction = dog$'
why="$(grep -n 'Prediction = dogs\|Prediction = cats' "$ROOT/README.md")"
check label_readme_singular test -z "$why"
# names that do not all read as plurals keep their s (bus, cars -> bus, cars)
cp m.h5 bus.h5
$PY - bus.h5 <<'EOF'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs["nn_class_names"] = ["bus", "cars"]
EOF
"$NN" predict bus.h5 "$IMG" >bus.out 2>&1
why="$(cat bus.out)"; check label_not_plural_kept has bus.out '^Prediction = (bus|cars)$'
