#!/usr/bin/env bash
# run.sh: runs every test binary given and every tests/test_*.sh and tests/test_*.py, counts
# their PASS/FAIL/SKIP lines and ends with "N passed, N failed, N skipped". A binary that
# crashes or exits non-zero without printing a FAIL line counts as one failure.
# Usage: tests/run.sh BINARY...   (make test passes the C test binaries)
set -u
cd "$(dirname "$0")/.."
pass=0; fail=0; skip=0
log=$(mktemp); trap 'rm -f "$log"' EXIT

run_one() {
    local name=$1; shift
    "$@" >"$log" 2>&1
    local rc=$?
    cat "$log"
    local p f s
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exited with status $rc"
        f=$((f + 1))
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}

for bin in "$@"; do run_one "$bin" "$bin"; done
for t in tests/test_*.sh; do [ -e "$t" ] && run_one "$t" bash "$t"; done
for t in tests/test_*.py; do [ -e "$t" ] && run_one "$t" /usr/bin/python3 "$t"; done
echo
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
