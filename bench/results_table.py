#!/usr/bin/env python3
"""The `gpt2 bench --json` and `bench/pytorch_reference.py --json` lines in logs, as a Markdown table for
BENCHMARKS.md: one row per line, then gpt2-swift's tokens/s over PyTorch's for each shape both measured (the
median of each side's rounds; only runs with every fusion on and PyTorch compiled on a GPU), and at the largest
micro-batch each fits where both ran with --micro-batch auto. Other text in the
logs is skipped, so the GPU session's logs and bench/cpu_side_by_side.sh's output can be given as they are.

Usage: bench/results_table.py [LOG ...]   (standard input when none)
"""
import json
import statistics
import sys

FUSED = {"attention": "tensor-cores", "bias": "epilogue", "gelu": "epilogue", "bias_gradient": "epilogue"}
DEFAULT_CHUNK_ROWS = 4096


def results(lines):
    """The JSON objects with an "impl" field, in order; a run that failed (its "error") is kept as such."""
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            result = json.loads(line)
        except ValueError:
            continue
        if isinstance(result, dict) and "impl" in result:
            yield result


def variant(result):
    """What sets this run apart from the default: fusions switched off, the classifier's chunk, eager PyTorch."""
    if result["impl"] == "pytorch":
        return "compiled" if result.get("compile") else "eager"
    changes = [f"{name} {value}" for name, value in (result.get("fusions") or {}).items() if FUSED.get(name) != value]
    rows = result.get("classifier_chunk_rows")
    if rows is not None and rows != min(DEFAULT_CHUNK_ROWS, result["micro_batch"] * result["seq"]):
        changes.append(f"classifier chunk {rows} rows")
    return ", ".join(changes) or "default"


def is_reference_run(result):
    """A run to compare: gpt2 with its defaults (not the build before a change that cpu_side_by_side.sh's BEFORE
    runs), PyTorch compiled (or on the CPU, where it is not compiled)."""
    if result.get("binary") == "before":
        return False
    if result["impl"] == "pytorch":
        return result.get("compile") or result.get("device") == "cpu"
    return variant(result) == "default"


def shape(result):
    """What two runs must share to be compared: the kind of device, the model and the batch."""
    kind = "CPU" if result.get("device") == "cpu" else "GPU"
    return (kind, result["model"], result["seq"], result["micro_batch"], result.get("grad_accum", 1))


def memory(result):
    bytes_ = result.get("device_memory_bytes") or result.get("max_rss_bytes")
    return f"{bytes_ / 2**30:.2f} GiB" if bytes_ else ""


def main():
    lines = []
    for path in sys.argv[1:] or ["-"]:
        with (sys.stdin if path == "-" else open(path, errors="replace")) as f:
            lines += f.readlines()
    found = list(results(lines))
    if not found:
        sys.exit("no benchmark JSON lines found")
    print("| impl | device | model | B × T (× A) | variant | ms/step | tokens/s | MFU | memory |")
    print("| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |")
    for r in found:
        batch = f"{r['micro_batch']} × {r['seq']}" + (f" × {r['grad_accum']}" if r.get("grad_accum", 1) > 1 else "")
        if "error" in r:
            print(f"| {r['impl']} | | {r['model']} | {batch} | | {r['error']} | | | |")
            continue
        mfu = f"{r['mfu'] * 100:.1f}%" if r.get("mfu") is not None else ""
        impl = r["impl"] + (f" ({r['binary']})" if "binary" in r else "")
        print(f"| {impl} | {r.get('device', '')} | {r['model']} | {batch} | {variant(r)} | {r['step_ms']:.1f} | "
              f"{r['tokens_per_s']:,.0f} | {mfu} | {memory(r)} |")
    speeds = {}
    for r in found:
        if "error" not in r and is_reference_run(r):
            speeds.setdefault(shape(r), {}).setdefault(r["impl"], []).append(r["tokens_per_s"])
    comparisons = []
    for (kind, model, seq, batch, accumulation), s in speeds.items():
        if "gpt2-swift" in s and "pytorch" in s:
            suffix = f" × {accumulation}" if accumulation > 1 else ""
            ratio = statistics.median(s["gpt2-swift"]) / statistics.median(s["pytorch"])
            comparisons.append(f"{kind}, {model}, B={batch}{suffix}, T={seq}: gpt2-swift {ratio:.2f}× PyTorch's tokens/s")
    # At the largest micro-batch each fits (--micro-batch auto on both sides): the batches differ.
    largest = {}
    for r in found:
        if "error" not in r and r.get("micro_batch_auto") and is_reference_run(r):
            kind, model, seq, _, _ = shape(r)
            largest.setdefault((kind, model, seq), {})[r["impl"]] = r
    for (kind, model, seq), pair in largest.items():
        if "gpt2-swift" in pair and "pytorch" in pair:
            ours, theirs = pair["gpt2-swift"], pair["pytorch"]
            comparisons.append(f"{kind}, {model}, T={seq}, at the largest micro-batch each fits (gpt2-swift "
                               f"{ours['micro_batch']}, PyTorch {theirs['micro_batch']}): gpt2-swift "
                               f"{ours['tokens_per_s'] / theirs['tokens_per_s']:.2f}× PyTorch's tokens/s")
    commits = sorted({r["commit"] for r in found if r.get("commit")})
    if commits:
        comparisons.append("gpt2-swift built from " + ", ".join(commits))
    if comparisons:
        print()
        for line in comparisons:
            print("- " + line)


if __name__ == "__main__":
    main()
