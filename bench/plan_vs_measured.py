#!/usr/bin/env python3
"""Sets `gpt2 plan --json` beside `gpt2 bench --json` for the same config: predicted against measured device
memory (the driver's bytes in use) and step time, with the relative error of each.

Usage: bench/plan_vs_measured.py DIR RUN [RUN ...]   (DIR holds plan-RUN.json and bench-RUN.json for each RUN: a
micro-batch B, or BxA for B accumulated A times)
Exit status 1 when a file is missing or unreadable; the errors themselves are reported, not judged.
"""
import json
import sys


def read(path):
    with open(path) as f:
        text = f.read()
    if not text.strip():   # (the session script's FAILED or SKIPPED line for that run is in its log, on stderr)
        raise ValueError(f"{path} is empty: that run failed or was skipped")
    return json.loads(text)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    folder, batches = sys.argv[1], sys.argv[2:]
    print(f"{'B':>5} {'memory plan':>14} {'measured':>14} {'error':>8} {'step plan':>11} {'measured':>11} {'error':>8}"
          f"  overhead from")
    worst_memory, worst_time, ok = None, None, True
    for batch in batches:
        try:
            plan, bench = read(f"{folder}/plan-{batch}.json"), read(f"{folder}/bench-{batch}.json")
            predicted_bytes, measured_bytes = plan["total_bytes"], bench["device_memory_bytes"]
            predicted_s, measured_s = plan["step_seconds"], bench["step_ms"] / 1000
            memory_error = predicted_bytes / measured_bytes - 1   # a bench without the driver's count has null
        except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as error:
            print(f"{batch:>5} no comparison: {error}")
            ok = False
            continue
        worst_memory = max(worst_memory or 0.0, abs(memory_error))
        if predicted_s is None:   # a device without a listed peak (pass --peak-flops to plan): memory only
            step = f"{'n/a':>11} {measured_s * 1000:>8.1f} ms {'':>8}"
        else:
            time_error = predicted_s / measured_s - 1
            worst_time = max(worst_time or 0.0, abs(time_error))
            step = f"{predicted_s * 1000:>8.1f} ms {measured_s * 1000:>8.1f} ms {time_error:>+8.1%}"
        print(f"{batch:>5} {predicted_bytes / 2**30:>10.3f} GiB {measured_bytes / 2**30:>10.3f} GiB {memory_error:>+8.1%}"
              f" {step}  {plan.get('device_overhead_source', 'n/a')}")
    # "none compared" rather than 0.0 %, which would read as the goal met
    shown = lambda worst: "none compared" if worst is None else f"{worst:.1%}"
    print(f"largest error: memory {shown(worst_memory)} (goal 5%), step time {shown(worst_time)} (goal 15%)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
