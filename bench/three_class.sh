#!/usr/bin/env bash
# three_class.sh: more than two classes, end to end, on the shared photos. Builds a three-class
# folder from ../shared/data/catsdogs (cats; dogs; upside_down: other cat and dog photos turned
# upside down by bench/flip_images.c, nn's decoder and a quality-95 JPEG as the photos were
# stored), trains the article's CNN with a softmax over the three classes in place of its sigmoid
# unit, evaluates it on the held-out folder (loss, accuracy, the 3 x 3 confusion matrix) and
# predicts a few photos with --top 3.
#   training: cats 1..PER and dogs 1..PER of training_set (linked, never copied), upside_down
#             PER/2 further cats and PER/2 further dogs, flipped;
#   test:     the same from test_set with TEST per class.
# Everything goes under WORK (default build/three_class, ignored by git).
# Usage: make bench-three-class, or NN=bin/nn FLIP=build/bench/flip_images bash bench/three_class.sh
#        env: PER (1000), TEST (500), EPOCHS (10), DEVICE (auto), SEED (1), WORK
set -eu
NN=${NN:-bin/nn}
FLIP=${FLIP:-build/bench/flip_images}
SRC=${NN_SHARED_DATA:-../shared/data}/catsdogs
PER=${PER:-1000} TEST=${TEST:-500} EPOCHS=${EPOCHS:-10} DEVICE=${DEVICE:-auto} SEED=${SEED:-1}
WORK=${WORK:-build/three_class}
if [ ! -d "$SRC/training_set/cats" ]; then
    echo "three_class: $SRC not found (the shared photos): nothing to do" >&2
    exit 1
fi
[ -x "$FLIP" ] || make -s "$FLIP"
[ "$PER" -le 2666 ] && [ "$TEST" -le 666 ] || { echo "three_class: PER <= 2666 and TEST <= 666 (the photos run out)" >&2; exit 2; }

# make_split SRC_SPLIT DEST N: DEST/{cats,dogs} link the first N of each class (the class's own
# numbering order), DEST/upside_down holds the next N/2 of each flipped.
make_split() {
    local from=$1 to=$2 n=$3 half=$(($3 / 2))
    rm -rf "$to"
    mkdir -p "$to/cats" "$to/dogs" "$to/upside_down"
    for c in cats dogs; do
        ls "$from/$c" | sort -t. -k2,2n >"$WORK/list.$c"
        head -n "$n" "$WORK/list.$c" | while read -r f; do ln -s "$(cd "$from/$c" && pwd)/$f" "$to/$c/$f"; done
        sed -n "$((n + 1)),$((n + half))p" "$WORK/list.$c" | sed "s|^|$from/$c/|" | xargs "$FLIP" "$to/upside_down"
    done
}
mkdir -p "$WORK"
make_split "$SRC/training_set" "$WORK/train" "$PER"
make_split "$SRC/test_set" "$WORK/test" "$TEST"
echo "== folders: $(for d in train test; do for c in cats dogs upside_down; do printf '%s/%s %s  ' $d $c "$(ls "$WORK/$d/$c" | wc -l)"; done; done)"

sed 's/^dense units=1 activation=sigmoid$/dense units=3 activation=softmax/' models/catdog.cfg >"$WORK/catdog_3class.cfg"
grep -q 'units=3 activation=softmax' "$WORK/catdog_3class.cfg" || { echo "three_class: models/catdog.cfg has no 'dense units=1 activation=sigmoid' line to replace" >&2; exit 1; }
echo "== model: models/catdog.cfg with its last layer 'dense units=3 activation=softmax'"
echo "== $NN train --model $WORK/catdog_3class.cfg --data $WORK/train --val $WORK/test --epochs $EPOCHS --device $DEVICE --seed $SEED"
"$NN" train --model "$WORK/catdog_3class.cfg" --data "$WORK/train" --val "$WORK/test" --epochs "$EPOCHS" \
    --device "$DEVICE" --seed "$SEED" --out "$WORK/three.h5" --log "$WORK/three.csv" | tr '\r' '\n' | grep -vE '^ *[0-9]+/[0-9]+ (- |\[[^]]*\] - ETA)'
echo "== $NN evaluate $WORK/three.h5 --data $WORK/test"
"$NN" evaluate "$WORK/three.h5" --data "$WORK/test" --device "$DEVICE"
for f in "$WORK/test/cats/$(ls "$WORK/test/cats" | head -1)" "$WORK/test/upside_down/$(ls "$WORK/test/upside_down" | head -1)"; do
    echo "== $NN predict $f --top 3"
    "$NN" predict "$WORK/three.h5" "$f" --top 3
done
echo "== $NN predict (the test folder, counted by predicted class per true class)"
"$NN" predict "$WORK/three.h5" "$WORK/test" | awk '{k = split($1, p, "/"); n[p[k - 1] " -> " $2]++} END {for (k in n) print "  " k ": " n[k]}' | sort
