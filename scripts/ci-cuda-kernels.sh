#!/usr/bin/env bash
# Compiles every CUDA kernel with NVRTC for sm_80, sm_89 and sm_90, without a GPU, so a kernel that does not
# compile fails CI. Usage: scripts/ci-cuda-kernels.sh PATH/TO/gpt2   (source it to keep NVRTC_LIB/CUDA_INCLUDE)
#
# NVRTC and the headers it needs come from PyPI. The CUDA 13 wheels have no -cu13 suffix; all three are pinned
# to the same release, 13.0.x, the toolkit minor of a CUDA 13.0 driver: PTX from a newer NVRTC would not load
# there (we load cubins, but keep CI on what the GPU machines run).
set -euo pipefail

gpt2="${1:?usage: $0 PATH/TO/gpt2}"
CUDA_PYPI_VERSION="${CUDA_PYPI_VERSION:-13.0.88}"

python3 -m pip install -q --disable-pip-version-check \
    "nvidia-cuda-nvrtc==${CUDA_PYPI_VERSION}" \
    "nvidia-cuda-runtime==${CUDA_PYPI_VERSION}" \
    "nvidia-cuda-crt==${CUDA_PYPI_VERSION}"

cuda_root="$(python3 -c 'import nvidia.cu13 as m; print(list(m.__path__)[0])')"
export NVRTC_LIB="$cuda_root/lib/libnvrtc.so.13"
export CUDA_INCLUDE="$cuda_root/include"
echo "NVRTC_LIB=$NVRTC_LIB"
echo "CUDA_INCLUDE=$CUDA_INCLUDE"

"$gpt2" kernels --arch sm_80 --arch sm_89 --arch sm_90
