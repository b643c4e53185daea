#!/usr/bin/env bash
# test_valgrind.sh: a short train + predict run of the C path under valgrind's memcheck: no
# invalid read or write, no use of uninitialised memory, no leak (definite or indirect) in nn or
# in the child that reads the model file (nn/h5_probe.c). The article's CNN on 16 synthetic images (two steps of
# 8, validation on 4), then predict on two of them: about 20 s on one core.
# OpenMP's thread pool keeps one block "possibly lost" (a thread's TLS); only definite and
# indirect leaks count, so no suppression file is needed (tests/suppressions/valgrind.supp
# holds none and is passed so that one can be added where a libgomp version needs it).
# Skipped for a sanitizer build (valgrind cannot run ASan binaries) and where valgrind is absent.
# Run from the repository root; the CLI is ${NN:-bin/nn}. make valgrind runs it on a NO_CUDA build.
set -u
NN=${NN:-bin/nn}
NN=$(cd "$(dirname "$NN")" && pwd)/$(basename "$NN")
SUPP=$(pwd)/tests/suppressions/valgrind.supp
T=$(mktemp -d /tmp/test_valgrind.XXXXXX)
trap 'rm -rf "$T"' EXIT

if ! command -v valgrind >/dev/null; then
    echo "SKIP valgrind_train: valgrind is not installed (make deps)"; exit 0
fi
if ldd "$NN" 2>/dev/null | grep -q libasan || nm "$NN" 2>/dev/null | grep -q __asan_init; then
    echo "SKIP valgrind_train: $NN is a sanitizer build (valgrind cannot run it)"; exit 0
fi
VG=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --suppressions="$SUPP" --num-callers=20)
export OMP_NUM_THREADS=2
cd "$T"

# vg NAME LOG CMD...: PASS when valgrind ran the command cleanly in every process it followed.
vg() {
    local name=$1 log=$2; shift 2
    "${VG[@]}" --log-file="$log.%p" "$@" >"$log.out" 2>"$log.err"
    local rc=$?
    local errs leaks
    errs=$(cat "$log".[0-9]* | grep -c 'ERROR SUMMARY: [1-9]')
    leaks=$(cat "$log".[0-9]* | grep -cE '(definitely|indirectly) lost: [1-9]')
    if [ "$rc" -ne 0 ] || [ "$errs" -ne 0 ] || [ "$leaks" -ne 0 ]; then
        echo "FAIL $name: status $rc, $errs processes with errors, $leaks with leaks: $(cat "$log.err" | head -3)"
        grep -hA12 -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|[0-9,]+ bytes in [0-9,]+ blocks are (definitely|indirectly))' "$log".[0-9]* | head -40
    else
        echo "PASS $name ($(ls "$log".[0-9]* | wc -l) processes, 0 errors, 0 leaks)"
    fi
}

vg valgrind_train train "$NN" train --synthetic 16 --epochs 1 --batch 8 --device cpu --threads 2 \
    --out vg.h5 --write-synthetic syn
imgs=$(ls syn/val/vertical/*.png syn/val/horizontal/*.png 2>/dev/null | head -2)
if [ -s vg.h5 ] && [ -n "$imgs" ]; then
    # shellcheck disable=SC2086
    vg valgrind_predict predict "$NN" predict vg.h5 $imgs
    why=$(cat predict.out)
    [ "$(grep -c '  0\.[0-9]*$' predict.out)" -eq 2 ] && echo "PASS valgrind_predict_output" \
        || echo "FAIL valgrind_predict_output: $why"
else
    echo "FAIL valgrind_predict: the training run left no model or images to predict on"
fi
