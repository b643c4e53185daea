#!/usr/bin/env bash
# test_cli.sh: end-to-end tests of `nn train`, `nn predict` and `nn evaluate` as a user runs
# them: the synthetic set (always) and a small copy of ../shared/data/catsdogs (SKIP when
# absent). Checks the printed lines, the saved .h5 (h5py), the CSV and the PNG, nn's predictions
# against an independent PyTorch oracle (tests/oracles/predict_torch.py), every error case
# (one clear line, a non-zero status, never a crash), that --resume after an interruption gives
# exactly the weights of an unbroken run, that SIGINT saves a loadable checkpoint and exits
# 130, and that kill -9 in the middle of saves never leaves a broken model behind.
# Run from the repository root: NN=bin/nn bash tests/test_cli.sh
set -u
NN=${NN:-bin/nn}
NN=$(cd "$(dirname "$NN")" && pwd)/$(basename "$NN")
ROOT_LIB=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
ROOT=$(pwd)
DATA=${NN_SHARED_DATA:-../shared/data}
CD=$(cd "$DATA/catsdogs" 2>/dev/null && pwd)
T=$(mktemp -d /tmp/test_cli.XXXXXX)
bg=""
cleanup() { [ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

. "$ROOT_LIB/lib.sh"   # pass, fail, skip, check, has, expect_error
# Compares every dataset of two .h5 files (weights and Adam state): max |a-b| <= tol.
same_weights() {
    $PY - "$1" "$2" "$3" <<'EOF'
import sys, h5py, numpy as np
def walk(g, p=""):
    out = {}
    for k in g:
        if isinstance(g[k], h5py.Dataset): out[p + k] = np.asarray(g[k][()], dtype=np.float64)
        else: out.update(walk(g[k], p + k + "/"))
    return out
a, b = walk(h5py.File(sys.argv[1], "r")), walk(h5py.File(sys.argv[2], "r"))
if sorted(a) != sorted(b): sys.exit("different datasets: %s vs %s" % (sorted(a), sorted(b)))
d = max(float(np.max(np.abs(a[k] - b[k]))) if a[k].size else 0.0 for k in a)
if d > float(sys.argv[3]): sys.exit("max difference %g" % d)
EOF
}
# The file opens with h5py, every dataset reads, and nn summary accepts it.
loads() {
    $PY - "$1" <<'EOF' 2>/dev/null && "$NN" summary "$1" >/dev/null 2>&1
import sys, h5py
def read(name, obj):
    if isinstance(obj, h5py.Dataset): obj[()]
h5py.File(sys.argv[1], "r").visititems(read)
EOF
}

# --- help
for c in train predict evaluate; do
    "$NN" $c --help >"$T/help" 2>&1
    rc=$?; why="status $rc"
    check "help_$c" test $rc -eq 0 -a -s "$T/help"
    why="no usage line"; check "help_${c}_usage" has "$T/help" "^usage: nn $c"
done

# --- the synthetic run (what the README's first command shows)
cd "$T"
"$NN" train --out syn.h5 --log syn.csv --write-synthetic syn >train.out 2>train.err
rc=$?
why="status $rc: $(tail -3 train.err)"; check synthetic_train test $rc -eq 0
why="some line lacks the [synthetic] label: $(grep -v '^\[synthetic\] ' train.out | head -2)"
check synthetic_every_line_labelled test -z "$(grep -v '^\[synthetic\] ' train.out)"
check synthetic_says_no_data has train.out "no --data given: training on a synthetic two-class set"
check synthetic_found_lines test "$(grep -c 'Found [0-9]* images belonging to 2 classes\.' train.out)" -eq 2
check synthetic_epoch_lines has train.out '^\[synthetic\] Epoch 5/5$'
check synthetic_epoch_metrics has train.out ' - loss: [0-9.]+ - accuracy: [0-9.]+ - val_loss: [0-9.]+ - val_accuracy: [0-9.]+ - [0-9]+ img/s$'
check synthetic_no_cr_when_piped test -z "$(tr -d '\n' <train.out | tr -cd '\r')"
check synthetic_saved_line has train.out "Model saved to syn.h5 \(epoch 5\)"
check synthetic_best_line has train.out "Best epoch: [1-5] by val_loss"
check synthetic_total_time has train.out "Total time: "
check synthetic_device_line has train.out "Using (CPU|GPU): "
acc=$(grep -oE 'val_accuracy: [0-9.]+' train.out | tail -1 | cut -d' ' -f2)
why="final val_accuracy $acc"; check synthetic_learns $PY -c "import sys; sys.exit(float('${acc:-0}') < 0.9)"

# CSV log: header, one row per epoch, numbers; its last val_loss is the printed one
why="$(head -2 syn.csv)"
check csv_header test "$(head -1 syn.csv)" = "epoch,loss,accuracy,val_loss,val_accuracy,images_per_s,seconds"
why="$(cat syn.csv)"
check csv_rows $PY - syn.csv <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5], rows
for r in rows:
    for k in ("loss", "accuracy", "val_loss", "val_accuracy", "images_per_s", "seconds"):
        float(r[k])
EOF
vl=$(grep -oE 'val_loss: [0-9.]+' train.out | tail -1 | cut -d' ' -f2)
why="csv $(tail -1 syn.csv) vs printed $vl"
check csv_matches_output $PY -c "import sys; sys.exit(abs(float('$(tail -1 syn.csv | cut -d, -f4)') - float('$vl')) > 6e-5)"

# PNG chart beside the model, 1000x420, with both curves' colours
why="$(ls -la syn.png 2>&1)"
check chart_png $PY - syn.png <<'EOF'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
assert im.size == (1000, 420), im.size
colours = set(im.getdata())
assert (31, 119, 180) in colours and (255, 127, 14) in colours, "training/validation colours missing"
EOF

# The .h5 file: Keras layout, classes, epochs; nn summary reads it
why="$($PY -c "import h5py; f=h5py.File('syn.h5'); print(list(f.attrs), list(f))" 2>&1)"
check h5_layout $PY - syn.h5 <<'EOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
for a in ("keras_version", "backend", "model_config", "training_config"):
    assert a in f.attrs, a
assert "model_weights" in f and "optimizer_weights" in f
EOF
"$NN" summary syn.h5 >sum.out 2>&1
why="$(cat sum.out)"; check summary_h5 has sum.out "Total params: 3,937,409"
check summary_h5_classes has sum.out "horizontal, vertical"

# --- predict: the article's two lines, several images, folders, --json; against the oracle
V=syn/val
"$NN" predict syn.h5 $V/vertical/0002.png >p1.out 2>p1.err
rc=$?
why="status $rc, $(cat p1.out p1.err)"
check predict_one test $rc -eq 0 -a "$(wc -l <p1.out)" -eq 2
check predict_one_format $PY - p1.out <<'EOF'
import re, sys
a, b = open(sys.argv[1]).read().splitlines()
assert re.fullmatch(r"Probability = 0\.\d{4}|Probability = 1\.0000", a), a
assert b in ("Prediction = vertical", "Prediction = horizontal"), b
EOF
imgs="$V/vertical/0002.png $V/horizontal/0001.png $V/vertical/0004.png $V/horizontal/0003.png"
"$NN" predict syn.h5 $imgs >pm.out 2>pm.err
rc=$?
why="status $rc: $(cat pm.out pm.err)"
check predict_several test $rc -eq 0 -a "$(wc -l <pm.out)" -eq 4
why="$(cat pm.out)"
check predict_several_format $PY - pm.out <<'EOF'
import re, sys
for line in open(sys.argv[1]):
    assert re.fullmatch(r"\S+  (horizontal|vertical)  [01]\.\d{4}\n", line), line
EOF
"$NN" predict syn.h5 $imgs --json >pj.out 2>pj.err
$PY "$ROOT/tests/oracles/predict_torch.py" syn.h5 $imgs >oracle.out 2>oracle.err
why="$(cat pj.out oracle.err | head -c 600)"
check predict_json_matches_torch $PY - pj.out oracle.out <<'EOF'
import json, sys
got = json.load(open(sys.argv[1]))
ref = dict(l.split("\t") for l in open(sys.argv[2]).read().splitlines())
assert len(got) == len(ref) == 4
for g in got:
    p = float(ref[g["path"]])
    assert abs(g["output"] - p) < 2e-5, (g, p)
    want = "vertical" if p > 0.5 else "horizontal"
    assert g["class"] == want and abs(g["probability"] - max(p, 1 - p)) < 2e-5, (g, p)
    assert g["class"] == g["path"].split("/")[-2], ("wrong class", g)
EOF
"$NN" predict syn.h5 $V >pf.out 2>pf.err
why="$(head -3 pf.out pf.err)"
check predict_folder test "$(wc -l <pf.out)" -eq "$(ls $V/*/*.png | wc -l)"

# --- evaluate: loss equals the training run's last val_loss; matrix adds up
"$NN" evaluate syn.h5 --data $V --device cpu >ev.out 2>ev.err
rc=$?
why="status $rc: $(cat ev.out ev.err)"
check evaluate_runs test $rc -eq 0
check evaluate_matrix $PY - ev.out "$vl" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
loss, acc = map(float, re.search(r"loss: ([\d.]+) - accuracy: ([\d.]+)", t).groups())
assert abs(loss - float(sys.argv[2])) < 2e-4, (loss, sys.argv[2])
rows = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(r"^\s+(horizontal|vertical)\s+(\d+)\s+(\d+)", t, re.M)}
assert set(rows) == {"horizontal", "vertical"}, t
n = sum(sum(r) for r in rows.values())
assert n == 100 and rows["horizontal"][0] + rows["vertical"][1] == round(acc * n), (rows, acc)
assert "rows: true class, columns: predicted" in t
EOF

# --- bad images among good ones: each reported, the others predicted, non-zero status
echo "not a jpeg" >bad.jpg
"$NN" predict syn.h5 $V/vertical/0002.png missing.png bad.jpg $V/horizontal/0001.png >pb.out 2>pb.err
rc=$?
why="status $rc; out: $(cat pb.out); err: $(cat pb.err)"
check predict_bad_images test $rc -eq 1 -a "$(wc -l <pb.out)" -eq 2 -a "$(grep -c . pb.err)" -eq 2
check predict_bad_images_named has pb.err "missing.png"
expect_error predict_missing_image "missing\.png" "$NN" predict syn.h5 missing.png
expect_error predict_corrupt_image "bad\.jpg" "$NN" predict syn.h5 bad.jpg

# --- corrupt, truncated and foreign model files
head -c 100000 syn.h5 >trunc.h5
head -c 4096 /dev/urandom >random.h5
cp syn.csv text.h5
for f in trunc random text; do
    expect_error "predict_${f}_model" "$f\.h5" "$NN" predict $f.h5 $V/vertical/0002.png
    expect_error "evaluate_${f}_model" "$f\.h5" "$NN" evaluate $f.h5 --data $V
    expect_error "resume_${f}_model" "$f\.h5" "$NN" train --resume $f.h5 --epochs 6
done
expect_error predict_missing_model "nope\.h5" "$NN" predict nope.h5 $V/vertical/0002.png

# --- architecture mismatches: name the layer and both shapes
sed 's/units=128/units=64/' "$ROOT/models/catdog.cfg" >small.cfg
expect_error resume_other_cfg "dense.*\(30752, 128\).*\(30752, 64\)" "$NN" train --resume syn.h5 --model small.cfg --epochs 6
sed 's/^input 64 64 3/input 64 64 1/' "$ROOT/models/catdog.cfg" >gray.cfg
expect_error train_gray_input "\(None, 64, 64, 1\).*RGB" "$NN" train --model gray.cfg --synthetic 16 --epochs 1
sed 's/units=1 activation=sigmoid/units=3 activation=sigmoid/' "$ROOT/models/catdog.cfg" >three.cfg
expect_error train_three_outputs "dense_1.*\(None, 3\).*\(None, 1\)" "$NN" train --model three.cfg --synthetic 16 --epochs 1

# --- data folder errors
mkdir -p one/cats && cp $V/vertical/0002.png one/cats/
mkdir -p three/a three/b three/c && for c in a b c; do cp $V/vertical/0002.png three/$c/; done
expect_error train_missing_data "nowhere.*no such folder" "$NN" train --data nowhere --epochs 1
expect_error train_one_class "one.*1 class folder" "$NN" train --data one --epochs 1
expect_error train_three_classes "three.*3 class folders" "$NN" train --data three --epochs 1
expect_error evaluate_missing_data "nowhere" "$NN" evaluate syn.h5 --data nowhere
expect_error evaluate_one_class "1 class folder" "$NN" evaluate syn.h5 --data one
expect_error train_out_folder_missing "nodir.*does not exist" "$NN" train --synthetic 16 --epochs 1 --out nodir/m.h5
expect_error train_bad_option "unknown option" "$NN" train --epoch 3
expect_error train_bad_value "--batch" "$NN" train --batch 0
expect_error train_save_best_no_val "--save-best needs" "$NN" train --data syn/train --save-best
expect_error train_resume_missing "--resume gone\.h5" "$NN" train --resume gone.h5

# --- --save-best: --out holds the best epoch, FILE.last.h5 the latest; validation is required
"$NN" train --synthetic 64 --epochs 3 --save-best --out best.h5 --log best.csv >best.out 2>&1
rc=$?
why="status $rc: $(tail -n 4 best.out)"
check save_best_runs test $rc -eq 0 -a -s best.h5 -a -s best.last.h5
check save_best_says has best.out "Epoch 1: val_loss is [0-9.]+, saving model to best\.h5"
bestep=$($PY -c "
import csv; r = list(csv.DictReader(open('best.csv')))
print(min(r, key=lambda x: float(x['val_loss']))['epoch'])")
"$NN" summary best.h5 >bs.out 2>&1
"$NN" summary best.last.h5 >bl.out 2>&1
why="best epoch by the CSV $bestep; $(grep -i epoch bs.out bl.out)"
check save_best_keeps_best_epoch test -n "$(grep -E "Epochs trained: $bestep\$" bs.out)" -a -n "$(grep -E 'Epochs trained: 3$' bl.out)"
expect_error train_val_other_classes "--val three.*differ" "$NN" train --data syn/train --val three --epochs 1

# --- --resume: 2 epochs straight == 1 epoch, then resume to 2 (weights and Adam state)
S="--synthetic 96 --batch 16 --seed 7"
"$NN" train $S --epochs 2 --out straight.h5 --log straight.csv >/dev/null 2>r1.err
"$NN" train $S --epochs 1 --out split.h5 --log split.csv >/dev/null 2>r2.err
"$NN" train $S --epochs 2 --resume split.h5 --out split.h5 --log split.csv >resume.out 2>r3.err
why="$(cat r1.err r2.err r3.err | head -5) $(same_weights straight.h5 split.h5 0 2>&1)"
check resume_same_weights same_weights straight.h5 split.h5 0
why="$(cat straight.csv split.csv)"
check resume_same_log test "$(cut -d, -f1-5 straight.csv)" = "$(cut -d, -f1-5 split.csv)"
check resume_says_so has resume.out "Resuming split.h5 after epoch 1"

# --- SIGINT mid-epoch: exit 130, a checkpoint that loads; resuming it ends on the unbroken
# run's weights (the loader redraws the skipped batches, Adam's step count places the step)
S="--synthetic 384 --batch 8 --seed 11 --epochs 3"
"$NN" train $S --out full.h5 >/dev/null 2>&1
"$NN" train $S --out int.h5 >int.out 2>int.err &
bg=$!
for _ in $(seq 3000); do grep -q "Epoch 2/3" int.out 2>/dev/null && break; sleep 0.02; done
kill -INT $bg
wait $bg
rc=$?
bg=""
why="status $rc: $(tail -n 3 int.out int.err)"
check sigint_exit_130 test $rc -eq 130
check sigint_says_where has int.out "checkpoint saved to int\.h5"
why="int.h5 does not load"; check sigint_checkpoint_loads loads int.h5
"$NN" train $S --out int.h5 --resume int.h5 >int2.out 2>&1
why="$(grep -i resum int2.out) $(same_weights full.h5 int.h5 0 2>&1)"
check sigint_resume_same_weights same_weights full.h5 int.h5 0

# --- kill -9 during saves: the file on disk is always a whole model (old or new)
cp syn.h5 crash.h5
ok=1
for i in 1 2 3 4 5; do
    "$NN" train --synthetic 64 --batch 8 --epochs 100 --checkpoint-every 1 --out crash.h5 >/dev/null 2>&1 &
    bg=$!
    sleep "0.$((RANDOM % 9 + 3))"
    kill -9 $bg 2>/dev/null
    wait $bg 2>/dev/null
    bg=""
    if ! loads crash.h5; then ok=0; why="crash.h5 broken after kill -9 number $i"; break; fi
done
check kill9_during_save_keeps_model test $ok -eq 1
"$NN" predict crash.h5 $V/vertical/0002.png >/dev/null 2>&1
why="predict on the survivor failed"; check kill9_model_predicts test $? -eq 0

# --- a terminal gets the bar redrawn in place
if command -v script >/dev/null; then
    script -qec "$NN train --synthetic 64 --epochs 1 --out tty.h5" /dev/null >tty.out 2>&1
    why="$(head -c 300 tty.out)"
    check tty_progress_bar has tty.out $'\r\\[synthetic\\] +[0-9]+/[0-9]+ \\[[=>.]+\\] - ETA: '
else
    skip tty_progress_bar "the 'script' command is missing"
fi

# --- real photos: a small copy of catsdogs (never the whole set, never committed)
if [ -z "$CD" ] || [ ! -d "$CD/training_set/cats" ]; then
    skip catsdogs "no photos at $DATA/catsdogs (set NN_SHARED_DATA)"
else
    for c in cats dogs; do
        mkdir -p cd/train/$c cd/val/$c
        ls "$CD/training_set/$c" | sort | head -100 | while read -r f; do cp "$CD/training_set/$c/$f" cd/train/$c/; done
        ls "$CD/test_set/$c" | sort | head -30 | while read -r f; do cp "$CD/test_set/$c/$f" cd/val/$c/; done
    done
    "$NN" train --data cd/train --val cd/val --epochs 2 --out cd.h5 --log cd.csv >cd.out 2>cd.err
    rc=$?
    why="status $rc: $(tail -3 cd.err)"; check catsdogs_train test $rc -eq 0
    why="$(grep Found cd.out)"
    check catsdogs_found test "$(grep -c 'Found 200 images belonging to 2 classes.' cd.out)" -eq 1 \
        -a "$(grep -c 'Found 60 images belonging to 2 classes.' cd.out)" -eq 1
    why="$(grep -c . cd.csv) lines"; check catsdogs_csv test "$(grep -c . cd.csv)" -eq 3
    why="$(ls -la cd.png 2>&1)"; check catsdogs_png test -s cd.png
    cat1=$(ls cd/val/cats/* | head -1)
    "$NN" predict cd.h5 "$cat1" >cdp.out 2>&1
    why="$(cat cdp.out)"; check catsdogs_predict has cdp.out "^Prediction = (cat|dog)$"
    "$NN" predict cd.h5 $(ls cd/val/*/* | head -6) --json >cdj.out 2>&1
    $PY "$ROOT/tests/oracles/predict_torch.py" cd.h5 $(ls cd/val/*/* | head -6) >cdo.out 2>&1
    why="$(head -c 400 cdj.out cdo.out)"
    # Looser than on the PNGs above: stb_image and PIL's libjpeg decode JPEGs with different
    # IDCT and chroma upsampling, so a few pixel levels differ before the network sees them.
    check catsdogs_predict_matches_torch $PY - cdj.out cdo.out <<'EOF'
import json, sys
got = json.load(open(sys.argv[1]))
ref = dict(l.split("\t") for l in open(sys.argv[2]).read().splitlines())
assert len(got) == 6
for g in got:
    assert abs(g["output"] - float(ref[g["path"]])) < 3e-3, (g, ref[g["path"]])
EOF
    "$NN" evaluate cd.h5 --data cd/val --device cpu >cde.out 2>&1
    vl=$(tail -1 cd.csv | cut -d, -f4)
    why="$(cat cde.out) vs val_loss $vl"
    check catsdogs_evaluate $PY -c "
import re, sys; t = open('cde.out').read()
loss = float(re.search(r'loss: ([\d.]+)', t).group(1))
sys.exit(not (abs(loss - $vl) < 2e-4 and re.search(r'^\s+cats\s+\d+\s+\d+', t, re.M) and re.search(r'^\s+dogs\s+\d+\s+\d+', t, re.M)))"
    "$NN" train --data cd/train --val-split 0.2 --epochs 1 --no-augment --out split2.h5 >cds.out 2>&1
    why="$(grep Found cds.out)"
    check catsdogs_val_split test "$(grep -c 'Found 160 images' cds.out)" -eq 1 -a "$(grep -c 'Found 40 images' cds.out)" -eq 1
    # --cache: the second run reads the decoded images back and trains on the same numbers
    "$NN" train --data cd/train --epochs 1 --batch 64 --cache cd.cache --out c1.h5 --log c1.csv >c1.out 2>&1
    "$NN" train --data cd/train --epochs 1 --batch 64 --cache cd.cache --out c2.h5 --log c2.csv >c2.out 2>&1
    why="$(ls -la cd.cache* 2>&1) $(cut -d, -f1-3 c1.csv c2.csv | tr '\n' ' ')"
    check catsdogs_cache_used test -z "$(grep 'read from cd.cache' c1.out)" -a -n "$(grep 'read from cd.cache' c2.out)"
    check catsdogs_cache test -s cd.cache -a -n "$(tail -1 c1.csv)" \
        -a "$(tail -1 c1.csv | cut -d, -f1-3)" = "$(tail -1 c2.csv | cut -d, -f1-3)"
    mkdir -p wrong/cats wrong/birds && cp "$cat1" wrong/cats/ && cp "$cat1" wrong/birds/
    expect_error catsdogs_resume_other_classes "\(cats, dogs\).*\(birds, cats\)" "$NN" train --data wrong --resume cd.h5 --epochs 3
fi
cd "$ROOT"
