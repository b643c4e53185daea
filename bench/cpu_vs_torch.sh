#!/usr/bin/env bash
# cpu_vs_torch.sh: the C path beside Debian's PyTorch on the same cores, in one run.
#   training: `nn bench --device cpu --batch 32` against PyTorch training the same model
#             (the article's CNN, Adam, BCE from logits, random 64x64x3 inputs), the method of
#             ../shared/yardstick/torch_cpu_cnn.py: 5 warm-up steps, then 40 timed;
#   prediction: one image, nn bench --mode predict --batch 1 against torch.sigmoid(m(x)) under
#             no_grad, 200 timed calls.
# The two alternate for ROUNDS rounds (default 3) and the best round of each is kept, because
# the machine is shared: a figure taken while other work runs is low, never high.
# Usage: bench/cpu_vs_torch.sh   (env: NN=bin/nn THREADS=<all cores> ROUNDS=3 BATCH=32
#        PYTHON=/usr/bin/python3)
set -eu
cd "$(dirname "$0")/.."
NN=${NN:-bin/nn}
THREADS=${THREADS:-$(nproc)}
ROUNDS=${ROUNDS:-3}
BATCH=${BATCH:-32}
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$NN" ] || { echo "cpu_vs_torch: $NN not found: run make first" >&2; exit 1; }
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "cpu_vs_torch: $PYTHON has no torch (Debian: apt-get install python3-torch)" >&2; exit 1; }

torch_run() {
    THREADS=$THREADS BATCH=$BATCH "$PYTHON" - <<'EOF'
import os, time, torch, torch.nn as nn
torch.set_num_threads(int(os.environ["THREADS"]))
torch.manual_seed(0)
b = int(os.environ["BATCH"])
m = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  nn.Linear(32 * 31 * 31, 128), nn.ReLU(), nn.Linear(128, 1))
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
lf = nn.BCEWithLogitsLoss()
x = torch.rand(b, 3, 64, 64); y = torch.randint(0, 2, (b, 1)).float()
def step():
    opt.zero_grad(); l = lf(m(x), y); l.backward(); opt.step()
for _ in range(5): step()
n = 40; t = time.perf_counter()
for _ in range(n): step()
dt = (time.perf_counter() - t) / n
with torch.no_grad():
    x1 = torch.rand(1, 3, 64, 64)
    for _ in range(5): torch.sigmoid(m(x1))
    t = time.perf_counter()
    for _ in range(200): torch.sigmoid(m(x1))
    p = (time.perf_counter() - t) / 200
print(f"{b / dt:.1f} {dt * 1e3:.3f} {p * 1e3:.4f} {torch.__version__} {torch.get_num_threads()}")
EOF
}

nn_train() {   # prints "img/s ms/step"
    "$NN" bench --device cpu --batch "$BATCH" --threads "$THREADS" --warmup 5 --steps 40 |
        awk '/ms\/step mean/ {for (i = 1; i < NF; i++) if ($(i + 1) == "ms/step") ms = $i}
             / img\/s$/ {ips = $1} END {print ips, ms}'
}
nn_predict() {   # prints "ms/call"
    "$NN" bench --device cpu --mode predict --batch 1 --threads "$THREADS" --warmup 5 --steps 200 |
        awk '/ms\/call mean/ {for (i = 1; i < NF; i++) if ($(i + 1) == "ms/call") print $i}'
}

best_nn=0; best_nn_ms=0; best_nn_p=1e9; best_t=0; best_t_ms=0; best_t_p=1e9; tver=""
for r in $(seq "$ROUNDS"); do
    read -r ips ms <<<"$(nn_train)"
    p=$(nn_predict)
    read -r tips tms tp tver tthreads <<<"$(torch_run)"
    echo "round $r: nn $ips img/s ($ms ms/step), predict $p ms | torch $tips img/s ($tms ms/step), predict $tp ms"
    if awk "BEGIN {exit !($ips > $best_nn)}"; then best_nn=$ips; best_nn_ms=$ms; fi
    if awk "BEGIN {exit !($p < $best_nn_p)}"; then best_nn_p=$p; fi
    if awk "BEGIN {exit !($tips > $best_t)}"; then best_t=$tips; best_t_ms=$tms; fi
    if awk "BEGIN {exit !($tp < $best_t_p)}"; then best_t_p=$tp; fi
done

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
isa=$("$NN" bench --device cpu --batch 1 --steps 1 --warmup 0 --threads "$THREADS" | sed -n 's/.*sgemm \([^)]*\)).*/\1/p')
echo
echo "date $(date -u +%F), $cpu, $THREADS threads of $(nproc) cores, sgemm kernel $isa, torch $tver"
printf "training, batch %s:  nn %8.1f img/s (%.2f ms/step)   torch %8.1f img/s (%.2f ms/step)   nn/torch %.2fx\n" \
    "$BATCH" "$best_nn" "$best_nn_ms" "$best_t" "$best_t_ms" "$(awk "BEGIN {print $best_nn / $best_t}")"
printf "predict, 1 image:     nn %8.3f ms               torch %8.3f ms                torch/nn %.2fx\n" \
    "$best_nn_p" "$best_t_p" "$(awk "BEGIN {print $best_t_p / $best_nn_p}")"
