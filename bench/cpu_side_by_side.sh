#!/usr/bin/env bash
# gpt2-swift against the PyTorch reference on this CPU, in one run: for each config, the two alternate
# ROUNDS times (so background load hits both alike); every JSON line is printed, then all of them as a table with
# the tokens/s ratio (bench/results_table.py).
# Usage: bench/cpu_side_by_side.sh PATH/TO/gpt2 PATH/TO/python-with-torch [ROUNDS]
# Environment: THREADS (default 2); CONFIGS, entries "model micro-batch seq steps warmup" separated by ';'
# (default "d12 4 64 8 2;small 4 256 8 2"); BEFORE, a second gpt2 binary (the build before a change) that runs
# first in each round, its lines marked "binary": "before" (the others "after").
# Example: BEFORE=/tmp/gpt2-before CONFIGS="d12 1 1024 3 1" bench/cpu_side_by_side.sh .build/release/gpt2 python3 2
set -euo pipefail
gpt2="${1:?usage: $0 PATH/TO/gpt2 PYTHON [ROUNDS]}"
python="${2:?usage: $0 PATH/TO/gpt2 PYTHON [ROUNDS]}"
rounds="${3:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
threads="${THREADS:-2}"

bench() {   # bench LABEL BINARY: one gpt2 bench run, its JSON line marked with LABEL
    "$2" bench --device cpu --model "$model" --micro-batch "$batch" --seq "$seq" \
        --steps "$steps" --warmup "$warmup" --threads "$threads" --json --no-record | sed "s/^{/{\"binary\": \"$1\", /"
}

lines="$(mktemp)"
trap 'rm -f "$lines"' EXIT
IFS=';' read -r -a configs <<<"${CONFIGS:-d12 4 64 8 2;small 4 256 8 2}"
for config in "${configs[@]}"; do
    read -r model batch seq steps warmup <<<"$config"
    for _ in $(seq "$rounds"); do
        if [ -n "${BEFORE:-}" ]; then bench before "$BEFORE"; fi
        bench after "$gpt2"
        "$python" "$here/pytorch_reference.py" --device cpu --model "$model" --micro-batch "$batch" \
            --seq "$seq" --steps "$steps" --warmup "$warmup" --threads "$threads" --json
    done
done | tee "$lines"
echo
python3 "$here/results_table.py" "$lines"
