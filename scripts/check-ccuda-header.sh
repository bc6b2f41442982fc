#!/usr/bin/env bash
# Holds Sources/CCUDA/include/ccuda.h against NVIDIA's own headers, without a GPU: every constant, cuBLASLt struct
# layout and function type gpt2 declares there, and every symbol name the Swift sources look a function up by
# (scripts/ccuda-header-check.cpp, compiled, not run). The CUDA emulator shares ccuda.h, so only this check (or a
# GPU) sees a wrong value there.
# Usage: scripts/check-ccuda-header.sh   (CI runs it after scripts/ci-cuda-kernels.sh)
# Headers: cuda.h and nvrtc.h from CUDA_INCLUDE (the PyPI wheels that scripts/ci-cuda-kernels.sh installs, or a
# toolkit's include folder); cublasLt.h from CUBLAS_INCLUDE, else from CUDA_INCLUDE, else fetched from PyPI (the
# headers of the cuBLAS and CCCL wheels of CUDA 13.0; the wheels' libraries are not kept) into .build/vendor-headers.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CUDA_INCLUDE:?names the folder with cuda.h and nvrtc.h; source scripts/ci-cuda-kernels.sh first}"
header=Sources/CCUDA/include/ccuda.h

cublas="${CUBLAS_INCLUDE:-}"
if [ -z "$cublas" ] && [ -e "$CUDA_INCLUDE/cublasLt.h" ]; then cublas="$CUDA_INCLUDE"; fi
if [ -z "$cublas" ]; then
    vendor=.build/vendor-headers
    cublas="$vendor/nvidia/cu13/include"
    if [ ! -e "$cublas/cublasLt.h" ] || [ ! -e "$cublas/nv/target" ]; then
        wheels="$(mktemp -d)"
        trap 'rm -rf "$wheels"' EXIT
        echo "fetching cublasLt.h (nvidia-cublas 13.0.2.14, ~420 MB) and nv/target (nvidia-cuda-cccl 13.0.85) from PyPI"
        python3 -m pip download -q --no-deps --disable-pip-version-check -d "$wheels" \
            "nvidia-cublas==13.0.2.14" "nvidia-cuda-cccl==13.0.85"
        python3 - "$wheels" "$vendor" <<'EOF'
import glob, sys, zipfile
wheels, destination = sys.argv[1:]
for wheel in glob.glob(f"{wheels}/*.whl"):
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(destination, [name for name in archive.namelist() if name.startswith("nvidia/cu13/include/")])
EOF
    fi
fi

generated="$(mktemp -d)"
trap 'rm -rf "$generated" "${wheels:-}"' EXIT
# Every type and struct tag ccuda.h declares, renamed while ccuda.h is read and restored before the real headers.
structs="$(sed -nE 's/^} ([A-Za-z_][A-Za-z0-9_]*);.*$/\1/p; s/^typedef struct \{.*\} ([A-Za-z_][A-Za-z0-9_]*);.*$/\1/p' "$header"
           grep -oE 'struct [A-Za-z_][A-Za-z0-9_]*' "$header" | sed 's/^struct //')"
types="$(sed -nE 's/^typedef .*[ *]([A-Za-z_][A-Za-z0-9_]*);.*$/\1/p' "$header" | grep -v '^PFN_')"
names="$(printf '%s\n%s\n' "$structs" "$types" | sort -u)"
{
    echo "#ifndef CCUDA_HEADER_CHECK_UNDO"
    for name in $names; do echo "#define $name ours_$name"; done
    echo "#else"
    for name in $names; do echo "#undef $name"; done
    echo "#endif"
} > "$generated/ccuda-renames.inc"
for name in $(echo "$structs" | sort -u); do echo "SAME_STRUCT($name)"; done > "$generated/ccuda-structs.inc"
# CCUDA_DEVICE_ATTRIBUTE_X is cuda.h's CU_DEVICE_ATTRIBUTE_X (likewise FUNC_ATTRIBUTE); the rest drop the first C.
sed -nE 's/^ *(CCU[A-Z0-9_]+) *=.*$/\1/p' "$header" | while read -r ours; do
    real="${ours#C}"
    case "$ours" in CCUDA_DEVICE_ATTRIBUTE_* | CCUDA_FUNC_ATTRIBUTE_*) real="CU_${ours#CCUDA_}" ;; esac
    echo "CHECK_CONSTANT($ours, $real)"
done > "$generated/ccuda-constants.inc"
# Looked up unversioned on purpose: cuEventElapsedTime, which cuda.h maps to cuEventElapsedTime_v2 (drivers from
# CUDA 12.8 on); the two differ only in whether errors of earlier asynchronous work are reported.
kept="cuEventElapsedTime"
grep -rhoE 'function\("[A-Za-z0-9_]+", as: PFN_[A-Za-z0-9_]+\.self' Sources --include='*.swift' \
    | sed -E 's/function\("([A-Za-z0-9_]+)", as: (PFN_[A-Za-z0-9_]+)\.self/\2 \1/' | sort -u \
    | while read -r pfn symbol; do
        if [[ " $kept " == *" $symbol "* ]]; then echo "CHECK_KEPT_FUNCTION($pfn, $symbol)"; else echo "CHECK_FUNCTION($pfn, $symbol)"; fi
    done > "$generated/ccuda-functions.inc"

# A function type nothing looks up would go unchecked (and is dead code).
declared="$(grep -oE '\(\*PFN_[A-Za-z0-9_]+\)' "$header" | tr -d '(*)' | sort -u)"
looked_up="$(sed -E 's/^CHECK_[A-Z_]*\((PFN_[A-Za-z0-9_]+), .*/\1/' "$generated/ccuda-functions.inc" | sort -u)"
unused="$(comm -23 <(echo "$declared") <(echo "$looked_up"))"
if [ -n "$unused" ]; then
    echo "error: $header declares function types no library.function(\"…\", as: …) call looks up:" $unused >&2
    exit 1
fi

"${CXX:-clang++}" -std=c++17 -fsyntax-only -I"$generated" -ISources/CCUDA/include -I"$CUDA_INCLUDE" -I"$cublas" \
    scripts/ccuda-header-check.cpp
echo "ccuda.h agrees with cuda.h, nvrtc.h and cublasLt.h: $(wc -l < "$generated/ccuda-constants.inc") constants," \
    "$(wc -l < "$generated/ccuda-structs.inc") structs, $(wc -l < "$generated/ccuda-functions.inc") functions and the names they are looked up by"
