#!/usr/bin/env bash
# Builds, on the (GPU-less) development machine, everything a GPU session needs in one folder that the device
# tool can carry (64 MiB in all): the static gpt2 binary, the OpenBLAS it links, kernels precompiled for
# sm_90 (used when the GPU machine has no NVRTC), and tinyshakespeare shards for the training checks.
# Usage: scripts/gpu-bundle.sh [OUT=.gpu-bundle]
# then, with 15 minutes of device time: run(command: "scripts/gpu-session.sh all", timeout_s: 600, carry: [".gpu-bundle"]),
# and if 4 minutes or more are left, run(command: "GPU_SESSION_SECONDS=S scripts/gpu-session.sh sanitize", timeout_s: S + 30)
# with S 30 s under what is left (see gpu-session.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.gpu-bundle}"
rm -rf "$out" && mkdir -p "$out/lib" "$out/kernels" "$out/data"

# (touched: an incremental build skips the plugin that records the commit, swift-package-manager issue 5476, and the
# bundle would name an earlier one, which gpu-session.sh then warns of)
touch Package.swift
swift build -c release --static-swift-stdlib --product gpt2
cp .build/release/gpt2 "$out/gpt2" && strip "$out/gpt2"
# Shared libraries the binary still needs beyond glibc/libstdc++ (OpenBLAS and its Fortran runtime).
for lib in $(ldd "$out/gpt2" | awk '/libopenblas|libgfortran|libquadmath/ {print $3}'); do
    cp -L "$lib" "$out/lib/"
done

# Kernels for the H100/H200 (sm_90), in case the GPU machine has no NVRTC (GPT2_KERNEL_IMAGES).
if [ -z "${NVRTC_LIB:-}" ]; then
    cuda_root="$(python3 -c 'import nvidia.cu13 as m; print(list(m.__path__)[0])' 2>/dev/null || true)"
    [ -n "$cuda_root" ] && export NVRTC_LIB="$cuda_root/lib/libnvrtc.so.13" CUDA_INCLUDE="$cuda_root/include"
fi
"$out/gpt2" kernels --arch sm_90 --out "$out/kernels" || echo "warning: no NVRTC here; the GPU machine must compile the kernels"

# tinyshakespeare shards, tokenised offline from the shared mirror.
export GPT2_DATA_MIRROR="${GPT2_DATA_MIRROR:-$(cd .. && pwd)/shared/data}"
[ -d "$GPT2_DATA_MIRROR" ] || GPT2_DATA_MIRROR=/work/shared/data
"$out/gpt2" prepare --out "$out/data/tinyshakespeare" 2>&1 | tail -2 || echo "warning: could not prepare tinyshakespeare"
du -sh "$out" "$out"/*
# The device tool carries at most 64 MiB with the tracked files (~2.5 MiB): say so here, not when the session starts.
size=$(du -sm "$out" | cut -f1)
[ "$size" -le 60 ] || echo "warning: $out is $size MiB; with the repository's files it may not fit the device tool's 64 MiB" >&2
