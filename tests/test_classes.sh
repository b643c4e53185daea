#!/usr/bin/env bash
# test_classes.sh: more than two classes, end to end, as a user runs it (the C path, seconds):
#  - nn train of a model ending in `dense units=3 activation=softmax` on the synthetic
#    three-class set (no --data: stripes diagonal, horizontal, vertical), written out as folders
#    with --write-synthetic: Keras's lines say 3 classes, the log and the history's accuracy is
#    the categorical one, the .h5 holds the three class names (sorted, as the folders) and
#    Keras's training_config says categorical_crossentropy; the run learns (val_accuracy over
#    chance); --resume after 4 of 5 epochs gives the weights of the unbroken 5-epoch run;
#  - nn evaluate on the written folder: the 3 x 3 confusion matrix, labelled by the class names,
#    sums to the image count, its rows to each folder's images, and its loss and accuracy are the
#    last epoch's val_loss and val_accuracy;
#  - nn predict: one image with --top 3 (three classes, best first, probabilities summing to 1,
#    the first the printed prediction), several with --top 2, --json (the softmax in class
#    order, "top" ranked, valid JSON with no NaN); a binary model with --top 2; --top out of range;
#  - wrong class counts: a softmax-3 model on a two- or four-class folder, a --val with other
#    classes, a softmax over 17 classes (nn keeps 16 names), a softmax over one output.
# Run from the repository root: NN=bin/nn bash tests/test_classes.sh
set -u
NN=${NN:-bin/nn}
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
test_begin test_classes

cat >three.cfg <<'EOF'
input 32 32 3
conv2d filters=8 kernel=3 activation=relu
maxpool2d pool=2
flatten
dense units=32 activation=relu
dense units=3 activation=softmax
EOF

# --- training on the synthetic three-class set
"$NN" train --model three.cfg --synthetic 300 --epochs 5 --device cpu --out m3.h5 --log m3.csv \
    --write-synthetic syn >train.out 2>train.err
rc=$?
why="status $rc: $(tail -3 train.err)"; check train_softmax3 test $rc -eq 0 -a -s m3.h5
check train_says_three_classes has train.out "no --data given: training on a synthetic 3-class set"
check train_found_three test "$(grep -c 'Found [0-9]* images belonging to 3 classes\.' train.out)" -eq 2
check train_epoch_metrics has train.out 'Epoch 5/5'
why="$(head -2 m3.csv)"; check train_log_header has m3.csv '^epoch,loss,accuracy,val_loss,val_accuracy'
why="$(tail -1 m3.csv)"
check train_learns $PY -c "
import csv, sys
rows = list(csv.DictReader(open('m3.csv')))
# chance is 1/3 and log(3) = 1.0986; about 0.67 and 0.76 here (2026-11-26)
sys.exit(0 if len(rows) == 5 and float(rows[-1]['val_accuracy']) > 0.5 and float(rows[-1]['val_loss']) < 0.95 else 1)"
why="class folders: $(ls syn/train | tr '\n' ' ')"
check synthetic_folders test "$(ls syn/train | tr '\n' ' ')" = "diagonal horizontal vertical "
$PY - m3.h5 >h5.out 2>&1 <<'EOF'
import json, sys, h5py
f = h5py.File(sys.argv[1], "r")
names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["nn_class_names"]]
tc = json.loads(f.attrs["training_config"])
assert names == ["diagonal", "horizontal", "vertical"], names
assert tc["loss"] == "categorical_crossentropy" and tc["metrics"] == ["accuracy"], tc
mc = json.loads(f.attrs["model_config"])
last = mc["config"]["layers"][-1]["config"]
assert last["units"] == 3 and last["activation"] == "softmax", last
EOF
why="$(cat h5.out)"; check h5_classes_and_loss test $? -eq 0

# --resume: 4 epochs, then the fifth from the file, against the 5-epoch run above
"$NN" train --model three.cfg --synthetic 300 --epochs 4 --device cpu --out r.h5 >r1.out 2>&1 &&
    "$NN" train --resume r.h5 --synthetic 300 --epochs 5 --device cpu --out r.h5 >r2.out 2>&1
rc=$?
why="status $rc: $(tail -2 r2.out)"; check resume_runs test $rc -eq 0
check resume_says has r2.out "Resuming r.h5 after epoch 4"
$PY "$ROOT/tests/h5_same.py" m3.h5 r.h5 >same.out 2>&1
why="$(cat same.out)"; check resume_same_weights test $? -eq 0

# --- evaluate: the 3 x 3 confusion matrix
"$NN" evaluate m3.h5 --data syn/val --device cpu >ev.out 2>ev.err
rc=$?
why="status $rc: $(cat ev.err)"; check evaluate_runs test $rc -eq 0 -a ! -s ev.err
why="$(cat ev.out)"
check evaluate_header has ev.out '^ +diagonal +horizontal +vertical$'
$PY - ev.out syn/val train.out >cm.out 2>&1 <<'EOF'
import os, re, sys
lines = open(sys.argv[1]).read().splitlines()
n = int(re.search(r"Found (\d+) images belonging to 3 classes", "\n".join(lines)).group(1))
rows = {}
for l in lines:
    m = re.match(r"^  (\w+) +(\d+) +(\d+) +(\d+)   \(", l)
    if m: rows[m.group(1)] = [int(m.group(k)) for k in (2, 3, 4)]
assert sorted(rows) == ["diagonal", "horizontal", "vertical"], rows
assert sum(map(sum, rows.values())) == n, (rows, n)
for c, r in rows.items():
    assert sum(r) == len(os.listdir(os.path.join(sys.argv[2], c))), (c, r)
# loss and accuracy: the last epoch's validation figures (the same images, the same pass)
res = re.search(r"loss: ([0-9.]+) - accuracy: ([0-9.]+)", "\n".join(lines)).groups()
last = [l for l in open(sys.argv[3]).read().replace("\r", "\n").splitlines() if "val_loss" in l][-1]
val = re.search(r"val_loss: ([0-9.]+) - val_accuracy: ([0-9.]+)", last).groups()
assert res == val, (res, val)
acc = sum(rows[c][k] for k, c in enumerate(["diagonal", "horizontal", "vertical"])) / n
assert abs(acc - float(res[1])) < 6e-5, (acc, res)
EOF
why="$(cat cm.out)"; check evaluate_confusion_sums test $? -eq 0

# --- predict
IMG=syn/val/diagonal/0001.png
"$NN" predict m3.h5 "$IMG" >p1.out 2>&1
why="$(cat p1.out)"
check predict_one_line_pair test "$(grep -cE '^Probability = [0-9.]+$|^Prediction = (diagonal|horizontal|vertical)$' p1.out)" -eq 2 -a "$(wc -l <p1.out)" -eq 2
"$NN" predict m3.h5 "$IMG" --top 3 >p3.out 2>&1
why="$(cat p3.out)"
$PY - p3.out >top.out 2>&1 <<'EOF'
import re, sys
t = open(sys.argv[1]).read().splitlines()
assert t[0].startswith("Probability = ") and t[1].startswith("Prediction = ") and t[2] == "Top 3:", t
top = [l.split() for l in t[3:]]
assert len(top) == 3 and sorted(c for c, _ in top) == ["diagonal", "horizontal", "vertical"], top
p = [float(x) for _, x in top]
assert p == sorted(p, reverse=True) and abs(sum(p) - 1) < 2e-4, p
assert top[0][0] == t[1].split(" = ")[1] and top[0][1] == t[0].split(" = ")[1], (t, top)
EOF
why="$(cat top.out) / $(cat p3.out)"; check predict_top3 test $? -eq 0
"$NN" predict m3.h5 syn/val/horizontal --top 2 >p4.out 2>&1
why="$(head -3 p4.out)"
check predict_folder_top2 test "$(grep -cE '^syn/val/horizontal/[0-9]+\.png  [a-z]+  [0-9.]+  [a-z]+  [0-9.]+$' p4.out)" -eq "$(ls syn/val/horizontal | wc -l)"
"$NN" predict m3.h5 syn/val --json >pj.out 2>pj.err
$PY - pj.out >json.out 2>&1 <<'EOF'
import json, sys
def bad(c): raise ValueError("non-finite number %s" % c)
a = json.load(open(sys.argv[1]), parse_constant=bad)
classes = ["diagonal", "horizontal", "vertical"]
for o in a:
    assert len(o["output"]) == 3 and abs(sum(o["output"]) - 1) < 1e-5, o
    assert [t["class"] for t in o["top"]] == sorted(classes, key=lambda c: -o["output"][classes.index(c)]), o
    assert o["class"] == o["top"][0]["class"] == o["label"] and o["probability"] == max(o["output"]), o
    assert all(abs(t["probability"] - o["output"][classes.index(t["class"])]) < 1e-6 for t in o["top"]), o
print(len(a))
EOF
why="$(cat json.out pj.err)"; check predict_json_softmax test $? -eq 0 -a "$(tail -1 json.out)" = "$(find syn/val -name '*.png' | wc -l)"
expect_error predict_top_too_many "--top 4: m3\.h5 tells 3 classes apart" "$NN" predict m3.h5 "$IMG" --top 4
expect_error predict_top_zero "--top '0' is not an integer from 1 to 16" "$NN" predict m3.h5 "$IMG" --top 0

# a binary model: --top 2 adds the ranking, --top 3 is refused, and without --top nothing changes
"$NN" train --synthetic 32 --epochs 1 --device cpu --out m2.h5 --write-synthetic syn2 >t2.out 2>&1 ||
    fail binary_setup "$(tail -2 t2.out)"
"$NN" predict m2.h5 syn2/val/vertical/0002.png >b1.out 2>&1
"$NN" predict m2.h5 syn2/val/vertical/0002.png --top 2 >b2.out 2>&1
why="$(cat b1.out b2.out)"
check predict_binary_top2 test "$(head -2 b2.out)" = "$(cat b1.out)" -a "$(sed -n 3p b2.out)" = "Top 2:" -a "$(wc -l <b2.out)" -eq 5
"$NN" predict m2.h5 syn2/val/vertical/0002.png --json >bj.out 2>&1
why="$(cat bj.out)"; check predict_binary_json_unchanged test "$(grep -c '"top"' bj.out)" -eq 0
expect_error predict_binary_top3 "--top 3: m2\.h5 tells 2 classes apart" "$NN" predict m2.h5 syn2/val/vertical/0002.png --top 3

# --- wrong class counts, named with the folder, its classes and the model's N
expect_error train_two_folders_for_three "syn2/train: 2 classes \(horizontal, vertical\), but the model needs exactly 3" \
    "$NN" train --model three.cfg --data syn2/train --epochs 1 --device cpu --out x.h5
expect_error evaluate_two_folders_for_three "syn2/val: 2 classes \(horizontal, vertical\), but the model needs exactly 3" \
    "$NN" evaluate m3.h5 --data syn2/val --device cpu
mkdir -p four && cp -r syn/val/* four/ && mkdir four/zigzag && cp "$IMG" four/zigzag/
expect_error train_four_folders_for_three "four: 4 classes \(diagonal, horizontal, vertical, zigzag\), but the model needs exactly 3" \
    "$NN" train --model three.cfg --data four --epochs 1 --device cpu --out x.h5
mkdir -p otherval/a otherval/b otherval/c && for c in a b c; do cp "$IMG" otherval/$c/; done
expect_error train_val_other_classes "--val otherval: its class folders \(a, b, c\) differ from --data's \(diagonal, horizontal, vertical\)" \
    "$NN" train --model three.cfg --data syn/train --val otherval --epochs 1 --device cpu --out x.h5
sed 's/units=3 activation=softmax/units=17 activation=softmax/' three.cfg >c17.cfg
expect_error train_softmax17 "c17\.cfg: the last layer 'dense_1' is a softmax over 17 outputs, but nn classifies into at most 16" \
    "$NN" train --model c17.cfg --data four --epochs 1 --device cpu --out x.h5
sed 's/units=3 activation=softmax/units=1 activation=softmax/' three.cfg >c1.cfg
expect_error train_softmax1 "c1\.cfg: the last layer 'dense_1' is a softmax over one output" \
    "$NN" train --model c1.cfg --synthetic 16 --epochs 1 --device cpu --out x.h5
sed 's/units=3 activation=softmax/units=5 activation=softmax/' three.cfg >c5.cfg
expect_error train_synthetic_five "c5\.cfg: a softmax over 5 classes, but the synthetic set has 2 or 3" \
    "$NN" train --model c5.cfg --epochs 1 --device cpu --out x.h5
why="x.h5 was written"; check wrong_counts_write_nothing test ! -e x.h5
