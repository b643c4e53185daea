#!/usr/bin/env bash
# gpu_bench.sh (make bench-gpu): the GPU figures of issue 6 in one run on one card.
#  1. nn bench --device cuda at batch 32, 256, 1024: a training step timed on the device (inputs
#     already there, CUDA events around each step, warm-up, median), graph replay and eager
#     launches; prediction latency at batch 1;
#  2. PyTorch on the same card, eager and CUDA graph (bench/torch_gpu_cnn.py, the yardstick);
#  3. the table with ratios;
#  4. end to end (BENCH_E2E=1, the default when the photos are there): `nn train` on catsdogs,
#     25 epochs of batch 32 with augmentation, from the JPEG folders to a saved .h5, timed as a
#     whole process, beside bench/torch_train_e2e.py doing the same; then `nn predict` on one
#     photo, whole process, C path and GPU.
# Builds first (make, CUDA_ARCH=sm_90) unless NN is given. Logs go to $OUT (default /tmp/gpu-bench).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-bench}; mkdir -p "$OUT"
DATA=${NN_SHARED_DATA:-../shared/data}/catsdogs
if [ -z "${NN:-}" ]; then
    make -j"$(nproc)" CUDA_ARCH="${CUDA_ARCH:-sm_90}" >"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
    NN=bin/nn
fi
STEPS=${STEPS:-300}; WARM=${WARM:-30}
el() { awk -v s="$1" -v e="$2" -v k="${3:-1}" 'BEGIN { printf "%.3f", (e - s) * k }'; }
echo "== $(date -u +%F) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
: >"$OUT/nn_bench.txt"
for b in 32 256 1024; do
    $NN bench --device cuda --batch $b --steps $STEPS --warmup $WARM | tee -a "$OUT/nn_bench.txt"
done
$NN bench --device cuda --mode predict --batch 1 --steps $STEPS --warmup $WARM | tee -a "$OUT/nn_bench.txt"
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    YARDSTICK_EXTRAS=0 PYTHONUNBUFFERED=1 timeout 300 python3 bench/torch_gpu_cnn.py >"$OUT/torch.json" 2>"$OUT/torch.err" \
        || echo "torch yardstick failed: $(tail -3 "$OUT/torch.err")"
fi
python3 - "$OUT/nn_bench.txt" "$OUT/torch.json" <<'PY'
import json, re, sys
nn = {}
txt = open(sys.argv[1]).read().split("model ")
for block in txt:
    m = re.search(r"batch (\d+),", block)
    g = re.search(r"([\d.]+) ms/(step|call) median", block)
    e = re.search(r"eager launches ([\d.]+) ms/step", block)
    if not m or not g: continue
    b = int(m.group(1)); kind = "train" if g.group(2) == "step" else "predict"
    nn[(kind, b)] = (float(g.group(1)), float(e.group(1)) if e else None)
try: t = json.load(open(sys.argv[2]))["cnn"]
except Exception: t = []
def torch_ms(mode, b, tf32=False):
    for r in t:
        if r["mode"] == mode and r["batch"] == b and r["tf32"] == tf32: return r["ms_per_step"]
print("\n| batch | nn graph img/s | nn eager img/s | PyTorch eager img/s | PyTorch CUDA graph img/s | nn graph / PyTorch graph |")
print("|---|---|---|---|---|---|")
for b in (32, 256, 1024):
    if ("train", b) not in nn: continue
    g, e = nn[("train", b)]
    te, tg = torch_ms("train eager", b), torch_ms("train eager+cudagraph", b)
    f = lambda ms: f"{b / ms * 1e3:,.0f}" if ms else "-"
    ratio = f"{tg / g:.2f}x" if tg else "-"
    print(f"| {b} | {f(g)} | {f(e)} | {f(te)} | {f(tg)} | {ratio} |")
if ("predict", 1) in nn:
    tp = torch_ms("infer", 1)
    print(f"\nprediction, batch 1: nn {nn[('predict', 1)][0]:.4f} ms" + (f", PyTorch {tp:.4f} ms" if tp else ""))
PY
if [ "${BENCH_E2E:-1}" = 1 ] && [ -d "$DATA/training_set" ]; then
    echo "== end to end: nn train, 25 epochs, batch 32, augmentation (whole process)"
    s=$(date +%s.%N)
    $NN train --data "$DATA/training_set" --val "$DATA/test_set" --epochs 25 --batch 32 --device cuda \
        --out "$OUT/nn_catdog.h5" >"$OUT/nn_train.log" 2>&1
    rc=$?; e=$(date +%s.%N)
    tail -4 "$OUT/nn_train.log"
    echo "nn train: status $rc, $(el "$s" "$e") s whole process"
    grep -E '^Epoch 25/25' -A1 "$OUT/nn_train.log" | tail -1
    s=$(date +%s.%N)
    NN_DEVICE_EPOCH=0 $NN train --data "$DATA/training_set" --val "$DATA/test_set" --epochs 25 --batch 32 \
        --device cuda --out "$OUT/nn_catdog_host.h5" >"$OUT/nn_train_host.log" 2>&1
    rc=$?; e=$(date +%s.%N)
    echo "nn train with host-built batches (NN_DEVICE_EPOCH=0): status $rc, $(el "$s" "$e") s whole process"
    grep -E '^Epoch 25/25' -A1 "$OUT/nn_train_host.log" | tail -1
    if python3 -c 'import torchvision' 2>/dev/null; then
        s=$(date +%s.%N)
        PYTHONUNBUFFERED=1 timeout 400 python3 bench/torch_train_e2e.py "$DATA" --out "$OUT/torch_catdog.pt" >"$OUT/torch_train.log" 2>&1
        rc=$?; e=$(date +%s.%N)
        tail -3 "$OUT/torch_train.log"
        echo "PyTorch+torchvision: status $rc, $(el "$s" "$e") s whole process"
    fi
    photo=$(ls "$DATA/test_set/dogs" | head -1)
    for dev in cpu cuda; do
        s=$(date +%s.%N)
        $NN predict "$OUT/nn_catdog.h5" "$DATA/test_set/dogs/$photo" --device $dev >"$OUT/predict_$dev.log" 2>&1
        rc=$?; e=$(date +%s.%N)
        echo "nn predict --device $dev (one photo): status $rc, $(el "$s" "$e" 1000) ms whole process: $(tr '\n' ' ' <"$OUT/predict_$dev.log")"
    done
fi
