#!/usr/bin/env bash
# gpt2-swift against the PyTorch reference on this CPU, in one run: for each config, the two alternate
# ROUNDS times (so background load hits both alike) and every JSON line is printed.
# Usage: bench/cpu_side_by_side.sh PATH/TO/gpt2 PATH/TO/python-with-torch [ROUNDS]
set -euo pipefail
gpt2="${1:?usage: $0 PATH/TO/gpt2 PYTHON [ROUNDS]}"
python="${2:?usage: $0 PATH/TO/gpt2 PYTHON [ROUNDS]}"
rounds="${3:-3}"
here="$(cd "$(dirname "$0")" && pwd)"
threads="${THREADS:-2}"

for config in "d12 4 64" "small 4 256"; do
    read -r model batch seq <<<"$config"
    for _ in $(seq "$rounds"); do
        "$gpt2" bench --device cpu --model "$model" --micro-batch "$batch" --seq "$seq" \
            --steps 8 --warmup 2 --threads "$threads" --json
        "$python" "$here/pytorch_reference.py" --device cpu --model "$model" --micro-batch "$batch" \
            --seq "$seq" --steps 8 --warmup 2 --threads "$threads" --json
    done
done
