#!/usr/bin/env bash
# Compiles every CUDA kernel with NVRTC for sm_80, sm_89 and sm_90, without a GPU, so a kernel that does not
# compile fails CI: with CUDA 13's NVRTC, then CUDA 12's.
# Usage: scripts/ci-cuda-kernels.sh PATH/TO/gpt2   (source it to keep CUDA 13's NVRTC_LIB/CUDA_INCLUDE)
#
# NVRTC and the headers it needs come from PyPI. The CUDA 13 wheels have no -cu13 suffix; all three are pinned
# to the same release, 13.0.x, the toolkit minor of a CUDA 13.0 driver: PTX from a newer NVRTC would not load
# there (we load cubins, but keep CI on what the GPU machines run).
#
# The steps run in a function that stops at the first failure and returns its status, so sourcing the script
# leaves the caller's shell options as they were (a `set -e` here would stay on in an interactive shell).

compile_cuda_kernels() {
    local gpt2="${1:?usage: scripts/ci-cuda-kernels.sh PATH/TO/gpt2}"
    local version="${CUDA_PYPI_VERSION:-13.0.88}"
    python3 -m pip install -q --disable-pip-version-check \
        "nvidia-cuda-nvrtc==${version}" "nvidia-cuda-runtime==${version}" "nvidia-cuda-crt==${version}" || return
    local cuda_root
    cuda_root="$(python3 -c 'import nvidia.cu13 as m; print(list(m.__path__)[0])')" || return
    export NVRTC_LIB="$cuda_root/lib/libnvrtc.so.13"
    export CUDA_INCLUDE="$cuda_root/include"
    echo "NVRTC_LIB=$NVRTC_LIB"
    echo "CUDA_INCLUDE=$CUDA_INCLUDE"
    "$gpt2" kernels --arch sm_80 --arch sm_89 --arch sm_90 || return
    compile_with_cuda12 "$gpt2"
}

# CUDA 12's NVRTC and headers compile them too: gpt2 also finds the -cu12 wheels, and a driver older than 580 (common
# on RTX cards) runs no CUDA 13. The oldest CUDA 12 release we claim (12.4, so newer ones are checked by hand, see
# README) is unpacked into .build, not installed, so the Python environment keeps one NVRTC.
compile_with_cuda12() {
    local gpt2="$1" version="${CUDA12_PYPI_VERSION:-12.4.127}"
    local root=".build/vendor-cuda-$version"
    if [ ! -e "$root/nvidia/cuda_nvrtc/lib/libnvrtc.so.12" ] || [ ! -e "$root/nvidia/cuda_runtime/include/cuda_bf16.h" ]; then
        python3 -m pip download -q --no-deps --disable-pip-version-check -d "$root/wheels" \
            "nvidia-cuda-nvrtc-cu12==${version}" "nvidia-cuda-runtime-cu12==${version}" || return
        python3 -c 'import glob, sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in glob.glob(sys.argv[1] + "/wheels/*.whl")]' \
            "$root" || return
    fi
    echo "CUDA 12: NVRTC_LIB=$root/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 CUDA_INCLUDE=$root/nvidia/cuda_runtime/include"
    NVRTC_LIB="$root/nvidia/cuda_nvrtc/lib/libnvrtc.so.12" CUDA_INCLUDE="$root/nvidia/cuda_runtime/include" \
        "$gpt2" kernels --arch sm_80 --arch sm_89 --arch sm_90
}

compile_cuda_kernels "$@"
