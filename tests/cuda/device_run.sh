#!/usr/bin/env bash
# device_run.sh: what one call on the lent GPU machine runs (see device_pack.sh, run here first).
# Unpacks the prebuilt binaries and their libraries, then runs the stages named in $STAGES
# (default: "tests sanitize bench"), each under a time limit, logging into /tmp/devwork, packed
# at the end into $OUT/logs.tgz (the device returns at most 8 files):
#   tests     tests/cuda/test_cuda_{ops,model,classes,catsdogs,tf32,bn_dropout,pool_act,nccl}
#             (what make test-cuda runs; TESTS picks)
#   sanitize  compute-sanitizer memcheck on ops, model and tf32, racecheck on ops and tf32
#             (NN_TEST_QUICK=1; SAN_SPECS picks, e.g. "memcheck:tf32 racecheck:tf32")
#   oom       tests/cuda/oom_check.sh: an absurd batch gets a clear out-of-memory line
#   bench     bench/gpu_bench.sh (BENCH_E2E=1 adds the end-to-end training timings)
#   tf32      tests/cuda/test_cuda_tf32 (TF32 GEMM error, 50 steps TF32 vs FP32), then nn bench
#             at batch 32, 256, 1024 with FP32 and NN_TF32=1 alternately, in the same run
#   profile_nn  bench/profile_gpu.sh: nn bench --profile --device cuda at batch 32 and 256
#   models    bench/gpu_models.sh: nn bench on models/catdog{,2,3}.cfg beside PyTorch (eager and
#             CUDA graph) on the same card, the table with the issue's targets (MODELS picks)
#   accuracy  bench/accuracy.sh on local/catsdogs: nn train + evaluate beside PyTorch +
#             torchvision, the same model files (ACC_MODELS, ACC_EPOCHS)
#   cmd       each line of $CMDS as a shell command, with $NN set to the unpacked nn
#   nccl      bench/nccl_overhead.sh: data-parallel training on one GPU (a 1-rank NCCL
#             communicator): nn train equals the plain run, and the all-reduce's cost in img/s
# libnccl.so.2 (loaded at run time by the NCCL all-reduce) is taken from pip's nvidia-nccl when
# the library path and the CUDA install have none (NN_NCCL_LIB).
# Ends with a summary: FAIL lines, sanitizer verdicts, the speed table.
set -u
cd "$(dirname "$0")/../.."
FINAL=${OUT:-/tmp/device-out}; mkdir -p "$FINAL"
OUT=/tmp/devwork; rm -rf $OUT; mkdir -p $OUT
STAGES=${STAGES:-tests sanitize bench}
G=/tmp/nngpu; rm -rf $G; mkdir -p $G
tar -C $G -xJf local/gpu/bin.tar.xz && tar -C $G -xJf local/gpu/lib.tar.xz || exit 1
export NN_SHARED_DATA=$PWD/local
export NCCL_NVLS_ENABLE=0   # no NVLink multicast on the lent machines (KINDS.md)
if [ -z "${NN_NCCL_LIB:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libnccl\.so\.2' && [ ! -e /usr/local/cuda/lib64/libnccl.so.2 ]; then
    NN_NCCL_LIB=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null)
    [ -n "$NN_NCCL_LIB" ] && export NN_NCCL_LIB
fi
L="env LD_LIBRARY_PATH=$G/lib"
T0=$(date +%s)
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; nproc; } 2>&1 | tee "$OUT/machine.txt"
for st in $STAGES; do
    case $st in
    tests)
        for t in ${TESTS:-ops model classes catsdogs tf32 bn_dropout pool_act nccl}; do
            echo "== test_cuda_$t ($(($(date +%s) - T0)) s)"
            timeout 240 $L $G/bin/test_cuda_$t >"$OUT/test_$t.log" 2>&1; echo "exit $?" >>"$OUT/test_$t.log"
            grep -E '^(PASS|FAIL|SKIP|#)|exit' "$OUT/test_$t.log"
        done ;;
    sanitize)
        CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
        for spec in ${SAN_SPECS:-memcheck:ops memcheck:model memcheck:classes racecheck:ops memcheck:tf32 racecheck:tf32}; do
            tool=${spec%%:*}; t=${spec#*:}
            # NCCL's communicator setup probes kernels built for other cards (cudaFuncGetAttributes
            # gives "no kernel image" inside ncclCommInitRank, which NCCL handles): API errors
            # are not reported for that test, memory errors are
            api=; [ "$t" = nccl ] && api="--report-api-errors no"
            echo "== $tool test_cuda_$t ($(($(date +%s) - T0)) s)"
            NN_TEST_QUICK=1 timeout 200 $L "$CS" --tool "$tool" $api --error-exitcode 99 $G/bin/test_cuda_$t \
                >"$OUT/san_${tool}_$t.log" 2>&1
            echo "exit $?" >>"$OUT/san_${tool}_$t.log"
            grep -E '^(FAIL)|ERROR SUMMARY|RACECHECK SUMMARY|exit|Error' "$OUT/san_${tool}_$t.log" | head -8
        done ;;
    levers)
        echo "== levers: fusions off (NN_CUDA_FUSE=0) ($(($(date +%s) - T0)) s)"
        for b in 32 256 1024; do
            NN_CUDA_FUSE=0 timeout 60 $L $G/bin/nn bench --device cuda --batch $b --steps 200 --warmup 20 | tail -2 | head -1
        done 2>&1 | tee "$OUT/levers.log" ;;
    profile)
        for b in ${PROFILE_BATCHES:-32 1024}; do
            echo "== ncu per-kernel, batch $b ($(($(date +%s) - T0)) s)"
            # 2 warm-up + 6 timed graph steps + 2 + 6 eager steps = 16 steps profiled
            timeout 120 $L ncu --csv --clock-control none --metrics gpu__time_duration.sum $G/bin/nn bench \
                --device cuda --batch $b --steps 6 --warmup 2 >"$OUT/ncu_$b.csv" 2>/dev/null
            python3 tests/cuda/ncu_summary.py "$OUT/ncu_$b.csv" 16 | tee "$OUT/ncu_$b.txt"
        done ;;
    tf32)
        echo "== test_cuda_tf32 ($(($(date +%s) - T0)) s)"
        timeout 180 $L $G/bin/test_cuda_tf32 >"$OUT/test_tf32.log" 2>&1; echo "exit $?" >>"$OUT/test_tf32.log"
        grep -E '^(PASS|FAIL|SKIP|#)|exit' "$OUT/test_tf32.log"
        echo "== tf32 bench ($(($(date +%s) - T0)) s)"
        for b in 32 256 1024; do
            for tf in 0 1; do
                echo "# batch $b NN_TF32=$tf: nn bench --device cuda --batch $b --steps 300 --warmup 30"
                NN_TF32=$tf timeout 60 $L $G/bin/nn bench --device cuda --batch $b --steps 300 --warmup 30
            done
        done 2>&1 | tee "$OUT/tf32_bench.log" ;;
    profile_nn)
        echo "== profile_nn ($(($(date +%s) - T0)) s)"
        NN="$L $G/bin/nn" OUT=$OUT timeout 150 bash bench/profile_gpu.sh 2>&1 | tee "$OUT/profile_nn.log" ;;
    models)
        echo "== models ($(($(date +%s) - T0)) s)"
        NN="$L $G/bin/nn" OUT=$OUT timeout 300 bash bench/gpu_models.sh 2>&1 | tee "$OUT/models.log" ;;
    accuracy)
        echo "== accuracy ($(($(date +%s) - T0)) s)"
        NN="$L $G/bin/nn" OUT=$OUT/accuracy DATA=local/catsdogs MODELS=${ACC_MODELS:-"models/catdog2.cfg models/catdog_bn.cfg"} \
            EPOCHS=${ACC_EPOCHS:-25} timeout 480 bash bench/accuracy.sh 2>&1 | tee "$OUT/accuracy.log" ;;
    cmd)
        while IFS= read -r c; do
            [ -n "$c" ] || continue
            echo "== $c ($(($(date +%s) - T0)) s)"
            NN="$L $G/bin/nn" G=$G L=$L timeout 300 bash -c "$c" 2>&1 | tee -a "$OUT/cmd.log"
        done <<<"${CMDS:-}" ;;
    nccl)
        echo "== nccl ($(($(date +%s) - T0)) s)"
        NN="$L $G/bin/nn" OUT=$OUT timeout 300 bash bench/nccl_overhead.sh 2>&1 | tee "$OUT/nccl.log" ;;
    oom)
        echo "== oom ($(($(date +%s) - T0)) s)"
        NN="$L $G/bin/nn" timeout 120 bash tests/cuda/oom_check.sh 2>&1 | tee "$OUT/oom.log" ;;
    bench)
        echo "== bench ($(($(date +%s) - T0)) s)"
        NN="$L $G/bin/nn" OUT=$OUT BENCH_E2E=${BENCH_E2E:-0} timeout $((${BUDGET:-570} - ($(date +%s) - T0))) bash bench/gpu_bench.sh 2>&1 | tee "$OUT/bench.log" ;;
    esac
done
echo "== done in $(($(date +%s) - T0)) s; failures:"
grep -h '^FAIL' "$OUT"/test_*.log "$OUT"/san_*.log 2>/dev/null | cut -c1-400
tar -C /tmp --exclude="*.h5" --exclude="*.pt" --exclude="*.csv" -czf "$FINAL/logs.tgz" devwork
