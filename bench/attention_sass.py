#!/usr/bin/env python3
"""Instructions per tile in the tensor-core attention kernels' inner loops, read from their SASS: no GPU needed.

With mma.sync on an H100 the tensor cores finish an m16n8k16 in fewer cycles than a warp scheduler needs to
issue the softmax, mask and address instructions around it, so the instruction count per tile bounds the
kernels' speed; this script counts them, from a cubin that `gpt2 kernels` writes, for a before/after
comparison of a kernel change. It is a static count, not a measurement of time.

For each kernel it finds the tile loop's body (the longest stretch between two block barriers) and prints
the mma.sync count (HMMA), all instructions of the body (a tile on the diagonal, which runs the causal mask),
and the instructions left when the blocks that a branch skips to their reconvergence point (BSYNC) are left
out (a tile below the diagonal, where the mask is skipped).

Usage:
  gpt2 kernels --arch sm_90 --only attention_tensor --out /tmp/cubins
  pip install nvidia-cuda-cuobjdump     # cuobjdump without a CUDA toolkit
  python3 bench/attention_sass.py /tmp/cubins [--cuobjdump PATH] [--only hs64]
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig


def find_cuobjdump(given):
    if given:
        return given
    candidates = [shutil.which("cuobjdump"), "/usr/local/cuda/bin/cuobjdump",
                  os.path.join(sysconfig.get_paths()["purelib"], "nvidia", "cu13", "bin", "cuobjdump")]
    for path in candidates:
        if path and os.path.exists(path):
            return path
    sys.exit("cuobjdump not found: install a CUDA toolkit or `pip install nvidia-cuda-cuobjdump`, or pass --cuobjdump")


def functions(sass):
    """{kernel name: [(address, instruction text)]} from cuobjdump -sass output."""
    result = {}
    for part in re.split(r"\n\s*Function : ", sass)[1:]:
        name, _, body = part.partition("\n")
        result[name.strip()] = [(int(address, 16), text.strip()) for address, text in
                                re.findall(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", body)]
    return result


def tile_loop(instructions):
    """The instructions between the two block barriers furthest apart: the loop body of a tiled kernel."""
    barriers = [i for i, (_, text) in enumerate(instructions) if "BAR.SYNC" in text]
    if len(barriers) < 2:
        return []
    start, end = max(zip(barriers, barriers[1:]), key=lambda pair: pair[1] - pair[0])
    return instructions[start + 1:end]


def skippable(body):
    """Addresses of the instructions that a conditional branch jumps over to a BSYNC (a skipped block)."""
    reconverge = {address for address, text in body if text.startswith("BSYNC")}
    skipped = set()
    for address, text in body:
        branch = re.match(r"@!?P\d\s+BRA\s+(?:!?P\d,\s*)?0x([0-9a-f]+)", text)
        if branch and int(branch.group(1), 16) in reconverge:
            target = int(branch.group(1), 16)
            skipped |= {a for a, _ in body if address < a < target}
    return skipped


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cubins", help="folder of cubins from `gpt2 kernels --out`, or one cubin")
    parser.add_argument("--cuobjdump", help="path to cuobjdump (default: PATH, /usr/local/cuda, the pip wheel)")
    parser.add_argument("--only", default="_tc_", help="kernels whose name contains this (default: _tc_)")
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.cubins, "*.cubin"))) if os.path.isdir(args.cubins) else [args.cubins]
    if not files:
        sys.exit(f"no cubins in {args.cubins}")
    tool = find_cuobjdump(args.cuobjdump)
    print(f"{'kernel':<34} {'HMMA':>5} {'diagonal tile':>14} {'other tiles':>12} {'per HMMA':>9}")
    for path in files:
        sass = subprocess.run([tool, "-sass", path], check=True, capture_output=True, text=True).stdout
        for name, instructions in sorted(functions(sass).items()):
            if args.only not in name:
                continue
            body = tile_loop(instructions)
            mma = sum(text.split()[0].startswith("HMMA") or " HMMA" in text for _, text in body)
            fast = len(body) - len(skippable(body))
            print(f"{name:<34} {mma:>5} {len(body):>14} {fast:>12} {fast / max(mma, 1):>9.1f}")


if __name__ == "__main__":
    main()
