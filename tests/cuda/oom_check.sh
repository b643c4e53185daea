#!/usr/bin/env bash
# oom_check.sh (a GPU machine; device_run.sh's "oom" stage): an absurd request for GPU memory must
# end with one clear line (what was being allocated, the batch size, the bytes asked for and
# free, what to do) and a non-zero status, never a crash. The model: a 512-filter 'same' conv on
# 64x64x3 needs 8 MiB of activations an image, so batch 65535 asks for ~0.5 TB of GPU memory.
# Usage: NN=bin/nn bash tests/cuda/oom_check.sh   (prints PASS/FAIL lines)
set -u
NN=${NN:-bin/nn}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if $NN gpuinfo 2>&1 | grep -qi '^no usable CUDA GPU'; then
    why=$($NN gpuinfo 2>&1 | head -1)
    echo "SKIP oom_absurd_batch_clear_message: $why"
    echo "SKIP batch_over_grid_limit: $why"
    exit 0
fi
cat > "$tmp/huge.cfg" <<'CFG'
input 64 64 3
conv2d filters=512 kernel=3 padding=same activation=relu
maxpool2d pool=2
flatten
dense units=1 activation=sigmoid
CFG
$NN bench --device cuda --model "$tmp/huge.cfg" --batch 65535 --steps 1 --warmup 0 >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out" | tail -3
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q 'out of GPU memory' "$tmp/out" &&
    grep -q 'batch size 65535' "$tmp/out" && grep -q 'try a smaller --batch' "$tmp/out"; then
    echo "PASS oom_absurd_batch_clear_message"
else
    echo "FAIL oom_absurd_batch_clear_message: status $rc: $(tail -2 "$tmp/out" | tr '\n' '|')"
fi
# The article's model at the largest batch the CLI takes (65536, one over the device path's grid
# limit): refused with a line that says so, not a CUDA launch error.
$NN bench --device cuda --batch 65536 --steps 2 --warmup 1 >"$tmp/out2" 2>&1
rc=$?
tail -2 "$tmp/out2"
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "over the GPU path's limit of 65535" "$tmp/out2"; then
    echo "PASS batch_over_grid_limit"
else
    echo "FAIL batch_over_grid_limit: status $rc: $(tail -2 "$tmp/out2" | tr '\n' '|')"
fi
