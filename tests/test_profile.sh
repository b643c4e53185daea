#!/usr/bin/env bash
# test_profile.sh: the profile from the command line (nn/profile.h). `nn bench --profile` prints
# the per-layer table with the peaks, a row per layer and pass and the step it adds up to;
# `nn train --profile` prints it after training with the loader's rows (waiting for data,
# augmentation); --profile with --mode predict, or on a GPU that is not there, fails clearly;
# bench/profile_gpu.sh (for device runs) is valid bash. Run from the repository root; the CLI is
# ${NN:-bin/nn}.
set -u
NN=${NN:-bin/nn}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'input 12 10 3\nconv2d filters=4 kernel=3 activation=relu\nmaxpool2d\nflatten\ndense units=8 activation=relu\ndense units=1 activation=sigmoid\n' >"$tmp/m.cfg"

# A row: "NAME PASS ms share MFLOP MB GFLOP/s GB/s %FLOP %BW bound".
row_ok() { grep -Eq "^$1 +$2 +[0-9.]+ +[0-9.]+% +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+% +[0-9.]+% +(arithmetic|memory|-)\$" <<<"$3"; }

out=$("$NN" bench --profile --model "$tmp/m.cfg" --batch 4 --steps 3 --warmup 1 2>&1); rc=$?
ok=1
# One row per node of the plan and pass; flatten is an alias of its input (no pass, no row).
for r in "conv2d forward" "max_pooling2d forward" "dense forward" "dense_1 forward" \
         "dense_1 backward" "dense backward" "max_pooling2d backward" "conv2d backward" "Adam update"; do
    # shellcheck disable=SC2086
    row_ok $r "$out" || { ok=0; echo "# no row '$r'"; }
done
grep -q '^flatten ' <<<"$out" && { ok=0; echo "# flatten runs no pass: it has no row"; }
if [ $rc -eq 0 ] && [ $ok = 1 ] && grep -q '^loss (BCE from logits) *forward+grad' <<<"$out" \
   && grep -Eq '^peaks measured now: arithmetic [0-9.]+ GFLOP/s .* memory [0-9.]+ GB/s' <<<"$out" \
   && grep -Eq '^sum of the rows +[0-9.]+ +[0-9.]+%' <<<"$out" && grep -Eq '^step +[0-9.]+ +100.0%' <<<"$out"
then echo "PASS profile_bench_table"
else echo "FAIL profile_bench_table: status $rc: $out"; fi

out=$("$NN" train --profile --model "$tmp/m.cfg" --synthetic 16 --epochs 1 --batch 8 --threads 2 \
      --out "$tmp/t.h5" 2>&1); rc=$?
if [ $rc -eq 0 ] && row_ok "waiting for data" "loader" "$out" && row_ok "augmentation \(C\)" "loader, 1 thread \*" "$out" \
   && row_ok "dense" "backward" "$out" && grep -q "nn train's step in this run" <<<"$out" \
   && grep -q 'model_train_step' <<<"$out" && [ -s "$tmp/t.h5" ]
then echo "PASS profile_train_table"
else echo "FAIL profile_train_table: status $rc: $out"; fi

err=$("$NN" bench --profile --mode predict 2>&1 >/dev/null); rc=$?
if [ $rc -eq 2 ] && grep -q -- "--profile" <<<"$err"; then echo "PASS profile_predict_refused"
else echo "FAIL profile_predict_refused: status $rc, stderr '$err'"; fi

if "$NN" gpuinfo 2>/dev/null | grep -qi "no.*gpu\|without cuda\|not available"; then
    err=$("$NN" bench --profile --model "$tmp/m.cfg" --device cuda --steps 1 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 1 ] && grep -q -- "--device cuda" <<<"$err"; then echo "PASS profile_cuda_without_gpu"
    else echo "FAIL profile_cuda_without_gpu: status $rc, stderr '$err'"; fi
else
    echo "SKIP profile_cuda_without_gpu: this machine has a GPU (nn gpuinfo found one)"
fi

if bash -n bench/profile_gpu.sh 2>"$tmp/err"; then echo "PASS profile_gpu_script_parses"
else echo "FAIL profile_gpu_script_parses: $(cat "$tmp/err")"; fi
