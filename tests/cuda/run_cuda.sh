#!/usr/bin/env bash
# run_cuda.sh: runs the CUDA test binaries given, prints their PASS/FAIL/SKIP lines and ends with
# "N passed, N failed, N skipped" (tests/run.sh does the same but also runs every C-path script,
# which make test already covers). A binary that crashes without a FAIL line counts as a failure.
set -u
pass=0; fail=0; skip=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
for bin in "$@"; do
    case $bin in *.sh) bash "$bin" >"$log" 2>&1 ;; *) "$bin" >"$log" 2>&1 ;; esac
    rc=$?
    cat "$log"
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "FAIL $bin: exited with status $rc"; f=$((f + 1)); fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
echo
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
