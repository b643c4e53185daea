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
