#!/usr/bin/env bash
# nccl_overhead.sh: what data-parallel training costs on ONE GPU (issue 16), with no MPI: the
# gradient all-reduce through a 1-rank NCCL communicator (NN_NCCL=1, cuda/nccl_cuda.cu).
#  1. a check first: `nn train` on the synthetic set (3 epochs, batch 32) with NN_NCCL=1 ends
#     with the weights of the plain GPU run, bit for bit, on the same plan (NN_CUDA_FUSE=0 on
#     both); then the same with the default fusions against the fused plain run (close, not
#     equal: other kernels);
#  2. `nn bench --device cuda --model M --batch B` for models/catdog.cfg and models/catdog3.cfg at
#     batch 32 and 256, four ways in one run on one card, alternated round by round:
#       plain     today's single-GPU step (every fusion)
#       dp-plan   the data-parallel plan without NCCL (NN_NCCL=plan: conv + pool still fused, the
#                 dense layers' dW no longer fused into Adam, the head apart): the plan's cost
#       nccl      dp-plan + the 1-rank all-reduce, in buckets overlapped with the backward pass
#       nccl-seq  the same with one all-reduce after the backward pass (NN_NCCL_OVERLAP=0)
#     and the table: img/s (median of ROUNDS rounds of `nn bench`'s median step), the
#     all-reduce's cost (nccl against dp-plan) and the whole cost (nccl against plain).
# The step is replayed as one CUDA graph in every way (NCCL's kernels captured with the rest).
# usage: bash bench/nccl_overhead.sh     NN=bin/nn (default: build it), STEPS=300 WARM=30 ROUNDS=3,
#        MODELS="models/catdog.cfg models/catdog3.cfg" BATCHES="32 256", OUT=/tmp/nccl-overhead
# libnccl.so.2 is looked for on the library path and in the CUDA install; else NN_NCCL_LIB, which
# this script sets from pip's nvidia-nccl (PyTorch's) when python3 has it.
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-/tmp/nccl-overhead}; mkdir -p "$OUT"
STEPS=${STEPS:-300}; WARM=${WARM:-30}; ROUNDS=${ROUNDS:-3}
MODELS=${MODELS:-"models/catdog.cfg models/catdog3.cfg"}; BATCHES=${BATCHES:-"32 256"}
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}   # no NVLink multicast (see README)
echo "== $(date -u '+%F %T UTC')"
echo "== $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1)"
if [ -z "${NN:-}" ]; then
    make -j"$(nproc)" CUDA_ARCH="${CUDA_ARCH:-sm_90}" >"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
    NN=bin/nn
fi
if [ -z "${NN_NCCL_LIB:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libnccl\.so\.2' && [ ! -e /usr/local/cuda/lib64/libnccl.so.2 ]; then
    lib=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null)
    [ -n "$lib" ] && [ -e "$lib" ] && export NN_NCCL_LIB=$lib
fi
echo "== libnccl: ${NN_NCCL_LIB:-from the library path / CUDA install}"

# --- 1. the check
T=(train --synthetic 400 --epochs 3 --batch 32 --device cuda --seed 7)
same() {   # same A.h5 B.h5: max |a - b| over every dataset (0: bit for bit)
    python3 - "$@" <<'EOF'
import sys, h5py, numpy as np
def load(p):
    out = {}
    with h5py.File(p, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, np.asarray(o[()], dtype=np.float64)) if isinstance(o, h5py.Dataset) else None)
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
print(max(float(np.abs(a[k] - b[k]).max()) if a[k].size else 0.0 for k in a))
EOF
}
# shellcheck disable=SC2086  # NN may be a command with its environment (device_run.sh)
NN_CUDA_FUSE=0 timeout 120 $NN "${T[@]}" --out "$OUT/plain0.h5" >"$OUT/train_plain0.log" 2>&1
NN_CUDA_FUSE=0 NN_NCCL=1 timeout 120 $NN "${T[@]}" --out "$OUT/nccl0.h5" >"$OUT/train_nccl0.log" 2>&1
timeout 120 $NN "${T[@]}" --out "$OUT/plain.h5" >"$OUT/train_plain.log" 2>&1
NN_NCCL=1 timeout 120 $NN "${T[@]}" --out "$OUT/nccl.h5" >"$OUT/train_nccl.log" 2>&1
d0=$(same "$OUT/plain0.h5" "$OUT/nccl0.h5" 2>&1 | tail -1); d1=$(same "$OUT/plain.h5" "$OUT/nccl.h5" 2>&1 | tail -1)
if [ "$d0" = "0.0" ]; then echo "PASS nccl_one_rank_train_equals_plain (NN_CUDA_FUSE=0: max difference 0)"
else echo "FAIL nccl_one_rank_train_equals_plain: max difference $d0 (logs in $OUT)"; fi
echo "# with the default fusions: max difference $d1 (other kernels for the dense layers' dW and Adam)"
grep -h 'val_accuracy' "$OUT/train_plain.log" | tail -1 | sed 's/^/# plain: /'
grep -h 'val_accuracy' "$OUT/train_nccl.log" | tail -1 | sed 's/^/# nccl:  /'

# --- 2. the timings
ways="plain dp-plan nccl nccl-seq"
env_of() {
    case $1 in
    plain) echo "" ;; dp-plan) echo "NN_NCCL=plan" ;; nccl) echo "NN_NCCL=1" ;; nccl-seq) echo "NN_NCCL=1 NN_NCCL_OVERLAP=0" ;;
    esac
}
rm -f "$OUT"/r_*.txt
for r in $(seq "$ROUNDS"); do
    for m in $MODELS; do
        for b in $BATCHES; do
            for w in $ways; do
                # shellcheck disable=SC2046,SC2086
                v=$(env $(env_of $w) timeout 120 $NN bench --device cuda --model "$m" --batch "$b" \
                    --steps "$STEPS" --warmup "$WARM" 2>&1 | tee -a "$OUT/bench_${w}.log" | grep -o '^[0-9]* img/s' | cut -d' ' -f1)
                echo "${v:-0}" >>"$OUT/r_$(basename "$m" .cfg)_${b}_$w.txt"
            done
        done
    done
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
echo "| model | batch | plain img/s | dp-plan | nccl (overlapped) | nccl-seq | all-reduce cost (nccl vs dp-plan) | whole cost (nccl vs plain) |"
echo "|---|---|---|---|---|---|---|---|"
for m in $MODELS; do
    n=$(basename "$m" .cfg)
    for b in $BATCHES; do
        p=$(median "$OUT/r_${n}_${b}_plain.txt"); q=$(median "$OUT/r_${n}_${b}_dp-plan.txt")
        c=$(median "$OUT/r_${n}_${b}_nccl.txt"); s=$(median "$OUT/r_${n}_${b}_nccl-seq.txt")
        awk -v n="$n" -v b="$b" -v p="$p" -v q="$q" -v c="$c" -v s="$s" 'BEGIN {
            ar = 0; arms = 0; all = 0
            if (q > 0 && c > 0) { ar = (q / c - 1) * 100; arms = (b / c - b / q) * 1000 }
            if (p > 0 && c > 0) all = (p / c - 1) * 100
            printf "| %s | %s | %d | %d | %d | %d | %+.1f%% (%.4f ms a step) | %+.1f%% |\n", n, b, p, q, c, s, ar, arms, all }'
    done
done
echo "(cost: extra time a step, as a share of the faster way's step; medians of $ROUNDS rounds of nn bench --steps $STEPS --warmup $WARM)"
