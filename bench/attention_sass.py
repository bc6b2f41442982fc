#!/usr/bin/env python3
"""Instructions per tile in the tensor-core attention kernels' inner loops, read from their SASS: no GPU needed.

With mma.sync on an H100 the tensor cores finish an m16n8k16 in fewer cycles than a warp scheduler needs to
issue the softmax, mask and address instructions around it, so the instruction count per tile bounds the
kernels' speed; this script counts them, from a cubin that `gpt2 kernels` writes, for a before/after
comparison of a kernel change. It is a static count, not a measurement of time.

For each kernel it finds the tile loop (the longest loop) and prints the mma.sync count (HMMA), all
instructions of one pass through it (a tile on the diagonal, which runs the causal mask), the instructions
left without the blocks that only compute and that a branch skips (the mask, which a tile below the diagonal
skips), and the length of every loop inside the tile loop: those run several times per tile (the tile
staging did, before it was unrolled), which the first two counts do not include.

Usage:
  gpt2 kernels --arch sm_90 --only attention_tensor --out /tmp/cubins
  pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm   # cuobjdump (which runs nvdisasm), no toolkit needed
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
    sys.exit("cuobjdump not found: install a CUDA toolkit or `pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm`, "
             "or pass --cuobjdump")


def functions(sass):
    """{kernel name: [(address, instruction text)]} from cuobjdump -sass output."""
    result = {}
    for part in re.split(r"\n\s*Function : ", sass)[1:]:
        name, _, body = part.partition("\n")
        result[name.strip()] = [(int(address, 16), text.strip()) for address, text in
                                re.findall(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", body)]
    return result


def branch_target(text):
    """(target address, whether predicated) of a branch instruction, else None."""
    branch = re.match(r"(@!?P\d\s+)?BRA\s+(?:!?P\d,\s*)?0x([0-9a-f]+)", text)
    return (int(branch.group(2), 16), branch.group(1) is not None) if branch else None


def loops(instructions):
    """(start, end) index pairs of the loops: a branch back to an earlier address."""
    index = {address: i for i, (address, _) in enumerate(instructions)}
    found = []
    for i, (address, text) in enumerate(instructions):
        branch = branch_target(text)
        if branch and branch[0] < address:
            found.append((index[branch[0]], i))
    return found


def mask_blocks(body):
    """Addresses of the instructions in blocks that a conditional branch jumps over to their reconvergence point
    (BSYNC) and that touch no memory: the causal mask, which a tile below the diagonal skips. (A skipped block
    that copies, such as the statistics only one warp stages, runs on other tiles too and is kept.)"""
    reconverge = {address for address, text in body if text.startswith("BSYNC")}
    skipped = set()
    for address, text in body:
        branch = branch_target(text)
        if branch and branch[1] and branch[0] in reconverge:
            block = [(a, t) for a, t in body if address < a < branch[0]]
            if not any(re.match(r"(LDG|STG|LDS|STS|LDSM|ATOM|RED)", t) for _, t in block):
                skipped |= {a for a, _ in block}
    return skipped


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cubins", help="folder of cubins from `gpt2 kernels --out`, or one cubin")
    parser.add_argument("--cuobjdump", help="path to cuobjdump (default: PATH, /usr/local/cuda, the pip wheel)")
    parser.add_argument("--only", default="_tc_", help="kernels whose name contains this (default: _tc_)")
    args = parser.parse_args()
    if not os.path.exists(args.cubins):
        sys.exit(f"{args.cubins}: no such file or folder")
    files = sorted(glob.glob(os.path.join(args.cubins, "*.cubin"))) if os.path.isdir(args.cubins) else [args.cubins]
    if not files:
        sys.exit(f"no cubins in {args.cubins}")
    tool = find_cuobjdump(args.cuobjdump)
    print(f"{'kernel':<34} {'HMMA':>5} {'diagonal tile':>14} {'other tiles':>12} {'per HMMA':>9}  inner loops")
    printed = 0
    for path in files:
        dump = subprocess.run([tool, "-sass", path], capture_output=True, text=True)
        if dump.returncode != 0:   # e.g. no nvdisasm beside it (the wheel nvidia-cuda-nvdisasm)
            sys.exit(f"{tool} -sass {path} failed: {dump.stderr.strip()}")
        sass = dump.stdout
        for name, instructions in sorted(functions(sass).items()):
            if args.only not in name:
                continue
            found = loops(instructions)
            if not found:
                continue
            start, end = max(found, key=lambda pair: pair[1] - pair[0])   # the tile loop: the longest
            body = instructions[start:end + 1]
            inner = [e - s + 1 for s, e in found if start <= s and e <= end and (s, e) != (start, end)]
            mma = sum(text.startswith("HMMA") for _, text in body)
            fast = len(body) - len(mask_blocks(body))
            inner_text = ", ".join(str(n) for n in inner) or "none"
            print(f"{name:<34} {mma:>5} {len(body):>14} {fast:>12} {fast / max(mma, 1):>9.1f}  {inner_text}")
            printed += 1
    if printed == 0:   # a mistyped --only would otherwise print the header alone and succeed
        sys.exit(f"no kernel whose name contains {args.only!r} has a tile loop in {args.cubins}")


if __name__ == "__main__":
    main()
