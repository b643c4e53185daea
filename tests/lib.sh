# lib.sh: what the shell tests share, sourced at their top (tests/run.sh runs each from the
# repository root): a private folder, and the PASS / FAIL / SKIP lines tests/run.sh counts.

# test_begin NAME: NN made absolute, ROOT the folder we started in, a fresh folder T (removed at
# exit together with the background job $bg, if one is running) entered, two OpenMP threads
# unless the caller says otherwise.
test_begin() {
    NN=$(cd "$(dirname "$NN")" && pwd)/$(basename "$NN")
    ROOT=$(pwd)
    T=$(mktemp -d "/tmp/$1.XXXXXX")
    bg=""
    trap '[ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; rm -rf "$T"' EXIT
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
    cd "$T" || exit 1
}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }
# check NAME CMD...: PASS when CMD succeeds, else FAIL with $why (cleared after each check).
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n" "${why:-condition failed: $*}"; fi; why=""; }
has() { grep -qE -- "$2" "$1"; }
# The model file loads (nn summary accepts it).
loads() { "$NN" summary "$1" >/dev/null 2>&1; }

# expect_error NAME RE CMD...: CMD fails as nn should on bad input: status 1 or 2 (not 0, not a
# crash), exactly one stderr line, matching RE; and nothing on stdout matching $EXPECT_NO_OUT
# (case-insensitive; each script says what must not have happened: work begun, a nan printed).
EXPECT_NO_OUT=""
expect_error() {
    local n=$1 re=$2; shift 2
    "$@" >"$T/err.out" 2>"$T/err.txt"
    local rc=$? lines
    lines=$(grep -c . "$T/err.txt")
    if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then fail "$n" "status $rc (want 1 or 2): $(head -c 300 "$T/err.txt")"
    elif [ "$lines" -ne 1 ]; then fail "$n" "$lines lines on stderr (want one): $(head -c 400 "$T/err.txt")"
    elif ! grep -qE -- "$re" "$T/err.txt"; then fail "$n" "stderr does not match /$re/: $(cat "$T/err.txt")"
    elif [ -n "$EXPECT_NO_OUT" ] && grep -qiE -- "$EXPECT_NO_OUT" "$T/err.out"; then
        fail "$n" "stdout holds /$EXPECT_NO_OUT/: $(head -c 300 "$T/err.out")"
    else pass "$n"; fi
}
