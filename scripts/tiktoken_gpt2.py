"""tiktoken's `gpt2` encoding built offline from encoder.json + vocab.bpe (tiktoken cannot download here).

Usage as a module:  enc = gpt2_encoding("MIRROR/gpt2")
Usage as a script:  python3 scripts/tiktoken_gpt2.py VOCAB_DIR < text   (prints the ids, one per line)
"""
import json
import os
import sys

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks

# tiktoken's own pattern for `gpt2` (r50k_base); equivalent to GPT-2's original
# 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
END_OF_TEXT = 50256


def byte_for_char():
    """GPT-2's byte<->unicode alphabet: printable bytes stand for themselves, the others for U+0100..."""
    printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    table = {chr(b): b for b in printable}
    extra = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + extra)] = b
            extra += 1
    return table


def mergeable_ranks(vocab_dir):
    """Token bytes -> rank (= GPT-2 id), from encoder.json; checked against tiktoken's own loader."""
    alphabet = byte_for_char()
    with open(os.path.join(vocab_dir, "encoder.json"), encoding="utf-8") as f:
        encoder = json.load(f)
    ranks = {bytes(alphabet[c] for c in text): i for text, i in encoder.items() if i != END_OF_TEXT}
    os.environ["TIKTOKEN_CACHE_DIR"] = ""  # read the local files directly, never a stale cache
    reference = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=os.path.join(vocab_dir, "vocab.bpe"),
        encoder_json_file=os.path.join(vocab_dir, "encoder.json"))
    assert ranks == reference, "encoder.json conversion disagrees with tiktoken's data_gym loader"
    return ranks


def gpt2_encoding(vocab_dir):
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=mergeable_ranks(vocab_dir),
        special_tokens={"<|endoftext|>": END_OF_TEXT},
        explicit_n_vocab=50257,
    )


if __name__ == "__main__":
    text = sys.stdin.buffer.read().decode("utf-8")
    ids = gpt2_encoding(sys.argv[1]).encode_ordinary(text)
    sys.stdout.write("".join(f"{i}\n" for i in ids))
