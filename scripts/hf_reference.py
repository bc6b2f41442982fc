#!/usr/bin/env python3
"""Independent reference for the Hugging Face export and for HellaSwag scoring: a float64 numpy GPT-2 forward
over a transformers-layout `model.safetensors` (read with the `safetensors` package's numpy API, shape from the
`config.json` beside it), and HellaSwag scored the way llm.c / build-nanogpt score it, tokenised with tiktoken's
gpt2 encoding (scripts/tiktoken_gpt2.py).

Model: GELU tanh approximation ("gelu_new"), LayerNorm eps 1e-5, Conv1D weights [in, out], lm_head tied to wte.

HellaSwag: for each item, the 4 rows tokens(ctx) + tokens(" " + ending); the loss of each ending token given
everything before it; acc = argmin of the SUM of an ending's token losses, acc_norm = argmin of the MEAN.
A row longer than WINDOW + 1 tokens keeps its last WINDOW + 1 (the context is cut from the left).

Usage:
  hf_reference.py logits DIR OUT.f32 TOKENS...     logits (T, V) for one row of token ids, raw little-endian fp32
  hf_reference.py hellaswag DIR DATA.jsonl VOCAB_DIR [--window N] [--limit N]
                                                   prints JSON {"acc", "acc_norm", "correct", "correct_norm",
                                                   "losses": [[[sum, tokens] x4] per item]}
"""
import argparse
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class GPT2:
    def __init__(self, directory):
        with open(os.path.join(directory, "config.json")) as f:
            config = json.load(f)
        self.n_layer, self.n_head, self.n_embd = config["n_layer"], config["n_head"], config["n_embd"]
        raw = load_file(os.path.join(directory, "model.safetensors"))
        self.w = {(k[len("transformer."):] if k.startswith("transformer.") else k): v.astype(np.float64)
                  for k, v in raw.items()}

    @staticmethod
    def layer_norm(x, weight, bias):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-5) * weight + bias

    @staticmethod
    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

    def logits(self, tokens):
        """(T,) token ids -> (T, V) logits."""
        w, T, C, NH = self.w, len(tokens), self.n_embd, self.n_head
        HS = C // NH
        x = w["wte.weight"][tokens] + w["wpe.weight"][:T]
        mask = np.triu(np.full((T, T), -np.inf), k=1)
        for l in range(self.n_layer):
            p = f"h.{l}."
            h = self.layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
            qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]          # (T, 3C)
            q, k, v = (qkv[:, i * C:(i + 1) * C].reshape(T, NH, HS).transpose(1, 0, 2) for i in range(3))
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(HS) + mask                      # (NH, T, T)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            y = (scores @ v).transpose(1, 0, 2).reshape(T, C)
            x = x + y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            h = self.layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
            h = self.gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = self.layer_norm(x, w["ln_f.weight"], w["ln_f.bias"])
        return x @ w["wte.weight"].T

    def token_losses(self, tokens):
        """Cross-entropy of predicting tokens[1:] from the tokens before each: (T-1,)."""
        if len(tokens) < 2:
            return np.zeros(0)
        logits = self.logits(tokens[:-1])
        logits = logits - logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        return -log_probs[np.arange(len(tokens) - 1), tokens[1:]]


def hellaswag(model, data, vocab_dir, window, limit):
    from tiktoken_gpt2 import gpt2_encoding
    enc = gpt2_encoding(vocab_dir)
    losses, correct, correct_norm, count = [], 0, 0, 0
    with open(data, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            if limit and count >= limit:
                break
            item = json.loads(line)
            context = enc.encode_ordinary(item["ctx"])
            endings = []
            for ending in item["endings"]:
                ending_tokens = enc.encode_ordinary(" " + ending)
                row = (context + ending_tokens)[-(window + 1):]
                scored = min(len(ending_tokens), len(row) - 1)
                token_losses = model.token_losses(np.array(row))
                endings.append([float(token_losses[len(row) - 1 - scored:].sum()), scored])
            # an ending with no scored token (one token after an empty ctx) has no loss to compare: it never wins
            sums = [s if n > 0 else np.inf for s, n in endings]
            means = [s / n if n > 0 else np.inf for s, n in endings]
            correct += int(np.argmin(sums) == item["label"])
            correct_norm += int(np.argmin(means) == item["label"])
            losses.append(endings)
            count += 1
    return {"acc": correct / max(count, 1), "acc_norm": correct_norm / max(count, 1), "correct": correct,
            "correct_norm": correct_norm, "examples": count, "losses": losses}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("logits")
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("tokens", nargs="+", type=int)
    p = sub.add_parser("hellaswag")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("vocab")
    p.add_argument("--window", type=int, default=1024)
    p.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    model = GPT2(args.model)
    if args.command == "logits":
        model.logits(np.array(args.tokens)).astype("<f4").tofile(args.out)
    else:
        print(json.dumps(hellaswag(model, args.data, args.vocab, args.window, args.limit)))


if __name__ == "__main__":
    main()
