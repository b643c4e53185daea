#!/usr/bin/env bash
# test_bench.sh: `nn bench` runs training and prediction steps on a small model and ends with
# 'N img/s'; --device cuda without a usable GPU fails with status 1 and says why; bad options
# fail with status 2. Run from the repository root; the CLI is ${NN:-bin/nn}.
set -u
NN=${NN:-bin/nn}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'input 12 10 3\nconv2d filters=4 kernel=3 activation=relu\nmaxpool2d\nflatten\ndense units=8 activation=relu\ndense units=1 activation=sigmoid\n' >"$tmp/m.cfg"

out=$("$NN" bench --model "$tmp/m.cfg" --batch 3 --steps 3 --warmup 1 --threads 1 2>&1); rc=$?
if [ $rc -eq 0 ] && tail -1 <<<"$out" | grep -Eq '^[0-9]+ img/s$' && grep -q 'ms/step mean' <<<"$out" \
   && grep -Eq 'last loss [0-9.]+' <<<"$out"; then echo "PASS bench_train"
else echo "FAIL bench_train: status $rc: $out"; fi

out=$("$NN" bench --model "$tmp/m.cfg" --mode predict --batch 1 --steps 3 2>&1); rc=$?
if [ $rc -eq 0 ] && tail -1 <<<"$out" | grep -Eq '^[0-9]+ img/s$' && grep -q 'ms/call mean' <<<"$out"
then echo "PASS bench_predict"
else echo "FAIL bench_predict: status $rc: $out"; fi

if "$NN" gpuinfo 2>/dev/null | grep -qi "no.*gpu\|without cuda\|not available"; then
    err=$("$NN" bench --model "$tmp/m.cfg" --device cuda --steps 1 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 1 ] && grep -q -- "--device cuda" <<<"$err"; then echo "PASS bench_cuda_without_gpu"
    else echo "FAIL bench_cuda_without_gpu: status $rc, stderr '$err'"; fi
else
    echo "SKIP bench_cuda_without_gpu: this machine has a GPU (nn gpuinfo found one)"
fi

bad=0
for args in "--batch 0" "--steps x" "--device tpu" "--mode fast" "--nope"; do
    # shellcheck disable=SC2086
    "$NN" bench $args >/dev/null 2>"$tmp/err"; rc=$?
    [ $rc -eq 2 ] && [ -s "$tmp/err" ] || { echo "FAIL bench_bad_options: '$args' gave status $rc"; bad=1; }
done
[ $bad = 0 ] && echo "PASS bench_bad_options"
