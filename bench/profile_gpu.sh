#!/usr/bin/env bash
# profile_gpu.sh: the GPU profile of issue 9 for a device run: `nn bench --profile --device cuda`
# of the article's CNN at batch 32 and 256 (BATCHES overrides), each a table of where a training
# step's device time goes, kernel by kernel (CUDA events), beside the whole step as one CUDA graph
# and eagerly; peaks measured by the same command (device copy, FMA loop, the project's SGEMM).
# Prints the date, card, driver, CPU and each exact command, ready for bench/RESULTS.md.
# Builds first (make, CUDA_ARCH=sm_90) unless NN is given. Logs go to $OUT (default
# /tmp/profile-gpu). STEPS rounds (default 200) after WARM warm-up rounds (default 20).
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/profile-gpu}; mkdir -p "$OUT"
if [ -z "${NN:-}" ]; then
    make -j"$(nproc)" CUDA_ARCH="${CUDA_ARCH:-sm_90}" >"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
    NN=bin/nn
fi
STEPS=${STEPS:-200}; WARM=${WARM:-20}
echo "== $(date -u +%F) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)," \
     "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
rc=0
for b in ${BATCHES:-32 256}; do
    cmd="$NN bench --device cuda --profile --batch $b --steps $STEPS --warmup $WARM"
    echo
    echo "\$ $cmd"
    $cmd 2>&1 | tee "$OUT/profile_b$b.txt" || rc=1
done
exit $rc
