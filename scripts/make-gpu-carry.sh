#!/usr/bin/env bash
# Builds what a GPU machine without Swift needs to run gpt2: a stripped binary with the Swift runtime
# linked in, plus OpenBLAS and its runtime libraries (the GPU machines do not have them), in carry/.
# There: LD_LIBRARY_PATH=carry/lib carry/gpt2 info
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib
rm -rf carry && mkdir -p carry/lib
cp .build/release/gpt2 carry/gpt2
strip carry/gpt2
for library in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0; do
    path="$(ldconfig -p | awk -v name="$library" '$1 == name { print $NF; exit }')"
    [ -n "$path" ] || { echo "error: $library not found (apt-get install libopenblas-dev)" >&2; exit 1; }
    cp -L "$path" carry/lib/
done
du -sh carry carry/gpt2 carry/lib/*
