#!/usr/bin/env bash
# test_mpi.sh: data-parallel training under mpirun (issue 16) on the C path, with 2 (and 3) ranks
# on CI's 2 cores, a tiny model and the synthetic set (seconds):
#  1 `mpirun -np 2 nn train` ends with the weights and Adam state of one process on the same
#    global batches (3 epochs, 15 steps), to float-summation tolerance: for every tensor of the
#    saved .h5, max |a - b| <= 1e-5 * max |a| (see TOL below); the CSV log's loss and accuracy
#    agree; the same for a batch that does not divide by 2, for 3 ranks, and for -np 1 (exact);
#    and for a model with dropout (each rank draws its samples' part of one process's mask);
#    and a run on other batches is told apart (the comparison can fail)
#  2 rank 0 alone prints (every line once) and saves; the output piped is plain lines
#  3 Ctrl-C (SIGINT to mpirun, which sends SIGTERM to the ranks): every rank stops at the same
#    step, rank 0 saves the checkpoint, nothing hangs; --resume with 2 ranks then ends with the
#    same weights, bit for bit, as a 2-rank run never interrupted
#  4 a rank killed (SIGKILL): the job ends within seconds, with one line from nn naming the last
#    checkpoint, and no rank left running
#  5 a setup error on one rank only is said once, by that rank ("rank 1 of 2: ..."); one every
#    rank makes is said once, by rank 0; an nn whose MPI plugin is missing says so in one line
# The tolerance: a rank's gradient is the sum over its half of the batch, and the halves are
# added by MPI_Allreduce, so the sums run in another order than one process's: float32 results
# that differ by a few units in the last place (relative 1e-7) at each step. Adam's update is
# lr * m / (sqrt(v) + eps), at most lr (1e-3) in size, and moves by about lr times the relative
# change of the gradient: after 15 steps the weights and moments differ by under 1e-6 of their
# largest value (measured: 2e-7). 1e-5 leaves room for other CPUs' code paths, while any error
# of the all-reduce, the shards or the scaling shows at once: Adam's second moment grows with
# the gradient's square (a gradient off by 2x is 4x there), and a lost or doubled share moves
# the weights by lr a step, a thousand times the tolerance.
# Runs from the repository root; the CLI is ${NN:-bin/nn}, its MPI plugin nn-mpi.so beside it.
set -u
NN=${NN:-bin/nn}
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
test_begin test_mpi

if ! command -v mpirun >/dev/null 2>&1; then
    skip mpi "mpirun not found: install openmpi-bin and libopenmpi-dev (tools/deps.sh) to test data-parallel training"
    exit 0
fi
if [ ! -e "$(dirname "$NN")/nn-mpi.so" ]; then
    skip mpi "$(dirname "$NN")/nn-mpi.so is missing: this nn was built without MPI (no libopenmpi-dev, or NO_MPI=1)"
    exit 0
fi
export OMP_NUM_THREADS=1
# mpirun as root (CI) needs --allow-run-as-root; --oversubscribe lets 3 ranks share 2 cores;
# -q leaves Open MPI's help banners out (the tests read nn's lines); no core binding, and no
# single-copy shared memory (containers without ptrace refuse it: "Read -1, expected ...").
# Under AddressSanitizer (make test SANITIZE=1) LeakSanitizer is off in the ranks: Open MPI
# keeps what MPI_Init allocates, and unloads its components before the check, so their
# frames cannot be named in a suppression (nn's own leaks are the other tests' business).
# (Set in mpirun's environment, which every rank inherits: `-x` would reach the first app
# context of an MPMD line only.)
MPIARGS=(--allow-run-as-root --oversubscribe -q --bind-to none --mca btl_vader_single_copy_mechanism none)
RANKENV=()
[ -n "${ASAN_OPTIONS:-}" ] && RANKENV=("ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0")
mpi() { env "${RANKENV[@]}" timeout -k 5 120 mpirun "${MPIARGS[@]}" "$@"; }
# mpi_bg ARGS...: the same in the background, $bg its pid (timeout's) and $mp mpirun's; waits
# until the ranks train epoch 2 or 3 ($EPOCH) of 40.
mpi_bg() {
    env "${RANKENV[@]}" timeout -k 5 120 mpirun "${MPIARGS[@]}" "$@" --epochs 40 >"$OUTF" 2>"$ERRF" &
    bg=$!
    for _ in $(seq 600); do grep -q "Epoch $EPOCH/40" "$OUTF" 2>/dev/null && break; sleep 0.05; done
    mp=$(pgrep -P "$bg" | head -1)
}

# same A.h5 B.h5 TOL: every dataset of two saved models agrees: integers exactly, each float
# tensor to max |a - b| <= TOL * max |a| (TOL 0: bit for bit). Prints the worst tensor.
same() {
    $PY - "$@" <<'EOF'
import sys, h5py, numpy as np
def load(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, np.asarray(o[()])) if isinstance(o, h5py.Dataset) else None)
    return out
a, b, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
if set(a) != set(b): sys.exit("datasets differ: %s" % sorted(set(a) ^ set(b)))
worst, where = 0.0, "-"
for k in sorted(a):
    x, y = a[k], b[k]
    if x.shape != y.shape: sys.exit("%s: shapes %s and %s" % (k, x.shape, y.shape))
    if x.dtype.kind != "f":
        if not np.array_equal(x, y): sys.exit("%s: %s and %s" % (k, x, y))
        continue
    d = float(np.abs(x.astype(np.float64) - y).max()) if x.size else 0.0
    scale = float(np.abs(x).max()) if x.size else 0.0
    r = d / scale if scale > 0 else d
    if r > worst: worst, where = r, k
print("worst %.3g (%s)" % (worst, where))
sys.exit(0 if worst <= tol else 1)
EOF
}
# logs_agree A.csv B.csv: loss, accuracy, val_loss, val_accuracy of every epoch within 1e-5
logs_agree() {
    $PY - "$@" <<'EOF'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
assert len(a) == len(b) > 0, (len(a), len(b))
for ra, rb in zip(a, b):
    for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert abs(float(ra[k]) - float(rb[k])) <= 1e-5, (ra["epoch"], k, ra[k], rb[k])
EOF
}
TOL=1e-5

cat >tiny.cfg <<'EOF'
input 16 16 3
conv2d filters=4 kernel=3 activation=relu
maxpool2d pool=2
flatten
dense units=8 activation=relu
dense units=1 activation=sigmoid
EOF
# 65 images at batch 16: 5 steps an epoch, the last of 1 image (rank 0 has none: it still joins
# the all-reduce and Adam); validation 16 images, 8 a rank
A=(train --model tiny.cfg --synthetic 65 --batch 16 --epochs 3 --device cpu --seed 3)

# --- 1, 2: the same weights as one process
"$NN" "${A[@]}" --out one.h5 --log one.csv >one.out 2>one.err ||
    { fail mpi_setup "one process: $(tail -3 one.err)"; exit 1; }
mpi -np 2 "$NN" "${A[@]}" --out two.h5 --log two.csv >two.out 2>two.err
rc=$?
why="status $rc: $(tail -5 two.err)"; check mpi_two_ranks_train test $rc -eq 0
why="$(same one.h5 two.h5 $TOL 2>&1)"; check mpi_same_weights_as_one_process same one.h5 two.h5 $TOL
why="$(logs_agree one.csv two.csv 2>&1 | tail -1)"; check mpi_same_metrics_as_one_process logs_agree one.csv two.csv
why="$(grep -c . two.out) lines: $(head -c 600 two.out)"
check mpi_rank0_prints_once test "$(grep -c 'Epoch 1/3$' two.out)" -eq 1 -a "$(grep -c 'Model saved to two.h5' two.out)" -eq 1 \
    -a "$(grep -c 'Found 65 images' two.out)" -eq 1
check mpi_says_data_parallel has two.out "Data-parallel over 2 ranks: each trains on 8 of the 16 images of every step; gradients summed by MPI"
check mpi_plain_lines_when_piped test -z "$(tr -d '\n' <two.out | tr -cd '\r')"
why="$(cat two.err)"; check mpi_quiet_stderr test ! -s two.err
"$NN" train --model tiny.cfg --synthetic 65 --batch 8 --epochs 3 --device cpu --seed 3 --out other.h5 >/dev/null 2>&1
why="a run on batches of 8 passed for one on batches of 16: $(same one.h5 other.h5 $TOL 2>&1)"
check mpi_comparison_tells_runs_apart test "$(same one.h5 other.h5 $TOL >/dev/null 2>&1; echo $?)" -eq 1

# dropout: each rank's mask is the part of the one-process mask for its samples (the mask
# counts elements in the global batch from the rank's first sample), so the weights agree too
cat >drop.cfg <<'EOF2'
input 16 16 3
conv2d filters=4 kernel=3 activation=relu
maxpool2d pool=2
dropout rate=0.3
flatten
dense units=8 activation=relu
dropout rate=0.5
dense units=1 activation=sigmoid
EOF2
D=(train --model drop.cfg --synthetic 65 --batch 16 --epochs 2 --device cpu --seed 3)
"$NN" "${D[@]}" --out drop1.h5 >/dev/null 2>&1
mpi -np 2 "$NN" "${D[@]}" --out drop2.h5 >drop2.out 2>drop2.err
rc=$?
why="status $rc: $(tail -3 drop2.err) $(same drop1.h5 drop2.h5 $TOL 2>&1)"
check mpi_dropout_same_weights_as_one_process same drop1.h5 drop2.h5 $TOL

# --batch 15 over 2 ranks: 7 and 8 images a step (the last batch of 5: 2 and 3)
B=(train --model tiny.cfg --synthetic 65 --batch 15 --epochs 2 --device cpu --seed 4)
"$NN" "${B[@]}" --out odd1.h5 >/dev/null 2>&1
mpi -np 2 "$NN" "${B[@]}" --out odd2.h5 >odd2.out 2>&1
why="$(tail -3 odd2.out; same odd1.h5 odd2.h5 $TOL 2>&1)"; check mpi_odd_batch_same_weights same odd1.h5 odd2.h5 $TOL
check mpi_odd_batch_says_sizes has odd2.out "7 or 8: --batch 15 does not divide by 2"
# 3 ranks (5, 5 and 6 images; the last batch of 1 leaves two ranks without)
mpi -np 3 "$NN" "${A[@]}" --out three.h5 >three.out 2>&1
why="$(tail -3 three.out; same one.h5 three.h5 $TOL 2>&1)"; check mpi_three_ranks_same_weights same one.h5 three.h5 $TOL
# one rank: the plain loop (MPI initialised, nothing to sum), bit for bit
mpi -np 1 "$NN" "${A[@]}" --out np1.h5 >np1.out 2>&1
why="$(tail -3 np1.out; same one.h5 np1.h5 0 2>&1)"; check mpi_one_rank_is_one_process same one.h5 np1.h5 0

# --- 3: Ctrl-C, then --resume: 200 steps an epoch; SIGINT once epoch 3 has begun. mpirun sends
# SIGTERM to the ranks a second later; they finish the step, agree, and rank 0 saves.
BIG=(train --model tiny.cfg --synthetic 1600 --batch 8 --device cpu --seed 5)
OUTF=ck.out ERRF=ck.err EPOCH=3 mpi_bg -np 2 "$NN" "${BIG[@]}" --out ck.h5
kill -INT "$mp" 2>/dev/null   # as Ctrl-C in a terminal: mpirun's process group is not the ranks'
wait "$bg"; rc=$?; bg=""
line=$(grep -E 'Interrupted (at|after) epoch' ck.out)
why="status $rc, no 'Interrupted' line: $(tail -c 400 ck.out) $(tail -3 ck.err)"
check mpi_sigint_stops_and_saves test -n "$line" -a -e ck.h5 -a "$rc" -ne 124
why="$(grep -c Interrupted ck.out) lines"; check mpi_sigint_said_once test "$(grep -c Interrupted ck.out)" -eq 1
# The run to compare with: up to the end of the epoch after the one interrupted.
E=$(echo "$line" | sed -E 's/.*Interrupted (at|after) epoch ([0-9]+).*/\2/')
K=$((${E:-1} + 1))
mpi -np 2 "$NN" "${BIG[@]}" --epochs "$K" --resume ck.h5 --out ck.h5 >res.out 2>&1
rc=$?
mpi -np 2 "$NN" "${BIG[@]}" --epochs "$K" --out ref.h5 >ref.out 2>&1
why="status $rc ($line; to epoch $K): $(tail -3 res.out) $(same ref.h5 ck.h5 0 2>&1)"
check mpi_resume_equals_uninterrupted same ref.h5 ck.h5 0
check mpi_resume_says_where has res.out "Resuming ck.h5"

# --- 4: kill -9 of rank 1 while training
OUTF=kill.out ERRF=kill.err EPOCH=2 mpi_bg -np 2 "$NN" "${BIG[@]}" --out kill.h5
ranks() {   # our ranks (this folder's nn processes), with OMPI_COMM_WORLD_RANK=$1 if given
    for p in $(pgrep -x nn); do
        [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$T" ] || continue
        [ -z "${1:-}" ] || tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" || continue
        echo "$p"
    done
}
victim=$(ranks 1)
t0=$SECONDS
[ -n "$victim" ] && kill -9 $victim
wait "$bg"; rc=$?; bg=""
took=$((SECONDS - t0))
why="rank 1 (pid ${victim:-none}): status $rc after ${took}s"
check mpi_killed_rank_ends_job test -n "$victim" -a "$rc" -ne 0 -a "$rc" -ne 124 -a "$took" -le 30
why="stderr: $(cat kill.err)"
check mpi_killed_rank_one_line test "$(grep -c . kill.err)" -eq 1
check mpi_killed_rank_names_checkpoint has kill.err "^nn train: mpirun ended the job while rank 0 waited for the others .*--resume kill\.h5$"
sleep 0.5
why="left running: $(ranks)"; check mpi_killed_no_rank_left test -z "$(ranks)"

# --- 5: setup errors
"$NN" train --model tiny.cfg --synthetic 16 --epochs 1 --device cpu --write-synthetic syn --out syn.h5 >/dev/null 2>&1
S=(train --model tiny.cfg --epochs 1 --device cpu --out bad.h5)
EXPECT_NO_OUT='Epoch 1/'
expect_error mpi_one_rank_error_said_by_it "^nn train: rank 1 of 2: nope: no such folder$" \
    mpi -np 1 "$NN" "${S[@]}" --data syn/train : -np 1 "$NN" "${S[@]}" --data nope
expect_error mpi_every_rank_error_said_once "^nn train: nope: no such folder$" mpi -np 2 "$NN" "${S[@]}" --data nope
expect_error mpi_batch_below_ranks "^nn train: --batch 2 is smaller than the 3 ranks" mpi -np 3 "$NN" "${S[@]}" --batch 2
expect_error mpi_plugin_missing "MPI plugin cannot be loaded.*nowhere/nn-mpi\.so" \
    mpi -np 2 -x NN_MPI_PLUGIN=/nowhere/nn-mpi.so "$NN" "${S[@]}"
EXPECT_NO_OUT=''
