"""Builds the tokenizer golden corpus deterministically and tiktoken's ids for it (the reference the Swift
tests compare against): tinyshakespeare plus generated text aimed at every rule of GPT-2's pre-tokeniser.

Usage: python3 scripts/tokenizer_golden.py MIRROR OUT_DIR
Writes OUT_DIR/documents.txt (all documents' UTF-8, concatenated), OUT_DIR/lengths.json (each document's
byte length) and OUT_DIR/ids.json (tiktoken encode_ordinary ids per document).
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiktoken_gpt2 import gpt2_encoding  # noqa: E402

SCRIPTS = [
    "The quick brown fox jumps over the lazy dog",
    "日本語のテキストと漢字、ひらがな、カタカナ。中文文本测试，繁體中文。",
    "العربية نص تجريبي مع أرقام ٠١٢٣٤٥٦٧٨٩",
    "עברית טקסט לדוגמה",
    "हिन्दी में पाठ का उदाहरण १२३४५",
    "ภาษาไทยเป็นภาษาที่ไม่มีช่องว่าง ๑๒๓",
    "Русский текст, ещё и ЁЖИК",
    "Ελληνικά κείμενα με τόνους ΆΈΉ",
    "한국어 텍스트 예제 입니다",
    "Ქართული ენა, Հայերեն, ትግርኛ, ᏣᎳᎩ, ᐃᓄᒃᑎᑐᑦ, ꦧꦱꦗꦮ, བོད་ཡིག, ᠮᠣᠩᠭᠣᠯ",
    "Tiếng Việt có dấu: ường, ệ, ẫ; Türkçe İı; Straße; Œuvre; ǅ ǈ ǋ",
    "e\u0301 a\u0308 n\u0303 combining\u0327\u0300\u0316 marks \u20dd \u0489",
    "👩‍👩‍👧‍👦 👨🏽‍💻 🏳️‍🌈 🇫🇷🇯🇵🇺🇸 ❤️ 👍🏿 🧑‍🚀 #️⃣ 1️⃣",
    "digits: ０１２ ٣٤ ۵۶ ߇ ௧௨ ๓ ໔ ༥ ၆ ៧ ᠸ ᥆ ① Ⅻ ½ ¾ ⁴ ₅ 𝟘𝟙 𐒠",
    "math: ∑∫∂√∞ ≠≤≥ ⊂⊃ 𝔸𝔹 𝓐 ℕℝ ℃ № ™ ©®",
]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Re", "'rE", "'VE", "'M",
                "'LL", "'Ll", "'D", "'x", "'", "''", "'''s", "’s", "'1", "' s"]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "\u00a0", "\u0085", "\u1680", "\u2028", "\u2029",
          "\u202f", "\u205f", "\u3000", "\u180e", "\u200b", "\ufeff"] + [chr(c) for c in range(0x2000, 0x200B)]
PUNCTUATION = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»—–…‘’“”•·§¶†‡‰′″‹›€£¥₹"
WORDS = ["hello", "world", "don", "can", "I", "you", "it", "Hello", "WORLD", "x", "ab12cd", "3.14", "1,000",
         "2024", "a_b", "foo.bar", "<|endoftext|>", "<|endoftext", "http://example.com/a?b=c", "e-mail",
         "naïve", "café", "Zürich", "ﬁ", "ǲ", "ⅷ", "Σίσυφος"]


def random_scalar(rng):
    plane = rng.choice([0, 0, 0, 1, 2, 3, 14, 15, 16])
    while True:
        value = plane * 0x10000 + rng.randrange(0x10000)
        if not 0xD800 <= value <= 0xDFFF:
            return chr(value)


def atom(rng):
    kind = rng.randrange(10)
    if kind == 0:
        return rng.choice(WORDS) + rng.choice(CONTRACTIONS)
    if kind == 1:
        text = rng.choice(SCRIPTS)
        start = rng.randrange(len(text))
        return text[start:start + rng.randrange(1, 40)]
    if kind == 2:
        return "".join(rng.choice(SPACES) for _ in range(rng.choice([1, 2, 3, 5, 17, 200])))
    if kind == 3:
        return "".join(rng.choice(PUNCTUATION) for _ in range(rng.randrange(1, 12)))
    if kind == 4:
        return "".join(random_scalar(rng) for _ in range(rng.randrange(1, 8)))
    if kind == 5:
        return "".join(chr(rng.randrange(0, 0x20)) for _ in range(rng.randrange(1, 4))) + chr(0x7F)
    if kind == 6:
        return str(rng.randrange(10 ** rng.randrange(1, 30)))
    return rng.choice(WORDS)


def generated_document(rng):
    parts = []
    for _ in range(rng.randrange(1, 120)):
        parts.append(atom(rng))
        parts.append(rng.choice([" ", " ", " ", "", "\n", "  ", "\t", "\u00a0", " \n", "\n\n", "   "]))
    if rng.random() < 0.3:
        parts.append(rng.choice(SPACES) * rng.randrange(1, 5))  # whitespace at the end of the text
    return "".join(parts)


def corpus(mirror):
    rng = random.Random(20240601)
    with open(os.path.join(mirror, "tinyshakespeare.txt"), encoding="utf-8") as f:
        paragraphs = f.read().split("\n\n")
    documents = ["\n\n".join(paragraphs[i:i + 40]) for i in range(0, len(paragraphs), 40)]
    documents += ["", " ", "\n", "  x", "x  ", "<|endoftext|>", "a<|endoftext|>b", "'s", "\r\n\r\n", "\u3000\u3000a"]
    generated = 0
    while generated < 700_000:
        document = generated_document(rng)
        generated += len(document.encode("utf-8"))
        documents.append(document)
    documents.append(" " * 5000 + "end" + "\n" * 3000)  # long whitespace runs
    # long pieces (the merger's heap path) and equal-rank ties
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéßøжλ"
    documents.append("".join(rng.choice(letters) for _ in range(5000)))
    documents.append("a" * 1001 + " " + "ab" * 700 + " " + "0" * 513 + " " + "9" * 3001)
    documents.append("".join(rng.choice(PUNCTUATION) for _ in range(2000)) + "=" * 777 + "-" * 300)
    documents.append("".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(1500)))
    documents.append("".join(str(rng.randrange(10)) for _ in range(4000)))
    documents.append("".join(SCRIPTS) * 20)
    # Scalars assigned in Unicode 17 (one per block of additions), which tiktoken 0.14 does not know: "other", not
    # letters or numbers, whatever the Swift runtime's tables say; and Unicode 16 letters, which it does know.
    for value in [0x088F, 0x0C5C, 0x0CDC, 0xA7CE, 0xA7D2, 0xA7F1, 0x10940, 0x10EC5, 0x11DB0, 0x11DE0, 0x16EA0, 0x16FF2,
                  0x187F8, 0x18D09, 0x18D80, 0x1E6C0, 0x1E6E0, 0x2B73A, 0x2CEA2, 0x323B0, 0x33479, 0x1C89, 0x10D50]:
        c = chr(value)
        documents.append("x" + c + "'s" + c + "1 " + c + "." + c + c + " " + c + "'ll")
    return documents


def main():
    mirror, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    documents = corpus(mirror)
    encoding = gpt2_encoding(os.path.join(mirror, "gpt2"))
    encoded = [document.encode("utf-8") for document in documents]
    with open(os.path.join(out, "documents.txt"), "wb") as f:
        f.write(b"".join(encoded))
    with open(os.path.join(out, "lengths.json"), "w") as f:
        json.dump([len(b) for b in encoded], f)
    with open(os.path.join(out, "ids.json"), "w") as f:
        json.dump([encoding.encode_ordinary(d) for d in documents], f)
    print(f"{len(documents)} documents, {sum(map(len, encoded))} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
