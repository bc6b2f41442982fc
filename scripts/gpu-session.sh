#!/usr/bin/env bash
# Everything a GPU session runs, in one command: what the machine has (driver, toolkit, glibc, where NVRTC and
# cuBLASLt live), `gpt2 info`, the CUDA parity self-test, and the training benchmark on the GPU.
# Usage (on the GPU machine, from the repository root): scripts/gpu-session.sh [BUNDLE=.gpu-bundle]
# The bundle comes from scripts/gpu-bundle.sh. Each step runs even if an earlier one failed; exit status 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle="${1:-.gpu-bundle}"
gpt2="$bundle/gpt2"
status=0
step() { echo; echo "=== $*"; }
run() { "$@" || { echo "FAILED ($?): $*"; status=1; }; }

step machine
nvidia-smi || status=1
nvcc --version 2>/dev/null || echo "nvcc: not installed"
ldd --version | head -1
step libraries
find / \( -name 'libnvrtc.so*' -o -name 'libcublasLt.so*' -o -name 'cuda_bf16.h' -o -name 'libnvrtc-builtins.so*' \) \
    -not -path '/proc/*' 2>/dev/null | head -20

# Point gpt2 at what exists: a toolkit in /usr/local/cuda (found by default, nothing to set), else the pip
# wheels of a PyTorch install (NVRTC and headers from one wheel family), else the bundle's cubins.
first() { find / -name "$1" -not -path '/proc/*' 2>/dev/null | sort | head -1; }
if [ ! -e /usr/local/cuda/include/cuda_bf16.h ] && [ -z "${CUDA_HOME:-}" ]; then
    [ -n "${NVRTC_LIB:-}" ] || NVRTC_LIB="$(first 'libnvrtc.so.1[23]')"
    [ -n "${CUBLASLT_LIB:-}" ] || CUBLASLT_LIB="$(first 'libcublasLt.so.1[23]')"
    if [ -z "${CUDA_INCLUDE:-}" ] && [ -n "$NVRTC_LIB" ]; then   # the headers of NVRTC's own wheel family
        header="$(find "$(dirname "$(dirname "$(dirname "$NVRTC_LIB")")")" -name cuda_bf16.h 2>/dev/null | head -1)"
        [ -n "$header" ] || header="$(first cuda_bf16.h)"
        [ -n "$header" ] && CUDA_INCLUDE="$(dirname "$header")"
    fi
    export NVRTC_LIB CUBLASLT_LIB CUDA_INCLUDE
    if [ -z "${NVRTC_LIB:-}" ] || [ -z "${CUDA_INCLUDE:-}" ]; then
        export GPT2_KERNEL_IMAGES="$bundle/kernels"
        echo "no NVRTC or no cuda_bf16.h: loading precompiled kernels from $GPT2_KERNEL_IMAGES"
    fi
fi
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GPT2_KERNEL_CACHE="${GPT2_KERNEL_CACHE:-/tmp/gpt2-kernels}"
echo "NVRTC_LIB=${NVRTC_LIB:-} CUBLASLT_LIB=${CUBLASLT_LIB:-} CUDA_INCLUDE=${CUDA_INCLUDE:-} CUDA_HOME=${CUDA_HOME:-}"
ldd "$gpt2" | grep -i 'not found' && status=1

step "gpt2 info"
run "$gpt2" info
step "kernels (NVRTC, this GPU's architecture)"
if [ -z "${GPT2_KERNEL_IMAGES:-}" ] && ! "$gpt2" kernels; then
    echo "NVRTC could not compile the kernels here: falling back to the bundle's precompiled sm_90 images"
    export GPT2_KERNEL_IMAGES="$bundle/kernels"
fi
step "selftest: ops (synchronous launches: a fault names its kernel)"
GPT2_CUDA_SYNC=1 run "$gpt2" selftest cuda --only ops
step "selftest: attention, model"
run "$gpt2" selftest cuda --only attention --only model
step "selftest: training and resume"
run "$gpt2" selftest cuda --only training --only resume --data "$bundle/data/tinyshakespeare"
step "bench on the GPU"
run "$gpt2" bench --device cuda --model d12 --micro-batch 4 --seq 64 --steps 10
run "$gpt2" bench --device cuda --model d12 --micro-batch 16 --seq 1024 --steps 10 --json
exit $status
