"""Tokenizer throughput, tiktoken vs `gpt2 tokenize`, on one text file, 1 thread and all threads.

Usage: python3 bench/tokenizer_bench.py PATH/TO/gpt2 TEXT_FILE [--vocab-dir DIR] [--repeat N]
tiktoken: encode_ordinary over the file's documents (1 thread) and encode_ordinary_batch (all threads);
documents are the file cut by GPT2Tokenizer.isIndependentCut's rule (before "\\n" after printable ASCII).
gpt2: `gpt2 tokenize --stats --threads N`, its own encode time (excludes loading the vocabulary and I/O).
Both check that their ids agree. Best of --repeat runs.
"""
import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from tiktoken_gpt2 import gpt2_encoding  # noqa: E402


def documents(text, target=1 << 16):
    """Parts of about `target` characters, cut before a newline that follows printable ASCII."""
    parts, start = [], 0
    for match in re.finditer(r"(?<=[\x21-\x7e])\n", text):
        if match.start() - start >= target:
            parts.append(text[start:match.start()])
            start = match.start()
    parts.append(text[start:])
    return parts


def ours(binary, path, vocab_dir, threads):
    result = subprocess.run(
        [binary, "tokenize", "--stats", "--threads", str(threads), "--vocab-dir", vocab_dir, path],
        capture_output=True, check=True)
    stats = result.stderr.decode()
    megabytes_per_second = float(re.search(r"([0-9.]+) MB/s", stats).group(1))
    return megabytes_per_second, [int(line) for line in result.stdout.split()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("text")
    parser.add_argument("--vocab-dir", default=os.path.join(os.environ.get("GPT2_DATA_MIRROR", "../shared/data"), "gpt2"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    encoding = gpt2_encoding(args.vocab_dir)
    with open(args.text, encoding="utf-8", newline="") as f:  # keep \r\n as it is
        text = f.read()
    size = len(text.encode("utf-8"))
    parts = documents(text)
    cores = os.cpu_count()
    print(f"{args.text}: {size / 1e6:.2f} MB, {len(parts)} documents, {cores} cores")

    def tiktoken_run(threads):
        best, ids = 0.0, None
        for _ in range(args.repeat):
            start = time.perf_counter()
            if threads == 1:
                encoded = [encoding.encode_ordinary(p) for p in parts]
            else:
                encoded = encoding.encode_ordinary_batch(parts, num_threads=threads)
            best = max(best, size / 1e6 / (time.perf_counter() - start))
            ids = [i for e in encoded for i in e]
        return best, ids

    print(f"{'threads':>8} {'tiktoken MB/s':>14} {'gpt2 MB/s':>10} {'ids agree':>10}")
    for threads in sorted({1, cores}):
        theirs, reference = tiktoken_run(threads)
        best, agree = 0.0, True
        for _ in range(args.repeat):
            speed, ids = ours(args.binary, args.text, args.vocab_dir, threads)
            best = max(best, speed)
            agree = agree and ids == reference
        print(f"{threads:>8} {theirs:>14.2f} {best:>10.2f} {str(agree):>10}")


if __name__ == "__main__":
    main()
