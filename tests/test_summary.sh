#!/usr/bin/env bash
# test_summary.sh: `nn summary` on the article's model prints Keras's table: the layer names,
# output shapes and parameter counts that model.summary() prints for the same Keras model
# (896, 0, 0, 3,936,384, 129; total 3,937,409), and a bad model file fails naming its line.
# Run from the repository root; the CLI is ${NN:-bin/nn}.
set -u
NN=${NN:-bin/nn}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

out=$("$NN" summary models/catdog.cfg 2>&1); rc=$?
check_row() {   # name, type, shape, count
    if grep -qE "^ $1 \($2\) +\(None, $3\) +$4\$" <<<"$out"; then return 0; fi
    echo "FAIL summary_catdog: no row '$1 ($2) (None, $3) $4' in:"; echo "$out"; return 1
}
ok=1
[ $rc -eq 0 ] || { echo "FAIL summary_catdog: exit status $rc: $out"; ok=0; }
if [ $ok = 1 ]; then
    check_row conv2d Conv2D "62, 62, 32" 896 &&
    check_row max_pooling2d MaxPooling2D "31, 31, 32" 0 &&
    check_row flatten Flatten 30752 0 &&
    check_row dense Dense 128 3,936,384 &&
    check_row dense_1 Dense 1 129 || ok=0
fi
if [ $ok = 1 ] && ! grep -q "^Total params: 3,937,409" <<<"$out"; then
    echo "FAIL summary_catdog: no 'Total params: 3,937,409' in:"; echo "$out"; ok=0
fi
[ $ok = 1 ] && echo "PASS summary_catdog"

printf 'input 8 8 3\nconv2d filters=2 kernel=3\ndense units=3\n' >"$tmp/bad.cfg"
err=$("$NN" summary "$tmp/bad.cfg" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && grep -q "bad.cfg:3:.*flatten" <<<"$err"; then
    echo "PASS summary_bad_cfg"
else
    echo "FAIL summary_bad_cfg: status $rc, stderr '$err' (want non-zero and 'bad.cfg:3: ... flatten')"
fi

err=$("$NN" summary "$tmp/missing.cfg" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && grep -q "missing.cfg" <<<"$err"; then
    echo "PASS summary_missing_file"
else
    echo "FAIL summary_missing_file: status $rc, stderr '$err'"
fi
