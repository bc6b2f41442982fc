#!/usr/bin/env python3
"""PyTorch's causal attention (scaled_dot_product_attention, bf16) timed alone, forward and backward,
as the yardstick for gpt2-swift's attention kernels on the same GPU.

gpt2-swift's side of the comparison is the GPU time per kernel that Nsight Systems reports for
`gpt2 bench --device cuda` (scripts/gpu-session.sh bench): attention_forward_tc_hs64 against the forward
here, attention_backward_preprocess + attention_backward_dkv_tc_hs64 + attention_backward_dq_tc_hs64
against the backward, per layer and micro-batch.

    python3 bench/attention_reference.py --batch 16 --heads 12 --seq 1024 --head-size 64 --json

Reports the median over --repeat timed runs (CUDA events) and the TFLOP/s of the causal half of the
products actually needed (forward 2·2·T²/2·HS per head, backward 2.5× that), the count gpt2-swift uses.
"""

import argparse
import json
import statistics

import torch
import torch.nn.functional as F


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--head-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device")
    if min(args.batch, args.heads, args.seq, args.head_size, args.repeat) <= 0:
        parser.error("every size must be positive")

    shape = (args.batch, args.heads, args.seq, args.head_size)
    generator = torch.Generator(device="cuda").manual_seed(1)
    q, k, v = (torch.randn(shape, device="cuda", dtype=torch.bfloat16, generator=generator).requires_grad_()
               for _ in range(3))
    dout = torch.randn(shape, device="cuda", dtype=torch.bfloat16, generator=generator)

    def time_ms(run):
        for _ in range(3):
            run()
        times = []
        for _ in range(args.repeat):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        return statistics.median(times)

    forward_ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def backward():
        q.grad = k.grad = v.grad = None
        out.backward(dout, retain_graph=True)

    backward_ms = time_ms(backward)
    forward_flops = args.batch * args.heads * 2 * 2 * (args.seq * args.seq / 2) * args.head_size
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "shape_bhtd": list(shape),
        "forward_ms": forward_ms,
        "backward_ms": backward_ms,
        "forward_tflops": forward_flops / forward_ms / 1e9,
        "backward_tflops": 2.5 * forward_flops / backward_ms / 1e9,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
