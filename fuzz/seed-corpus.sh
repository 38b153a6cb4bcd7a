#!/usr/bin/env bash
# Build the seed corpus from the bundled captures: task.json, NUL, stats file(s), joined.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
corpus=corpus/parse_compute_format
mkdir -p "$corpus"
n=0
for dir in ../testdata/parity/ancestor-example ../testdata/ecs/*/*/; do
    [ -f "$dir/task.json" ] || continue
    out="$corpus/seed-$n"
    cat "$dir/task.json" > "$out"
    for stats in "$dir"/stats*.json; do
        printf '\0' >> "$out"
        cat "$stats" >> "$out"
    done
    n=$((n + 1))
done
# Single files (task-only or stats-only captures) as they are.
for file in ../testdata/ecs/*/*.json; do
    cp "$file" "$corpus/seed-$n"
    n=$((n + 1))
done
echo "$n seeds in fuzz/$corpus"
