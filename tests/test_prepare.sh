#!/usr/bin/env bash
# test_prepare.sh: `nn prepare` on a generated Kaggle-style flat folder (cat.N.jpg, dog.N.jpg as
# small real JPEGs): the split equals the documented rule (tests/oracles/prepare_split.py computes
# it independently), is deterministic, leaves the source exactly as it was, uses hard links
# (same inode) or copies when asked or across filesystems, refuses what it must (unlabelled
# names, missing SRC, an existing set without --force, a --force run that would mix the sets, a
# DST inside SRC or under a file), and its output is what `nn train --data` reads.
# Run from the repository root; prints PASS/FAIL/SKIP lines for tests/run.sh.
set -u
NN=${NN:-bin/nn}
PY=/usr/bin/python3
ORACLE=tests/oracles/prepare_split.py
tmp=$(mktemp -d)
trap "rm -rf \"$tmp\"" EXIT

pass() { echo "PASS prepare_$1"; }
fail() { echo "FAIL prepare_$1: $2"; }
skip() { echo "SKIP prepare_$1: $2"; }
# check NAME CONDITION-STATUS WHY: PASS when the previous test command succeeded.
check() { if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi; }

if [ ! -x "$NN" ]; then echo "FAIL prepare_setup: $NN not built"; exit 1; fi

# --- the source: 30 cats and 25 dogs (numbers 0..N-1, so that 10 sorts after 9 by number and
# before it by name), one other file and one subfolder that must be ignored.
src=$tmp/train
mkdir -p "$src/extra"
if ! $PY - "$src" <<'EOF'; then echo "FAIL prepare_setup: cannot make the images"; exit 1; fi
import random, sys
from PIL import Image
random.seed(5)
for label, n in (("cat", 30), ("dog", 25)):
    for i in range(n):
        img = Image.new("RGB", (24, 20), tuple(random.randrange(256) for _ in range(3)))
        img.putpixel((i % 24, i % 20), (255 - i, i, 7))   # every file differs
        img.save("%s/%s.%d.jpg" % (sys.argv[1], label, i), quality=90)
open(sys.argv[1] + "/readme.txt", "w").write("not an image\n")
EOF
# What the source looks like, to compare after every run: names, sizes, modes, times, contents.
snapshot() { (cd "$1" && find . -printf '%p %y %s %m %T@\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
snapshot "$src" >"$tmp/src.before"
listing() { (cd "$1" && find . -type f | sed 's|^\./||' | sort); }
count() { find "$1" -maxdepth 1 -type f | wc -l; }

# --- the split follows the documented rule, with the counts per class and set
out=$tmp/out1
$NN prepare "$src" "$out" --seed 7 --test-split 0.2 >"$tmp/log1" 2>"$tmp/err1"
rc=$?
$PY "$ORACLE" "$src" 7 0.2 >"$tmp/expect7"
if [ $rc -ne 0 ]; then
    fail split_rule "exit status $rc: $(cat "$tmp/err1")"
else
    listing "$out" >"$tmp/got7"
    diff -q "$tmp/expect7" "$tmp/got7" >/dev/null
    check split_rule $? "DST differs from the oracle's split: $(diff "$tmp/expect7" "$tmp/got7" | head -5 | tr '\n' ' ')"
fi
ok=0
for set in training_set test_set; do
    for cls in cats dogs; do
        want=$(grep -c "^$set/$cls/" "$tmp/expect7")
        got=$(count "$out/$set/$cls" 2>/dev/null || echo missing)
        [ "$want" = "$got" ] || { ok=1; why="$set/$cls has $got files, the rule gives $want"; }
    done
done
# The rule's counts: round(30 * 0.2) = 6 and round(25 * 0.2) = 5 (5.0) to test_set.
[ "$(grep -c '^test_set/cats/' "$tmp/expect7")" = 6 ] && [ "$(grep -c '^test_set/dogs/' "$tmp/expect7")" = 5 ] ||
    { ok=1; why="oracle counts are not round(n*0.2)"; }
check split_counts $ok "${why:-}"
grep -Eq '^ +cats +24 +6$' "$tmp/log1" && grep -Eq '^ +dogs +20 +5$' "$tmp/log1" && grep -Eq '^ +total +44 +11$' "$tmp/log1" &&
    grep -q '2 other entries ignored' "$tmp/log1"
check summary $? "the summary does not show the counts per class and set: $(tr '\n' '|' <"$tmp/log1")"

# --- determinism: same seed, same split; another seed, another split; default seed documented
$NN prepare "$src" "$tmp/out2" --seed 7 --test-split 0.2 >/dev/null 2>&1 && listing "$tmp/out2" | diff -q - "$tmp/got7" >/dev/null
check same_seed_same_split $? "a second run with --seed 7 made another split"
$NN prepare "$src" "$tmp/out3" --seed 8 --test-split 0.2 >/dev/null 2>&1
listing "$tmp/out3" >"$tmp/got8"
$PY "$ORACLE" "$src" 8 0.2 | diff -q - "$tmp/got8" >/dev/null && ! diff -q "$tmp/got7" "$tmp/got8" >/dev/null
check other_seed_other_split $? "--seed 8 did not give the oracle's split, or gave the same split as --seed 7"
$NN prepare "$src" "$tmp/out4" >"$tmp/log4" 2>&1 && $PY "$ORACLE" "$src" 1 0.2 | diff -q - <(listing "$tmp/out4") >/dev/null &&
    grep -q -- '--test-split 0.2 --seed 1' "$tmp/log4"
check defaults $? "without options the split is not --test-split 0.2 --seed 1 (as --help says)"

# --- hard links: each file in DST is the source file itself (same inode), and the source's
# link count rose by one per prepared set (out1..out4), nothing else about it changed.
ok=0
while read -r rel; do
    name=${rel##*/}
    [ "$(stat -c %i "$out/$rel")" = "$(stat -c %i "$src/$name")" ] || { ok=1; why="$rel is not a hard link to $src/$name"; break; }
    [ "$(stat -c %h "$src/$name")" = 5 ] || { ok=1; why="$src/$name has $(stat -c %h "$src/$name") links, expected 5"; break; }
done <"$tmp/got7"
[ $ok -eq 0 ] && grep -q '55 hard links, 0 copies' "$tmp/log1"
check hard_links $? "${why:-the summary does not say 55 hard links}"

# --- --copy: other inodes, same bytes and modification time
$NN prepare "$src" "$tmp/copy" --seed 7 --copy >"$tmp/logc" 2>&1
ok=$?; why="exit status $ok"
while [ $ok -eq 0 ] && read -r rel; do
    name=${rel##*/}
    if [ "$(stat -c %i "$tmp/copy/$rel")" = "$(stat -c %i "$src/$name")" ]; then ok=1; why="$rel is a link, not a copy"
    elif ! cmp -s "$tmp/copy/$rel" "$src/$name"; then ok=1; why="$rel differs from the source"
    elif [ "$(stat -c %Y "$tmp/copy/$rel")" != "$(stat -c %Y "$src/$name")" ]; then ok=1; why="$rel lost the source's mtime"; fi
done <"$tmp/got7"
[ $ok -eq 0 ] && listing "$tmp/copy" | diff -q - "$tmp/got7" >/dev/null && grep -q '0 hard links, 55 copies' "$tmp/logc" &&
    [ -z "$(find "$tmp/copy" -name '*.partial')" ] || { ok=1; why=${why:-"wrong layout, summary or leftover .partial files"}; }
check copy $ok "$why"

# --- another filesystem: linking fails with EXDEV and the files are copied
shm=/dev/shm
if [ -d "$shm" ] && [ -w "$shm" ] && [ "$(stat -c %d "$shm")" != "$(stat -c %d "$tmp")" ]; then
    xdst=$(mktemp -d "$shm/nn-prepare-test.XXXXXX")
    $NN prepare "$src" "$xdst/set" --seed 7 >"$tmp/logx" 2>&1 && listing "$xdst/set" | diff -q - "$tmp/got7" >/dev/null &&
        grep -q '0 hard links, 55 copies' "$tmp/logx" && grep -qi 'hard links were not possible' "$tmp/logx"
    check cross_filesystem_copies $? "$(tr '\n' '|' <"$tmp/logx")"
    rm -rf "$xdst"
else
    skip cross_filesystem_copies "no writable /dev/shm on another filesystem than $tmp"
fi

# --- refusals
mk_unlabelled() { mkdir -p "$1" && cp "$src"/cat.1*.jpg "$src"/dog.2*.jpg "$1"/ && cp "$src/cat.0.jpg" "$1/1.jpg" &&
    cp "$src/cat.0.jpg" "$1/IMG_2041.JPG" && cp "$src/cat.0.jpg" "$1/cat.jpg" && cp "$src/cat.0.jpg" "$1/cat.1 (1).jpg"; }
mk_unlabelled "$tmp/mixed"
$NN prepare "$tmp/mixed" "$tmp/outm" >"$tmp/logm" 2>&1
rc=$?
[ $rc -ne 0 ] && [ ! -e "$tmp/outm" ] && grep -q '4 image files without a label' "$tmp/logm" && grep -q 'IMG_2041.JPG' "$tmp/logm" &&
    grep -q '1.jpg' "$tmp/logm" && grep -q -- '--skip-unlabelled' "$tmp/logm"
check refuses_unlabelled $? "status $rc, or DST was written, or the message lacks the count, names or hint: $(tr '\n' '|' <"$tmp/logm")"
$NN prepare "$tmp/mixed" "$tmp/outm" --skip-unlabelled --seed 3 >"$tmp/logm2" 2>&1 &&
    $PY "$ORACLE" "$tmp/mixed" 3 0.2 | diff -q - <(listing "$tmp/outm") >/dev/null &&
    grep -q 'warning: left out 4 image files' "$tmp/logm2" && [ ! -e "$tmp/outm/training_set/cats/1.jpg" ]
check skip_unlabelled $? "$(tr '\n' '|' <"$tmp/logm2")"

$NN prepare "$tmp/no-such-folder" "$tmp/outn" >"$tmp/logn" 2>&1
rc=$?
[ $rc -ne 0 ] && [ ! -e "$tmp/outn" ] && grep -q 'no-such-folder' "$tmp/logn"
check refuses_missing_src $? "status $rc: $(cat "$tmp/logn")"
mkdir "$tmp/empty"
$NN prepare "$tmp/empty" "$tmp/oute" >"$tmp/loge" 2>&1
rc=$?
[ $rc -ne 0 ] && [ ! -e "$tmp/oute" ] && grep -q 'no labelled images' "$tmp/loge"
check refuses_empty_src $? "status $rc: $(cat "$tmp/loge")"

listing "$out" >"$tmp/before_force"
$NN prepare "$src" "$out" --seed 7 >"$tmp/logf" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'already holds a prepared set' "$tmp/logf" && grep -q -- '--force' "$tmp/logf" &&
    listing "$out" | diff -q - "$tmp/before_force" >/dev/null
check refuses_existing_dst $? "status $rc: $(cat "$tmp/logf")"
# --force with another seed would put a photo in both sets: refused, nothing written.
$NN prepare "$src" "$out" --seed 9 --force >"$tmp/logf2" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'already there, but this split puts' "$tmp/logf2" && listing "$out" | diff -q - "$tmp/before_force" >/dev/null
check force_refuses_mixing_sets $? "status $rc: $(cat "$tmp/logf2")"
# --force with the same split completes an interrupted set and keeps what was there.
rm "$out/test_set/dogs/"* "$out/training_set/cats/cat.1"*.jpg
echo "the user's own file" >"$out/training_set/cats/mine.txt"
$NN prepare "$src" "$out" --seed 7 --force >"$tmp/logf3" 2>&1 && grep -q 'already in place' "$tmp/logf3" &&
    listing "$out" | grep -v mine.txt | diff -q - "$tmp/before_force" >/dev/null && [ -f "$out/training_set/cats/mine.txt" ]
check force_completes $? "$(tr '\n' '|' <"$tmp/logf3")"
rm "$out/training_set/cats/mine.txt"
# A file of this split that differs from the source is never replaced.
victim=$(grep '^training_set/dogs/' "$tmp/got7" | head -1)
rm "$out/$victim"; echo "edited" >"$out/$victim"
$NN prepare "$src" "$out" --seed 7 --force >"$tmp/logf4" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'is not the same as' "$tmp/logf4" && [ "$(cat "$out/$victim")" = edited ]
check force_never_replaces $? "status $rc: $(cat "$tmp/logf4")"

mkdir "$tmp/srccopy"; cp "$src"/*.jpg "$tmp/srccopy"/
$NN prepare "$tmp/srccopy" "$tmp/srccopy/prepared" >"$tmp/logi" 2>&1
rc=$?
[ $rc -ne 0 ] && [ ! -e "$tmp/srccopy/prepared" ] && grep -q 'inside' "$tmp/logi"
check refuses_dst_inside_src $? "status $rc: $(cat "$tmp/logi")"
touch "$tmp/a-file"
$NN prepare "$src" "$tmp/a-file/set" >"$tmp/logw" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'not a folder' "$tmp/logw"
check refuses_unwritable_dst $? "status $rc: $(cat "$tmp/logw")"
if [ "$(id -u)" != 0 ]; then
    mkdir "$tmp/locked" && chmod 555 "$tmp/locked"
    $NN prepare "$src" "$tmp/locked/set" >"$tmp/logl" 2>&1
    rc=$?
    chmod 755 "$tmp/locked"
    [ $rc -ne 0 ] && grep -q 'not writable' "$tmp/logl" && [ ! -e "$tmp/locked/set" ]
    check refuses_readonly_dst $? "status $rc: $(cat "$tmp/logl")"
else
    skip refuses_readonly_dst "running as root, which may write into a mode-555 folder"
fi

$NN prepare "$src" "$tmp/dry" --dry-run --seed 7 >"$tmp/logd" 2>&1 && [ ! -e "$tmp/dry" ] &&
    grep -Eq '^ +total +44 +11$' "$tmp/logd" && grep -q 'Would hard-link 55 files' "$tmp/logd"
check dry_run $? "$(tr '\n' '|' <"$tmp/logd")"

# --- any label: bird.N.png -> birds, upper-case extensions, numbers compared as numbers
mkdir "$tmp/three"
for i in 1 2 3 10 11; do cp "$src/cat.$i.jpg" "$tmp/three/bird.$i.PNG"; done
cp "$src"/cat.2*.jpg "$src"/dog.1*.jpg "$tmp/three"/
$NN prepare "$tmp/three" "$tmp/out3c" --seed 4 --test-split 0.4 >"$tmp/log3c" 2>&1 &&
    $PY "$ORACLE" "$tmp/three" 4 0.4 | diff -q - <(listing "$tmp/out3c") >/dev/null && [ -d "$tmp/out3c/training_set/birds" ] &&
    [ "$(count "$tmp/out3c/test_set/birds")" = 2 ]
check any_label $? "$(tr '\n' '|' <"$tmp/log3c")"

# --- the source is exactly as before all of the above
snapshot "$src" >"$tmp/src.after"
diff -q "$tmp/src.before" "$tmp/src.after" >/dev/null
check source_intact $? "$(diff "$tmp/src.before" "$tmp/src.after" | head -4 | tr '\n' ' ')"

# --- what nn train reads
$NN train --data "$tmp/out2/training_set" --val "$tmp/out2/test_set" --epochs 1 --batch 8 --device cpu \
    --out "$tmp/m.h5" >"$tmp/logt" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q 'Found 44 images belonging to 2 classes' "$tmp/logt" &&
    grep -q 'Found 11 images belonging to 2 classes' "$tmp/logt" && [ -s "$tmp/m.h5" ]
check trainable $? "status $rc: $(tail -5 "$tmp/logt" | tr '\n' '|')"

# --- nn train --labels-from-names reads the flat folder itself, with nn prepare's naming rule
$NN train --data "$src" --labels-from-names --val-split 0.2 --epochs 1 --batch 8 --device cpu \
    --out "$tmp/flat.h5" >"$tmp/logf" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q 'Found 44 images belonging to 2 classes' "$tmp/logf" &&
    grep -q 'Found 11 images belonging to 2 classes' "$tmp/logf" && [ -s "$tmp/flat.h5" ] &&
    $NN summary "$tmp/flat.h5" | grep -q 'cat, dog'
check train_labels_from_names $? "status $rc: $(tail -5 "$tmp/logf" | tr '\n' '|')"
mkdir "$tmp/flatbad" && cp "$src/cat.1.jpg" "$src/dog.1.jpg" "$tmp/flatbad/" && cp "$src/cat.2.jpg" "$tmp/flatbad/holiday.jpg"
$NN train --data "$tmp/flatbad" --labels-from-names --epochs 1 --out "$tmp/bad.h5" >"$tmp/logfb" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'holiday.jpg: no label in the name' "$tmp/logfb" && [ ! -e "$tmp/bad.h5" ]
check train_labels_from_names_unlabelled $? "status $rc: $(tail -3 "$tmp/logfb" | tr '\n' '|')"
exit 0
