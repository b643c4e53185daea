#!/usr/bin/env bash
# run.sh (make fuzz): runs each libFuzzer target for FUZZ_SECONDS from its committed seed corpus
# (tests/fuzz/corpus/NAME/; the h5 target also from the Keras fixtures tests/fixtures/*.h5),
# keeps what it finds in FUZZ_BUILD/corpus/NAME/, and prints one line per target: executions,
# seconds, corpus size, crashes. A crash leaves its input in FUZZ_BUILD/artifacts/NAME/ and
# fails the run; commit it under tests/fuzz/regressions/NAME/ with the fix (tests/README.md).
# The h5 target runs in libFuzzer's fork mode with timeouts counted, not fatal: libhdf5 (1.10)
# loops forever on some corrupt global heaps, which the loader ends with its probe child's
# alarm (nn/h5_probe.c) and reports as a corrupt file; the fuzzer then moves on to the next input.
# Usage: FUZZ_BUILD=build-fuzz FUZZ_SECONDS=60 tests/fuzz/run.sh image cfg h5
set -u
cd "$(dirname "$0")/../.."
B=${FUZZ_BUILD:-build-fuzz}
S=${FUZZ_SECONDS:-60}
export ASAN_OPTIONS="suppressions=$PWD/tests/suppressions/asan.supp:detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/suppressions/ubsan.supp"   # fatal, as in make test SANITIZE=1
status=0
summary=""
for t in "$@"; do
    exe="$B/fuzz_$t"
    [ -x "$exe" ] || { echo "run.sh: $exe not built (make fuzz-build)"; exit 2; }
    mkdir -p "$B/corpus/$t" "$B/artifacts/$t"
    seeds="tests/fuzz/corpus/$t"
    if [ "$t" = h5 ]; then
        mkdir -p "$B/seeds-h5" && cp tests/fixtures/*.h5 "$B/seeds-h5/" && seeds="$seeds $B/seeds-h5"
    fi
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    mode="-timeout=30"; ok_rc=0
    [ "$t" = h5 ] && mode="-fork=1 -ignore_timeouts=1 -timeout=15" && ok_rc=70   # 70: timeouts seen
    log="$B/fuzz_$t.log"
    before=$(ls "$B/artifacts/$t" | grep -vc '^timeout-')
    # -malloc_limit_mb: an input that makes the code ask for more than 1 GiB at once is a finding
    # (a size taken from the input unchecked); -timeout: one input may take 30 s at most.
    # shellcheck disable=SC2086
    "$exe" -max_total_time="$S" $mode -rss_limit_mb=3072 -malloc_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="$B/artifacts/$t/" $dict "$B/corpus/$t" $seeds > "$log" 2>&1
    rc=$?
    # single process: "Done N runs in S second(s)"; fork mode: "#N: cov: ... time: Ss"
    runs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p; s/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p; s/^#[0-9]*: cov:.* time: \([0-9]*\)s.*/\1/p' "$log" | tail -1)
    hangs=$(sed -n 's/^#[0-9]*: cov:.* oom\/timeout\/crash: [0-9]*\/\([0-9]*\)\/.*/\1/p' "$log" | tail -1)
    units=$(ls "$B/corpus/$t" | wc -l)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    after=$(ls "$B/artifacts/$t" | grep -vc '^timeout-')
    line=$(printf 'fuzz_%-6s %9s runs in %4s s, %4s corpus units, coverage %4s, %d crashes%s' \
        "$t" "${runs:-?}" "${secs:-?}" "$units" "${cov:-?}" $((after - before)) \
        "${hangs:+, $hangs inputs that hang libhdf5 (ended by the loader alarm)}")
    echo "$line"
    summary="$summary$line"$'\n'
    if { [ "$rc" -ne 0 ] && [ "$rc" -ne "$ok_rc" ]; } || [ "$after" -gt "$before" ]; then
        status=1
        echo "FAIL fuzz_$t (status $rc): see $log and $B/artifacts/$t/"
        grep -m1 -A12 -E 'ERROR|==ABORTING|deadly signal|fuzz_[a-z0-9]+: ' "$log" | head -20
    fi
done
printf '\n%s' "$summary" > "$B/summary.txt"
exit $status
