#!/usr/bin/env bash
# gpu_models.sh (make bench-models): nn beside PyTorch on one card, model by model.
#  1. `nn bench --device cuda --model M --batch B` for each model and batch: a training step
#     timed on the device, replayed as one CUDA graph (the figure used) and as eager launches;
#  2. bench/torch_gpu_models.py on the same model files: PyTorch eager and whole-step CUDA graph,
#     FP32 with TF32 off, the faster of NCHW and channels_last;
#  3. the table: img/s, nn / PyTorch graph, and each model's target with met? yes/no.
# Builds first (make, CUDA_ARCH=sm_90) unless NN is given. Logs go to $OUT (default
# /tmp/gpu-models): nn_<model>_b<batch>.txt, torch_<model>.log/.err, torch_models.json.
# Expected to take two to three minutes on an H100 with the defaults; every run has a timeout
# (60 s for nn, 150 s for PyTorch per model) so that a hang cannot hold the card.
#
# usage: bash bench/gpu_models.sh        (or: make bench-models)
#   MODELS="M.cfg:B,B M.cfg:B ..."   models and batches (default: catdog.cfg and catdog2.cfg at
#                                    32,1024, catdog3.cfg and catdog_bn.cfg at 32,256; no ':'
#                                    means 32,1024)
#   STEPS=200 WARM=20   timed and warm-up steps, nn and PyTorch alike
#   NN=bin/nn           skip the build;  PYTHON=python3  the one with torch
#   IGEMM_AB="b c"      also time each nn row with NN_IGEMM_TILES=b, c (cuda/conv2d_cuda.cu's other
#                       implicit-GEMM tiles), printed beside; the table keeps the default
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-/tmp/gpu-models}; mkdir -p "$OUT"; export OUT
MODELS=${MODELS:-"models/catdog.cfg:32,1024 models/catdog2.cfg:32,1024 models/catdog3.cfg:32,256 models/catdog_bn.cfg:32,256"}
STEPS=${STEPS:-200}; WARM=${WARM:-20}; PYTHON=${PYTHON:-python3}
echo "== $(date -u '+%F %T UTC')"
echo "== $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1)"
if [ -z "${NN:-}" ]; then
    make -j"$(nproc)" CUDA_ARCH="${CUDA_ARCH:-sm_90}" >"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
    NN=bin/nn
fi
TORCH=1
"$PYTHON" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null || { TORCH=0; echo "no PyTorch with CUDA in $PYTHON: nn only"; }
rm -f "$OUT"/nn_*.txt "$OUT/torch_models.json"
for spec in $MODELS; do
    m=${spec%%:*}; batches=${spec#*:}; [ "$batches" = "$spec" ] && batches=32,1024
    name=$(basename "$m" .cfg)
    for b in ${batches//,/ }; do
        log="$OUT/nn_${name}_b$b.txt"
        # shellcheck disable=SC2086  # NN may be a command with its environment (device_run.sh)
        if timeout 60 $NN bench --device cuda --model "$m" --batch "$b" --steps "$STEPS" --warmup "$WARM" >"$log" 2>&1; then
            echo "nn $name batch $b: $(grep -o '[0-9.]* ms/step median.*' "$log" | head -1)"
        else
            echo "nn bench $m batch $b failed (status $?): $(tail -2 "$log" | tr '\n' ' ')"
        fi
        for v in ${IGEMM_AB:-}; do   # the implicit GEMM's other tiles, beside (conv2d_cuda.cu)
            # shellcheck disable=SC2086
            timeout 60 env NN_IGEMM_TILES=$v $NN bench --device cuda --model "$m" --batch "$b" --steps "$STEPS" \
                --warmup "$WARM" >"$OUT/nn_${name}_b${b}_tiles$v.txt" 2>&1
            echo "nn $name batch $b NN_IGEMM_TILES=$v: $(grep -o '[0-9.]* ms/step median.*' "$OUT/nn_${name}_b${b}_tiles$v.txt" | head -1)"
        done
    done
    if [ $TORCH = 1 ]; then
        PYTHONUNBUFFERED=1 timeout 150 "$PYTHON" bench/torch_gpu_models.py "$m" --batches "$batches" \
            --steps "$STEPS" --warmup "$WARM" >"$OUT/torch_$name.log" 2>"$OUT/torch_$name.err" \
            || echo "torch $m failed (status $?): $(tail -3 "$OUT/torch_$name.err" | tr '\n' ' ')"
        "$PYTHON" -c 'import json, sys
for r in (json.loads(l) for l in sys.stdin if l.startswith("{")):
    print("torch %s batch %d %s: %s ms/step (%s)" % (r["model"], r["batch"], r["mode"], r["ms_per_step"], r["layout"]))' \
            <"$OUT/torch_$name.log" 2>/dev/null
    fi
done
"$PYTHON" - "$OUT" "$MODELS" <<'PY'
import json, os, re, sys
out, specs = sys.argv[1], sys.argv[2].split()

def nn_result(path):
    """(graph ms/step, eager ms/step) from one `nn bench --device cuda` log, or None."""
    try: text = open(path).read()
    except OSError: return None
    g = re.search(r"([\d.]+) ms/step median", text)
    e = re.search(r"eager launches ([\d.]+) ms/step", text)
    return (float(g.group(1)), float(e.group(1)) if e else None) if g else None

try: torch = {(r["model"], r["batch"], r["mode"]): r for r in json.load(open(os.path.join(out, "torch_models.json")))}
except (OSError, ValueError): torch = {}

def target(model, b, nn_ips, graph_ips):
    """(what the target is, met?) for one row."""
    ratio = nn_ips / graph_ips if nn_ips and graph_ips else None
    if model == "catdog.cfg" and b in (32, 1024):
        ref = {32: 272_000, 1024: 602_000}[b]
        got = f": {nn_ips / ref:.2f}x of it" if nn_ips else ""
        return f"no slower than {ref // 1000}k img/s (H200 figure){got}", "n/a (H200)"
    if model not in ("catdog2.cfg", "catdog3.cfg", "catdog_bn.cfg"): return "-", "-"
    want, met = "≥ 2x PyTorch graph", ratio and ratio >= 2
    if model == "catdog2.cfg" and b == 1024:
        want, met = want + " and ≥ 250,000 img/s", met and nn_ips >= 250_000
    return want, ("yes" if met else "no") if ratio else "?"

ips = lambda b, ms: b / ms * 1e3 if ms else None
fmt = lambda v, note="": f"{v:,.0f}{note}" if v else "-"
print("\n| model | batch | nn img/s (graph) | PyTorch eager img/s | PyTorch CUDA graph img/s | nn / PyTorch graph | target | met? |")
print("|---|---|---|---|---|---|---|---|")
for spec in specs:
    m, _, batches = spec.partition(":")
    model = os.path.basename(m)
    for b in (int(v) for v in (batches or "32,1024").split(",")):
        r = nn_result(os.path.join(out, f"nn_{os.path.splitext(model)[0]}_b{b}.txt"))
        nn_ips = ips(b, r[0]) if r else None
        te, tg = torch.get((model, b, "eager"), {}), torch.get((model, b, "graph"), {})
        te_ips, tg_ips = te.get("img_s"), tg.get("img_s")
        ratio = f"{nn_ips / tg_ips:.2f}x" if nn_ips and tg_ips else "-"
        want, met = target(model, b, nn_ips, tg_ips)
        print(f"| {model} | {b} | {fmt(nn_ips)} | {fmt(te_ips, ' (%s)' % te.get('layout'))} | "
              f"{fmt(tg_ips, ' (%s)' % tg.get('layout'))} | {ratio} | {want} | {met} |")
print("\nnn: graph replay, median of per-step CUDA-event times; PyTorch: CUDA events around the whole "
      "loop, median of 3, the faster layout in brackets; FP32, TF32 off on both"
      + (" (but PyTorch reported TF32 ON)" if any(r.get("tf32") for r in torch.values()) else "") + ".")
PY
