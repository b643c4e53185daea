#!/usr/bin/env bash
# cpu_vs_torch.sh: the C path beside Debian's PyTorch on the same cores, in one run.
#   training: `nn bench --device cpu --batch 32` against PyTorch training the same model
#             (the article's CNN, Adam, BCE from logits, random 64x64x3 inputs), the method of
#             ../shared/yardstick/torch_cpu_cnn.py: 5 warm-up steps, then 40 timed;
#   prediction: one image, nn bench --mode predict --batch 1 (its default: one thread, as nn
#             predict runs one image) against torch.sigmoid(m(x)) under
#             no_grad, 200 timed calls.
# The two alternate for ROUNDS rounds (default 3) and the best round of each is kept, because
# the machine is shared: a figure taken while other work runs is low, never high. Both the
# mean step time (the yardstick's figure) and the median (robust to a preempted step) are shown.
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
def timed(fn, n):   # per-call times: mean (the yardstick's figure) and median (robust to noise)
    ts = []
    for _ in range(n):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    ts.sort()
    return sum(ts) / n, ts[n // 2]
dt, dt_med = timed(step, 40)
with torch.no_grad():
    x1 = torch.rand(1, 3, 64, 64)
    for _ in range(5): torch.sigmoid(m(x1))
    p, p_med = timed(lambda: torch.sigmoid(m(x1)), 200)
print(f"{dt * 1e3:.3f} {dt_med * 1e3:.3f} {p * 1e3:.4f} {p_med * 1e3:.4f} {torch.__version__} {torch.get_num_threads()}")
EOF
}

nn_train() {   # prints "ms/step-mean ms/step-median"
    "$NN" bench --device cpu --batch "$BATCH" --threads "$THREADS" --warmup 5 --steps 40 |
        awk '/ms\/step mean/ {for (i = 1; i < NF; i++) {if ($(i + 1) == "ms/step") a = $i; if ($(i + 1) == "median,") b = $i}}
             END {print a, b}'
}
nn_predict() {   # prints "ms/call-mean ms/call-median"
    "$NN" bench --device cpu --mode predict --batch 1 --warmup 5 --steps 200 |
        awk '/ms\/call mean/ {for (i = 1; i < NF; i++) {if ($(i + 1) == "ms/call") a = $i; if ($(i + 1) == "median,") b = $i}}
             END {print a, b}'
}

min() { awk -v a="$1" -v b="$2" 'BEGIN {print (a < b ? a : b)}'; }
nt=1e9; ntm=1e9; np=1e9; npm=1e9; tt=1e9; ttm=1e9; tp=1e9; tpm=1e9; tver=""
for r in $(seq "$ROUNDS"); do
    read -r a b <<<"$(nn_train)"; nt=$(min "$nt" "$a"); ntm=$(min "$ntm" "$b")
    read -r a b <<<"$(nn_predict)"; np=$(min "$np" "$a"); npm=$(min "$npm" "$b")
    read -r a b c d tver tthreads <<<"$(torch_run)"
    tt=$(min "$tt" "$a"); ttm=$(min "$ttm" "$b"); tp=$(min "$tp" "$c"); tpm=$(min "$tpm" "$d")
    echo "round $r done: nn $nt / $ntm ms/step, torch $tt / $ttm ms/step (best so far, mean / median)"
done

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
isa=$("$NN" bench --device cpu --batch 1 --steps 1 --warmup 0 --threads "$THREADS" | sed -n 's/.*sgemm \([^)]*\)).*/\1/p')
ips() { awk -v b="$BATCH" -v ms="$1" 'BEGIN {printf "%.0f", b / ms * 1e3}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "date $(date -u +%F), $cpu, $THREADS threads of $(nproc) cores, sgemm kernel $isa, torch $tver"
echo "best of $ROUNDS rounds; figures from the mean step (the yardstick's) and, in brackets, the median step"
printf "training, batch %s:  nn %6s img/s (%s ms/step) [%s img/s]   torch %6s img/s (%s ms/step) [%s img/s]   nn/torch %sx [%sx]\n" \
    "$BATCH" "$(ips "$nt")" "$nt" "$(ips "$ntm")" "$(ips "$tt")" "$tt" "$(ips "$ttm")" \
    "$(ratio "$tt" "$nt")" "$(ratio "$ttm" "$ntm")"
printf "predict, 1 image:     nn %s ms [%s ms]   torch %s ms [%s ms]   torch/nn %sx [%sx]\n" \
    "$np" "$npm" "$tp" "$tpm" "$(ratio "$tp" "$np")" "$(ratio "$tpm" "$npm")"
