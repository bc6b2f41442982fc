#!/usr/bin/env bash
# Checkpoint save and load time of two gpt2 binaries side by side, alternating (e.g. before and after a change to
# what checkpoints hold):
#   bench/checkpoint_io.sh OLD_GPT2 NEW_GPT2 DATA_DIR [MODEL] [ROUNDS]
# Each binary trains its own run of one step; then each round resumes it for one more step (load, one step at
# B=1 T=64, save) and samples one token from it (load, one forward). Files stay in the page cache, so the times
# show the CPU work around the reads and writes rather than the disk. Needs the GPT-2 encoding files (a mirror).
set -euo pipefail
old=$1 new=$2 data=$3 model=${4:-d12} rounds=${5:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

seconds() {   # wall seconds of the command, its output dropped
    local start=$EPOCHREALTIME
    "$@" >/dev/null 2>&1
    python3 -c "print(f'{$EPOCHREALTIME - $start:.2f}')"
}

for name in old new; do
    "${!name}" train --model "$model" --data "$data" --out "$work/$name" --steps 1 --micro-batch 1 --seq 64 \
        --eval-every 0 --sample-every 0 --threads 2 >/dev/null 2>&1
done
echo "| round | binary | resume, 1 step, save (s) | sample 1 token (s) |"
echo "|---|---|---|---|"
for round in $(seq "$rounds"); do
    for name in old new; do
        resume=$(seconds "${!name}" train --resume "$work/$name" --steps $((round + 1)))
        sample=$(seconds "${!name}" sample --checkpoint "$work/$name" --tokens 1 --prompt Hello --temperature 0 --threads 2)
        echo "| $round | $name | $resume | $sample |"
    done
done
du -sh "$work/new/ckpt_$((rounds + 1))" | sed 's/^/checkpoint size: /'
