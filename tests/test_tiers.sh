#!/usr/bin/env bash
# test_tiers.sh: the folders' tiers point one way (docs/TOUR.md, "The folders"). Each rule reads
# the #include "..." lines of a folder's sources, resolves each path against the including
# file's folder, and fails naming the file, the line and the header that breaks it:
#  - the engine (nn/, layers/, cuda/) includes nothing of data/, run/ or tools/, and names none
#    of data/'s types or functions outside comments: it trains from a batch source;
#  - layers/ sits below the model and the step: no nn/model.h, nn/step.h, nn/profile.h, cuda/;
#  - the low-level ops (nn/ gemm, elementwise, adam, loss, rng, hash_rng, gridmap, common)
#    include only each other and nn/ctx.h;
#  - data/ includes no model (nn/model.h, nn/step.h, layers/), nor run/ or tools/;
#  - run/ (the training loop, joining data/ and the engine) includes nothing of tools/.
# Usage: bash tests/test_tiers.sh [ROOT]   (ROOT: the tree to check, default the repository)
set -u
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT" || exit 1

# includes FOLDER...: "file:line:resolved header" for every quoted include of the folders'
# sources (recursively), the header relative to ROOT (a path that leaves ROOT stays as written).
includes() {
    local d there=()
    for d in "$@"; do [ -e "$d" ] && there+=("$d"); done
    [ ${#there[@]} -gt 0 ] || return 0
    find "${there[@]}" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort |
    while read -r f; do
        grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r hit; do
            local line=${hit%%:*} inc
            inc=$(sed -E 's/^[^"]*"([^"]*)".*/\1/' <<<"${hit#*:}")
            echo "$f:$line:$(realpath -m --relative-to=. "$(dirname "$f")/$inc")"
        done
    done
}

# listed: the lines of stdin joined with "; ", the first 12 and how many more.
listed() { awk '{ if (NR <= 12) printf "%s%s", (NR > 1 ? "; " : ""), $0 } END { if (NR > 12) printf " (and %d more)", NR - 12 }'; }

# rule NAME PATTERN FOLDER...: FAIL listing every include of the folders whose resolved header
# matches the extended regular expression PATTERN, else PASS.
rule() {
    local name=$1 re=$2 bad; shift 2
    bad=$(includes "$@" | awk -F: -v re="$re" '$3 ~ re')
    if [ -z "$bad" ]; then echo "PASS $name"
    else echo "FAIL $name: $(listed <<<"$bad")"; fi
}

rule engine_includes_no_data_run_tools '^(data|run|tools)/' nn layers cuda
rule layers_below_model_and_step '^(nn/(model|step|profile)\.h|cuda/)' layers
rule data_includes_no_model_run_tools '^(nn/(model|step)\.h|layers/|run/|tools/)' data
rule run_includes_no_tools '^tools/' run

# The low-level ops: their includes stay among themselves (and the context).
low=(nn/gemm.c nn/gemm.h nn/elementwise.c nn/elementwise.h nn/adam.c nn/adam.h nn/loss.c
     nn/loss.h nn/rng.c nn/rng.h nn/hash_rng.h nn/gridmap.c nn/gridmap.h nn/common.c nn/common.h)
allowed='^nn/(gemm|elementwise|adam|loss|rng|hash_rng|gridmap|common|ctx)\.h$'
bad=$(includes "${low[@]}" | awk -F: -v re="$allowed" '$3 !~ re')
if [ -z "$bad" ]; then echo "PASS low_level_ops_below_layers"
else echo "FAIL low_level_ops_below_layers: $(listed <<<"$bad")"; fi

# data/'s types and functions named in the engine's code (comments and strings left out).
names='(^|[^A-Za-z0-9_])(image_cache|aug_params|loader|dataset|cuda_images|(augment|loader|image_cache|dataset)_[a-z_]+)([^A-Za-z0-9_]|$)'
bad=$(find nn layers cuda -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort |
      xargs grep -nE "$names" |
      awk -F: '{ code = substr($0, length($1) + length($2) + 3); sub(/\/\/.*/, "", code);
                 gsub(/"([^"\\]|\\.)*"/, "", code);
                 if (code ~ re) print $1 ":" $2 }' re="$names")
if [ -z "$bad" ]; then echo "PASS engine_names_no_data_types"
else echo "FAIL engine_names_no_data_types: data/'s names in the engine's code at $(listed <<<"$bad")"; fi
