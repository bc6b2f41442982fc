#!/usr/bin/env python3
"""PyTorch reference for gpt2-swift's training throughput.

Builds the same GPT-2 as the Swift trainer (same presets, same layout, same initialisation) and
times full training steps on random tokens, so the Swift numbers have a baseline to beat.

It installs nothing: run it with an interpreter that already has torch, for example

    /work/venv-torch/bin/python bench/pytorch_reference.py --device cpu --model d12 \
        --micro-batch 4 --seq 64 --steps 8 --warmup 2 --threads 2 --json

One training step = zero_grad(set_to_none=True), forward, loss, backward, clip_grad_norm_(1.0),
AdamW step. The median over the timed steps (after --warmup untimed ones) is reported.
"""

import argparse
import gc
import json
import math
import re
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 50257         # GPT-2's vocabulary; the loss only ever sees these logits
PADDED_VOCAB = 50304  # rounded up to a multiple of 128 for the embedding / LM-head matmul

# name -> (layers, heads, channels, max sequence length); the same as ModelPreset.all in Swift.
PRESETS = {
    "tiny": (2, 2, 32, 64),
    "small": (4, 4, 128, 256),
    "d6": (6, 6, 384, 1024),
    "d12": (12, 12, 768, 1024),
    "d24": (24, 16, 1024, 1024),
    "d36": (36, 20, 1280, 1024),
    "d48": (48, 25, 1600, 1024),
}

# Dense peak FLOP/s of CUDA devices, matched by regex against torch.cuda.get_device_name(), first
# match wins. "bf16" is the tensor-core rate with FP32 accumulate (what autocast matmuls use);
# "fp32" is the plain (non-TF32) CUDA-core rate, since we leave TF32 off. Sources: NVIDIA's H100,
# H200 and A100 datasheets (dense figures, i.e. the sparsity numbers halved).
# RTX 4070: the Ada whitepaper gives GeForce cards FP16/BF16 tensor throughput with FP32
# accumulate at half the FP16-accumulate rate, i.e. 2x the FP32 shader rate (4090: 82.6 shader,
# 165.2 BF16/FP32-acc dense). 4070: 29.1 TFLOPS shader -> ~58.3e12 BF16 dense with FP32 accumulate
# (the often-quoted 116.6e12 is the FP16-accumulate dense figure). Derived, not read off a sheet:
# pass --peak-flops to be exact.
CUDA_PEAKS = [
    (r"H100 PCIe", {"bf16": 756e12, "fp32": 51e12}),
    (r"H100 80GB HBM3|H100 SXM", {"bf16": 989e12, "fp32": 67e12}),
    (r"H200", {"bf16": 989e12, "fp32": 67e12}),
    (r"A100", {"bf16": 312e12, "fp32": 19.5e12}),
    (r"RTX 4070$", {"bf16": 58.3e12, "fp32": 29.1e12}),  # not the 4070 Ti / SUPER
]

# CPU peak per core: 115.2 GFLOP/s fp32, the AVX2-FMA peak measured on the CI-type machine (Zen 4,
# 2 FMA pipes x 8 fp32 lanes x 2 FLOP = 32 FLOP/cycle, at 3.6 GHz boost; Zen 4's AVX-512 is
# double-pumped 256-bit so it does not raise this). Same constant as FLOPCount.cpuPeak in Swift.
CPU_PEAK_PER_CORE = 115.2e9


class Block(nn.Module):
    def __init__(self, n_head, C):
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(C)
        self.qkv = nn.Linear(C, 3 * C)       # fused q, k, v with bias
        self.attn_proj = nn.Linear(C, C)     # residual projection
        self.ln2 = nn.LayerNorm(C)
        self.fc = nn.Linear(C, 4 * C)
        self.fc_proj = nn.Linear(4 * C, C)   # residual projection

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.attn_proj(y)
        x = x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x


class GPT2(nn.Module):
    def __init__(self, layers, heads, channels, max_seq):
        super().__init__()
        self.max_seq = max_seq
        self.wte = nn.Embedding(PADDED_VOCAB, channels)
        self.wpe = nn.Embedding(max_seq, channels)
        self.blocks = nn.ModuleList(Block(heads, channels) for _ in range(layers))
        self.ln_f = nn.LayerNorm(channels)
        self._init(layers)

    @torch.no_grad()
    def _init(self, layers):
        # GPT-2 init as in GPT2Model.initializeParameters: weights N(0, 0.02), residual
        # projections N(0, 0.02/sqrt(2L)), biases 0, LayerNorm weight 1 / bias 0, padded rows 0.
        residual_std = 0.02 / math.sqrt(2 * layers)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif ".ln" in name or name.startswith("ln_f"):
                p.fill_(1.0)
            elif name.endswith(("attn_proj.weight", "fc_proj.weight")):
                p.normal_(0.0, residual_std)
            else:
                p.normal_(0.0, 0.02)
        self.wte.weight[VOCAB:].zero_()

    def forward(self, idx, targets):
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        logits = F.linear(x, self.wte.weight)  # LM head tied to the token embedding
        logits = logits[..., :VOCAB]            # padded columns never enter the softmax
        return F.cross_entropy(logits.float().reshape(-1, VOCAB), targets.reshape(-1))


def flops_per_token(model, layers, channels, seq):
    # Forward+backward FLOPs of one training token: 6*N + 12*L*C*T.
    # - Every weight a token passes through costs a multiply-add (2 FLOPs) forward and two
    #   (gradient w.r.t. input and w.r.t. weight, 4 FLOPs) backward: 6 per parameter per token.
    #   N therefore counts the tied embedding once (it is the LM head matmul, 50304 x C, padded
    #   rows included since they are computed) but not the position table, which is only a lookup.
    #   Biases and LayerNorm parameters are counted too (negligible), as in FLOPCount.swift.
    # - Attention: per layer and token, Q.K^T and att.V each cost 2*C*T forward (T keys, C wide
    #   over all heads), so 4*C*T forward and 8*C*T backward = 12*L*C*T. Counted over the full
    #   T x T square (no causal halving), like nanoGPT/llm.c/PaLM's MFU convention.
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return 6 * n + 12 * layers * channels * seq


def make_optimizer(model, device):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs = dict(lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    for variant in ("fused", "foreach"):
        try:
            opt = torch.optim.AdamW(groups, **kwargs, **{variant: True})
            return opt, variant
        except (RuntimeError, TypeError, ValueError):
            continue
    return torch.optim.AdamW(groups, **kwargs), "for-loop"


def micro_batch_argument(text):
    if text == "auto":
        return text
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be auto or a positive integer (got {text})")
    return value


def train_step(model, step_model, optimizer, autocast, batch):
    """One training step on batch (B, T+1) through step_model (the model, or its compiled form): zero_grad(set_to_none),
    forward and loss, backward, clip_grad_norm_(1.0), AdamW step. Returns (loss, gradient norm)."""
    optimizer.zero_grad(set_to_none=True)
    with autocast:
        loss = step_model(batch[:, :-1], batch[:, 1:])
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss, norm


def largest_fitting_micro_batch(L, NH, C, max_seq, T, device, autocast, budget_bytes):
    """PyTorch's side of "the largest micro-batch that fits": the peak allocated memory of one eager training
    step at micro-batches 2 and 4, on a throwaway copy of the model and optimizer (after a first step at 1, so
    that AdamW's moments exist in both, as in the timed run), extrapolated as fixed + B * per_sequence to the
    largest B whose peak stays within budget_bytes. A measured estimate, not a search: trying micro-batches
    under torch.compile costs a compile each. A compiled step keeps fewer activations than an eager one, so the
    estimate errs on the side of fitting. Returns (B, details)."""
    probe = GPT2(L, NH, C, max_seq).to(device)
    optimizer, _ = make_optimizer(probe, device)
    peaks = {}
    for b in (1, 2, 4):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        batch = torch.randint(0, VOCAB, (b, T + 1), device=device)
        loss, _ = train_step(probe, probe, optimizer, autocast, batch)
        torch.cuda.synchronize(device)
        peaks[b] = torch.cuda.max_memory_allocated(device)
        del batch, loss
    del probe, optimizer
    torch.cuda.empty_cache()
    per_sequence = (peaks[4] - peaks[2]) / 2
    fixed = peaks[2] - 2 * per_sequence
    if per_sequence <= 0:
        sys.exit(f"error: --micro-batch auto: the eager peak did not grow with the micro-batch ({peaks})")
    largest = int((budget_bytes - fixed) // per_sequence)
    if largest < 1:
        sys.exit(f"error: --micro-batch auto: not even micro-batch 1 fits in {budget_bytes / 2**30:.2f} GiB "
                 f"(eager peaks {peaks})")
    details = {"eager_peak_bytes": {str(b): peaks[b] for b in (2, 4)}, "budget_bytes": int(budget_bytes),
               "per_sequence_bytes": int(per_sequence), "fixed_bytes": int(fixed)}
    return largest, details


def pick_peak(args, device):
    if args.peak_flops is not None:
        return args.peak_flops, "--peak-flops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peaks in CUDA_PEAKS:
            if re.search(key, name):
                return peaks[args.dtype], f"table: {key} {args.dtype} dense"
        return float("nan"), f"unknown GPU '{name}': pass --peak-flops"
    return args.threads * CPU_PEAK_PER_CORE, f"cpu: {args.threads} threads x 115.2e9 (Zen 4 AVX2-FMA)"


def time_steps(args, device, autocast, B, T):
    """Builds the model and optimizer (seeded), compiles the model if asked, and runs --warmup + --steps training
    steps at micro-batch B. Returns (parameters, FLOPs per token, AdamW's implementation, step times, losses);
    raises torch.cuda.OutOfMemoryError when B does not fit."""
    L, NH, C, max_seq = PRESETS[args.model]
    torch.manual_seed(args.seed)
    model = GPT2(L, NH, C, max_seq).to(device)
    params = sum(p.numel() for p in model.parameters())
    fpt = flops_per_token(model, L, C, T)
    optimizer, opt_impl = make_optimizer(model, device)
    step_model = torch.compile(model) if args.compile else model

    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    total = args.warmup + args.steps
    batches = [torch.randint(0, VOCAB, (B, T + 1), generator=gen).to(device) for _ in range(min(total, 4))]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for step in range(total):
        sync()
        t0 = time.perf_counter()
        loss, norm = train_step(model, step_model, optimizer, autocast, batches[step % len(batches)])
        sync()
        dt = time.perf_counter() - t0
        times.append(dt)
        losses.append(loss.item())
        if args.verbose:
            tag = "warmup" if step < args.warmup else "timed"
            print(f"step {step:3d} ({tag}) loss {losses[-1]:.4f} norm {norm.item():.4f} "
                  f"{dt * 1e3:9.1f} ms", file=sys.stderr)
    return params, fpt, opt_impl, times, losses


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--model", choices=list(PRESETS), default="d12")
    ap.add_argument("--micro-batch", type=micro_batch_argument, default=4,
                    help="sequences per step, or auto (CUDA only): the largest that fits, from the eager peak "
                         "memory of micro-batches 2 and 4 extrapolated to 90%% of the free device memory")
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="bf16 = torch.autocast(bfloat16)")
    ap.add_argument("--peak-flops", type=float, default=None, help="peak FLOP/s for MFU")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--verbose", action="store_true", help="per-step loss and time on stderr")
    args = ap.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch.cuda.is_available() is False")
    device = torch.device(args.device)
    L, NH, C, max_seq = PRESETS[args.model]
    if args.seq > max_seq:
        sys.exit(f"error: --seq {args.seq} exceeds {args.model}'s context {max_seq}")
    T = args.seq
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16")
    auto_details = None
    if args.micro_batch == "auto":
        if device.type != "cuda":
            sys.exit("error: --micro-batch auto needs --device cuda (it measures device memory)")
        free_bytes, _ = torch.cuda.mem_get_info(device)
        B, auto_details = largest_fitting_micro_batch(L, NH, C, max_seq, T, device, autocast, 0.9 * free_bytes)
        print(f"--micro-batch auto: {B} (eager peak {auto_details['fixed_bytes'] / 2**30:.2f} GiB + "
              f"{auto_details['per_sequence_bytes'] / 2**20:.0f} MiB per sequence, within 90% of "
              f"{free_bytes / 2**30:.2f} GiB free)", file=sys.stderr)
    else:
        B = args.micro_batch

    while True:
        try:
            params, fpt, opt_impl, times, losses = time_steps(args, device, autocast, B, T)
            break
        except torch.cuda.OutOfMemoryError:
            pass   # handled below, outside the except clause, whose traceback still holds the attempt's tensors
        gc.collect()
        torch.cuda.empty_cache()
        if args.compile:
            torch._dynamo.reset()
        if auto_details is not None and "retried_from" not in auto_details and B > 1:
            # The extrapolation missed (fragmentation, or a compiled step needing more than the eager one): once more,
            # at four fifths, rather than leave the session without PyTorch's number.
            auto_details["retried_from"] = B
            B = max(1, B * 4 // 5)
            print(f"--micro-batch auto: out of memory at {auto_details['retried_from']}; trying {B}", file=sys.stderr)
            continue
        # One line a script can read, rather than a traceback: this micro-batch does not fit.
        failure = {"impl": "pytorch", "model": args.model, "micro_batch": B, "seq": T,
                   "error": f"out of device memory at micro-batch {B}"}
        print(json.dumps(failure) if args.json else f"error: {failure['error']}")
        sys.exit(1)
    if args.verbose:
        print(f"initial loss {losses[0]:.4f} (ln({VOCAB}) = {math.log(VOCAB):.4f})", file=sys.stderr)

    timed = times[args.warmup:] or times
    step_s = statistics.median(timed)
    tokens_per_s = B * T / step_s
    peak, peak_source = pick_peak(args, device)
    result = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "device": device.type if device.type == "cpu" else torch.cuda.get_device_name(device),
        "model": args.model,
        "micro_batch": B,
        "seq": T,
        "threads": args.threads,
        "dtype": args.dtype,
        "compile": args.compile,
        "optimizer": f"AdamW({opt_impl})",
        "steps": len(timed),
        "warmup": args.warmup,
        "step_ms": round(step_s * 1e3, 3),
        "step_ms_min": round(min(timed) * 1e3, 3),
        "first_step_ms": round(times[0] * 1e3, 3),
        "tokens_per_s": round(tokens_per_s, 1),
        "mfu": round(fpt * tokens_per_s / peak, 5) if peak == peak else None,
        "peak_flops": peak,
        "peak_source": peak_source,
        "flops_per_token": fpt,
        "params": params,
        "initial_loss": round(losses[0], 5),
        "final_loss": round(losses[-1], 5),
        # ru_maxrss is KiB on Linux: the process's peak resident memory, torch included.
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if device.type == "cuda":
        result["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
        # The driver's view, as gpt2 bench reports it: total - free, the CUDA context and the caching
        # allocator's reserve (which holds what the peak step needed) included.
        free_bytes, total_bytes = torch.cuda.mem_get_info(device)
        result["device_memory_bytes"] = total_bytes - free_bytes
    if auto_details is not None:
        result["micro_batch_auto"] = auto_details
    if args.json:
        print(json.dumps(result))
    else:
        mfu = f"{result['mfu'] * 100:.2f}%" if result["mfu"] is not None else "n/a"
        mem = f", peak mem {result['peak_memory_bytes'] / 2**20:.0f} MiB" if "peak_memory_bytes" in result else ""
        print(f"pytorch {result['device']} {args.model} B={B} T={T} threads={args.threads} {args.dtype}"
              f"{' compiled' if args.compile else ''}: {result['step_ms']:.1f} ms/step (median of "
              f"{len(timed)}), {tokens_per_s:.0f} tok/s, MFU {mfu} of {peak:.3g} FLOP/s ({peak_source}), "
              f"{params / 1e6:.2f}M params, loss {losses[0]:.3f} -> {losses[-1]:.3f}{mem}")


if __name__ == "__main__":
    main()
