#!/usr/bin/env bash
# What a GPU session runs, one device call (at most ten minutes) per phase, in order of importance, so that a
# session whose device time runs out loses the least:
#   check     what the machine has (driver, toolkit, glibc, where NVRTC and cuBLASLt live), `gpt2 info`, the CUDA
#             parity self-test, and the calibrating benchmark (d12, T=1024, B=16);
#   bench     plan vs measured at three micro-batches, gpt2 and PyTorch at the largest micro-batch that fits each
#             and at B=16 (whole step; PyTorch's attention alone too),
#             the GPU time per kernel (gpt2 bench --profile), the fusions switched off one at a time, and Nsight
#             Systems when installed;
#   sanitize  compute-sanitizer's race, sync and memory checks on small shapes (what the emulator cannot see);
#   all       the three in one call, in that order, as far as the time allows (below).
# Usage (on the GPU machine, from the repository root): scripts/gpu-session.sh check|bench|sanitize|all, as a device
# call with timeout_s 600 (a shorter one wants GPU_SESSION_SECONDS, below, 30 s under it) and carry [".gpu-bundle"].
# Estimated for an H200 from the steps' counts: check 1.5-2.5 minutes (NVRTC, the self-tests, one d12 bench); bench
# 4.5-7 (twelve gpt2 runs of a few seconds each, two torch.compile runs of one to two minutes each); sanitize 1-5.
# A call that finds no warm machine also spends 1-2 minutes of device time starting one (a machine stays warm 30 s),
# so with 15 minutes in all, `all` and then `sanitize` if 4 minutes are left costs one start less than three calls:
# the device tool cuts that second call's limit to the time left, so give it GPU_SESSION_SECONDS 30 s under that.
# The bundle (GPU_BUNDLE, default .gpu-bundle) comes from scripts/gpu-bundle.sh. Each step runs even if an
# earlier one failed; exit status 1 if any failed or was skipped.
# The device tool kills a command at its timeout_s and keeps only what is under $OUT, so a step cut off there
# loses its own lines and every summary after it: the script stops itself first. It has GPU_SESSION_SECONDS
# (default 570) from its start, all phases of `all` together; a step gets at most the time left, and one that would
# start with less than half a minute left is skipped with a line that says so, the summaries still printed.
set -uo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."
phase="${1:-all}"
case "$phase" in check|bench|sanitize|all) ;; *) echo "usage: $0 check|bench|sanitize|all" >&2; exit 2 ;; esac
bundle="${GPU_BUNDLE:-.gpu-bundle}"
# Without the bundle every gpt2 step fails; stopping here costs seconds instead of the PyTorch steps' minutes.
if [ ! -x "$bundle/gpt2" ]; then
    echo "no $bundle/gpt2: build the bundle with scripts/gpu-bundle.sh and name $bundle in the device call's carry" >&2
    exit 2
fi
# Taken before the tee below, so that the deadline counts from the device call's start.
export GPU_SESSION_DEADLINE="${GPU_SESSION_DEADLINE:-$(( $(date +%s) + ${GPU_SESSION_SECONDS:-570} ))}"
# The device tool returns only the last 12,000 characters of output, but every file under $OUT (even after a
# timeout): keep the whole log there, by running this script again with its output through tee.
if [ -n "${OUT:-}" ] && [ -d "$OUT" ] && [ -z "${GPU_SESSION_TEED:-}" ]; then
    GPU_SESSION_TEED=1 bash "$self" "$@" 2>&1 | tee "$OUT/gpu-session-$phase.log"
    exit "${PIPESTATUS[0]}"
fi
gpt2="$bundle/gpt2"
status=0
# A bundle built from an earlier commit than this checkout's measures that commit: said first (where git is at hand).
# (with the bundle's OpenBLAS, which the machine may lack: without it the binary does not load)
built="$(LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$gpt2" --version 2>/dev/null | awk '{print $2}')"
echo "bundle: gpt2-swift ${built:-of no known commit}"
if checkout="$(git rev-parse --short=12 HEAD 2>/dev/null)" && [ "${built%-dirty}" != "$checkout" ]; then
    echo "warning: the bundle's gpt2 was built from ${built:-an unknown commit}, this checkout is $checkout: rebuild it with scripts/gpu-bundle.sh" >&2
fi
step() { echo; echo "=== $*"; }
# Each step gets at most STEP_SECONDS (default 150), so one hang cannot eat the whole device call, and never more
# than the phase has left. -k: a process stuck in the driver may ignore the TERM. skipped tells pytorch() below
# not to try again.
skipped=
# Its FAILED and SKIPPED lines go to stderr (into the log all the same), not into a step's output redirected to a file.
run() {
    local limit="${STEP_SECONDS:-150}" left=$(( GPU_SESSION_DEADLINE - $(date +%s) )) code why
    if [ "$left" -lt 30 ]; then
        echo "SKIPPED (${left} s left of GPU_SESSION_SECONDS): $*" >&2; status=1; skipped=1; return 1
    fi
    why="stopped after $limit s, the step's limit"
    [ "$left" -lt "$limit" ] && limit=$left && why="stopped after $limit s, at the session's deadline"
    timeout -k 10 "$limit" "$@" && return 0
    code=$?
    if [ "$code" = 124 ] || [ "$code" = 137 ]; then echo "FAILED ($code: $why): $*" >&2; else echo "FAILED ($code): $*" >&2; fi
    status=1; return 1
}

step machine
timeout -k 5 30 nvidia-smi || status=1
nvcc --version 2>/dev/null || echo "nvcc: not installed"
ldd --version | head -1
step libraries
# A toolkit in /usr/local/cuda (or CUDA_HOME) is found by gpt2 itself, but only one that holds all three pieces:
# an image may have nvcc and the headers without cuBLASLt (or NVRTC), and then every gpt2 step on the GPU would
# fail. Otherwise the CUDA wheels of the python3 that has PyTorch (nvidia/cu13: NVRTC, cuBLASLt and the headers of
# one release), which that python3 names at once; failing those, one walk of the filesystem (at most a minute:
# device time is scarce) for what is still missing, reused while the machine stays warm (kept in the ignored
# .gpu-state folder, as the calibration is); failing that too, the bundle's cubins serve. The repository is left
# out of the walk: the CUDA emulator's own cuda_bf16.h there is not the toolkit's.
mkdir -p .gpu-state
toolkit="${CUDA_HOME:-/usr/local/cuda}"
if [ -e "$toolkit/include/cuda_bf16.h" ] && compgen -G "$toolkit/lib64/libnvrtc.so.1[23]" >/dev/null \
        && compgen -G "$toolkit/lib64/libcublasLt.so.1[23]" >/dev/null; then
    echo "toolkit: $toolkit"
else
    [ -d "$toolkit" ] && echo "$toolkit lacks cuda_bf16.h, NVRTC or cuBLASLt: looking elsewhere"
    wheels="$(python3 -c 'import nvidia.cu13 as m; print(list(m.__path__)[0])' 2>/dev/null || true)"
    if [ -n "$wheels" ]; then
        echo "python3's CUDA wheels: $wheels"
        [ -n "${NVRTC_LIB:-}" ] || [ ! -e "$wheels/lib/libnvrtc.so.13" ] || NVRTC_LIB="$wheels/lib/libnvrtc.so.13"
        [ -n "${CUBLASLT_LIB:-}" ] || [ ! -e "$wheels/lib/libcublasLt.so.13" ] || CUBLASLT_LIB="$wheels/lib/libcublasLt.so.13"
        [ -n "${CUDA_INCLUDE:-}" ] || [ ! -e "$wheels/include/cuda_bf16.h" ] || CUDA_INCLUDE="$wheels/include"
    fi
    if [ -z "${NVRTC_LIB:-}" ] || [ -z "${CUBLASLT_LIB:-}" ] || [ -z "${CUDA_INCLUDE:-}" ]; then
        found=.gpu-state/libraries-found
        if [ ! -s "$found" ]; then
            timeout -k 5 60 find / \( -path /proc -o -path /sys -o -path "$PWD" \) -prune -o \( -name 'libnvrtc.so*' \
                -o -name 'libcublasLt.so*' -o -name 'cuda_bf16.h' -o -name 'libnvrtc-builtins.so*' \) -print 2>/dev/null \
                | sort > "$found.walk"
            walk=${PIPESTATUS[0]}
            if [ "$walk" = 124 ] || [ "$walk" = 137 ]; then   # cut short: used by this call, not kept for the next
                echo "the search stopped at its 60 s limit; what it found so far is used, and not kept"
                found="$found.walk"
            else
                mv "$found.walk" "$found"
            fi
        fi
        head -20 "$found"
        first() { grep -E "/$1\$" "$found" | head -1; }
        [ -n "${NVRTC_LIB:-}" ] || NVRTC_LIB="$(first 'libnvrtc\.so\.1[23]')"
        [ -n "${CUBLASLT_LIB:-}" ] || CUBLASLT_LIB="$(first 'libcublasLt\.so\.1[23]')"
        if [ -z "${CUDA_INCLUDE:-}" ] && [ -n "$NVRTC_LIB" ]; then
            # The headers of NVRTC's own CUDA release, as the cuda.h beside them says (CUDA 12's NVRTC does not
            # compile CUDA 13's headers): those in NVRTC's own wheel family first, then any.
            major="$(basename "$NVRTC_LIB" | sed -nE 's/^libnvrtc\.so\.([0-9]+).*/\1/p')"
            family="$(dirname "$(dirname "$(dirname "$NVRTC_LIB")")")/"
            headers="$(grep -E '/cuda_bf16\.h$' "$found" | grep -F "$family"; grep -E '/cuda_bf16\.h$' "$found" | grep -vF "$family")"
            while read -r header; do
                version="$(grep -m1 -oE '^#define CUDA_VERSION [0-9]+' "$(dirname "$header")/cuda.h" 2>/dev/null | grep -oE '[0-9]+$')"
                if [ -n "$header" ] && [ -n "$version" ] && [ "$((version / 1000))" = "$major" ]; then
                    CUDA_INCLUDE="$(dirname "$header")"
                    break
                fi
            done <<< "$headers"
            if [ -z "${CUDA_INCLUDE:-}" ]; then   # (the family's first, else any)
                header="$(head -1 <<< "$headers")"
                [ -n "$header" ] && CUDA_INCLUDE="$(dirname "$header")"
                echo "no cuda_bf16.h beside a cuda.h of NVRTC's CUDA release (${major:-unknown}, from $(basename "$NVRTC_LIB")): trying ${CUDA_INCLUDE:-none}"
            fi
        fi
    fi
    export NVRTC_LIB CUBLASLT_LIB CUDA_INCLUDE
    [ -n "${CUBLASLT_LIB:-}" ] || echo "no libcublasLt.so found: gpt2 can only try the loader's search path"
    if [ -z "${NVRTC_LIB:-}" ] || [ -z "${CUDA_INCLUDE:-}" ]; then
        export GPT2_KERNEL_IMAGES="$bundle/kernels"
        echo "no NVRTC or no cuda_bf16.h: loading precompiled kernels from $GPT2_KERNEL_IMAGES"
    fi
fi
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GPT2_KERNEL_CACHE="${GPT2_KERNEL_CACHE:-/tmp/gpt2-kernels}"
# The calibration (MFU and device overhead) the check phase records and the bench phase predicts from: an
# ignored folder in the repository outlives one device call while the machine stays warm; a copy goes to $OUT.
export GPT2_CALIBRATION="${GPT2_CALIBRATION:-$PWD/.gpu-state/calibration.json}"
keep_calibration() { [ -n "${OUT:-}" ] && [ -s "$GPT2_CALIBRATION" ] && cp "$GPT2_CALIBRATION" "$OUT/calibration.json"; true; }
echo "NVRTC_LIB=${NVRTC_LIB:-} CUBLASLT_LIB=${CUBLASLT_LIB:-} CUDA_INCLUDE=${CUDA_INCLUDE:-} CUDA_HOME=${CUDA_HOME:-}"
ldd "$gpt2" | grep -i 'not found' && status=1

step "gpt2 info"
run "$gpt2" info
step "kernels (NVRTC, this GPU's architecture)"
# --cache: the selftests reuse them. Not through run (a failure here is the bundle's cubins' cue, not a failed step).
kernels_limit=$(( GPU_SESSION_DEADLINE - $(date +%s) ))
[ "$kernels_limit" -gt 180 ] && kernels_limit=180
[ "$kernels_limit" -lt 10 ] && kernels_limit=10
if [ -z "${GPT2_KERNEL_IMAGES:-}" ] && ! timeout -k 10 "$kernels_limit" "$gpt2" kernels --cache; then
    echo "NVRTC could not compile the kernels here: falling back to the bundle's precompiled sm_90 images"
    export GPT2_KERNEL_IMAGES="$bundle/kernels"
fi
if [ "$phase" = check ] || [ "$phase" = all ]; then
    step "selftest: ops (synchronous launches: a fault names its kernel)"
    GPT2_CUDA_SYNC=1 run "$gpt2" selftest cuda --only ops
    step "selftest: attention, model"
    if ! run "$gpt2" selftest cuda --only attention --only model; then
        step "selftest: the model again on the CUDA-core attention kernels (is the tensor-core attention the cause?)"
        GPT2_CUDA_ATTENTION=cuda-cores run "$gpt2" selftest cuda --only model
    fi
    step "selftest: training and resume"
    run "$gpt2" selftest cuda --only training --only resume --data "$bundle/data/tinyshakespeare"
fi
sanitize() {
    # The races and shared-memory faults the emulator cannot see (docs/cuda-emulator.md): compute-sanitizer on one
    # small attention shape per kernel family (racecheck: shared-memory hazards between warps, around cp.async and
    # ldmatrix; synccheck: barriers in divergent code), and memcheck over the ops and one model step.
    step "compute-sanitizer: racecheck and synccheck on attention T=256 HS=64, memcheck on the ops and a model step"
    # At most 90 s each, so one slow tool cannot crowd out the others.
    if ! command -v compute-sanitizer >/dev/null; then echo "compute-sanitizer: not installed"; status=1; return; fi
    for tool in racecheck synccheck; do
        STEP_SECONDS=90 run compute-sanitizer --tool "$tool" --error-exitcode 1 "$gpt2" selftest cuda --only attention --shape 256x64
    done
    STEP_SECONDS=90 run compute-sanitizer --tool memcheck --error-exitcode 1 "$gpt2" selftest cuda --only ops --only model
}
# pytorch MICRO_BATCH STEPS: the PyTorch reference for d12 T=1024 on this GPU, compiled; should torch.compile fail
# here (no Triton, a compiler error), eager, so that the session still has a baseline (its JSON says "compile": false).
# A compile can take a minute or two, and auto may compile twice (it retries a micro-batch that ran out of memory).
pytorch() {
    local arguments=(bench/pytorch_reference.py --device cuda --model d12 --micro-batch "$1" --seq 1024 --steps "$2" --warmup 3
                     --dtype bf16 --json)
    local limit=240
    [ "$1" = auto ] && limit=360
    skipped=
    STEP_SECONDS=$limit run python3 "${arguments[@]}" --compile && return
    [ -z "$skipped" ] || return 1
    echo "torch.compile failed: eager instead"
    run python3 "${arguments[@]}"
}
calibrated=   # (tried in this call: a failed one is not run again by the bench phase)
calibrate() {
    calibrated=1
    step "calibrate: d12 T=1024 B=16 (records this GPU's MFU and device memory overhead for gpt2 plan)"
    run "$gpt2" bench --device cuda --model d12 --micro-batch 16 --seq 1024 --steps 10 --json
    keep_calibration
}
if [ "$phase" = check ] || [ "$phase" = all ]; then calibrate; fi
if [ "$phase" = bench ] || [ "$phase" = all ]; then
    [ -s "$GPT2_CALIBRATION" ] || [ -n "$calibrated" ] || calibrate   # a fresh machine: the check phase's record is gone
    step "plan vs measured: device memory and step time, d12 T=1024, three micro-batches and one accumulating step (calibrated at B=16)"
    compare="$(mktemp -d)"
    for batch in 8 16 32; do
        run "$gpt2" plan --model d12 --micro-batch "$batch" --seq 1024 --grad-accum 1 --steps 1 --json > "$compare/plan-$batch.json"
        run "$gpt2" bench --device cuda --model d12 --micro-batch "$batch" --seq 1024 --steps 10 --json --no-record \
            > "$compare/bench-$batch.json"
        cat "$compare/plan-$batch.json" "$compare/bench-$batch.json"
    done
    # and one step that accumulates, as real runs do: the plan adds the optimizer once per step, not per micro-batch
    run "$gpt2" plan --model d12 --micro-batch 16 --seq 1024 --grad-accum 4 --steps 1 --json > "$compare/plan-16x4.json"
    run "$gpt2" bench --device cuda --model d12 --micro-batch 16 --seq 1024 --grad-accum 4 --steps 5 --json --no-record \
        > "$compare/bench-16x4.json"
    cat "$compare/plan-16x4.json" "$compare/bench-16x4.json"   # into the log: the folder stays on the machine
    python3 bench/plan_vs_measured.py "$compare" 8 16 32 16x4 || status=1
    step "side by side at the largest micro-batch that fits, d12 T=1024: gpt2 (by the plan calibrated above), then PyTorch (torch.compile, bf16 autocast, SDPA; by its eager peak memory extrapolated)"
    run "$gpt2" bench --device cuda --model d12 --micro-batch auto --seq 1024 --steps 5 --json --no-record
    pytorch auto 5
    step "PyTorch at B=16, the calibration's batch (torch.compile, bf16 autocast, SDPA)"
    pytorch 16 10
    step "PyTorch's attention alone (SDPA, bf16), d12's shape at B=16: compare with attention_*_tc_hs64 below"
    run python3 bench/attention_reference.py --batch 16 --heads 12 --seq 1024 --head-size 64 --json
    step "where the time goes: GPU time per kernel of one d12 T=1024 B=16 step (gpt2 bench --profile)"
    run "$gpt2" bench --device cuda --model d12 --micro-batch 16 --seq 1024 --steps 3 --warmup 2 --no-record --profile
    step "fusions side by side, d12 T=1024 B=16: CUDA-core attention, the GELU as kernels instead of GEMM epilogues, the bias gradients as column-sum kernels instead of the BGRADB epilogue, the classifier in one chunk"
    run env GPT2_CUDA_ATTENTION=cuda-cores "$gpt2" bench --device cuda --model d12 --micro-batch 16 --seq 1024 --steps 5 --json --no-record
    run env GPT2_CUDA_GELU_KERNEL=1 "$gpt2" bench --device cuda --model d12 --micro-batch 16 --seq 1024 --steps 5 --json --no-record
    run env GPT2_CUDA_BIAS_GRADIENT_KERNEL=1 "$gpt2" bench --device cuda --model d12 --micro-batch 16 --seq 1024 --steps 5 --json --no-record
    run "$gpt2" bench --device cuda --model d12 --micro-batch 16 --seq 1024 --steps 5 --json --no-record --classifier-chunk 0
    step "GPU time per kernel again, from Nsight Systems, 3 steps"
    if command -v nsys >/dev/null; then
        run nsys profile --trace=cuda --sample=none --cpuctxsw=none --force-overwrite=true -o /tmp/gpt2-profile \
            "$gpt2" bench --device cuda --model d12 --micro-batch 16 --seq 1024 --steps 3 --warmup 1 --no-record
        run nsys stats --report cuda_gpu_kern_sum --format table --output - /tmp/gpt2-profile.nsys-rep
    else
        echo "nsys: not installed"
    fi
    # Last, and not through run, so that it is printed even when the phase's time ran out before the other steps.
    if [ -n "${OUT:-}" ] && [ -s "$OUT/gpu-session-$phase.log" ]; then
        step "the bench lines as a table for BENCHMARKS.md, with gpt2-swift's tokens/s over PyTorch's"
        python3 bench/results_table.py "$OUT/gpu-session-$phase.log" || status=1
    fi
fi
if [ "$phase" = sanitize ] || [ "$phase" = all ]; then sanitize; fi
keep_calibration
exit $status
