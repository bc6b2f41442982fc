#!/usr/bin/env python3
"""Independent float64 numpy GPT-2 (forward and hand-written backward) that writes the whole-model fixture
the Swift tests compare the CPU backend against: Tests/CPUBackendTests/Fixtures/tiny_reference.bin.

Model: maxT 16, V 100 (Vp 128), L 2, NH 2, C 16; batch B 2, T 8; GELU tanh approximation, LayerNorm eps
1e-5, llm.c parameter order, logits = lnf . wte^T over the padded vocabulary, loss = mean cross-entropy of
the softmax over the first V logits. Parameters come from numpy's default_rng(SEED) (see init_parameters);
they are rounded to float32 first, so Swift and numpy start from identical values. Padded wte rows are
random, not zero, so the test sees that they neither take probability mass nor receive gradient.

Fixture format, little-endian:
  8 bytes   magic b"GPT2REF1"
  int32[10] maxT, V, Vp, L, NH, C, B, T, parameter count P, seed
  float32[P]         parameters, llm.c order (wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb,
                     ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb), layer-stacked
  int32[B*T]         inputs
  int32[B*T]         targets
  float32            mean loss
  float32[B*T*Vp]    logits
  float32[P]         gradients of the mean loss, same order as the parameters

Usage: gpt2_reference.py            write the fixture (and self-check the backward by finite differences)
       gpt2_reference.py --check    recompute and compare with the committed fixture; exit 1 on mismatch
"""
import argparse
import pathlib
import struct
import sys

import numpy as np

SEED = 1337
MAXT, V, L, NH, C = 16, 100, 2, 2, 16
VP = (V + 127) // 128 * 128
B, T = 2, 8
MAGIC = b"GPT2REF1"
FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "Tests/CPUBackendTests/Fixtures/tiny_reference.bin"

# name, shape, how to draw it: ("normal", std) or ("one_plus_normal", std)
SPEC = [
    ("wte", (VP, C), ("normal", 0.3)), ("wpe", (MAXT, C), ("normal", 0.3)),
    ("ln1w", (L, C), ("one_plus_normal", 0.2)), ("ln1b", (L, C), ("normal", 0.2)),
    ("qkvw", (L, 3 * C, C), ("normal", 0.3)), ("qkvb", (L, 3 * C), ("normal", 0.1)),
    ("attprojw", (L, C, C), ("normal", 0.2)), ("attprojb", (L, C), ("normal", 0.1)),
    ("ln2w", (L, C), ("one_plus_normal", 0.2)), ("ln2b", (L, C), ("normal", 0.2)),
    ("fcw", (L, 4 * C, C), ("normal", 0.3)), ("fcb", (L, 4 * C), ("normal", 0.1)),
    ("fcprojw", (L, C, 4 * C), ("normal", 0.15)), ("fcprojb", (L, C), ("normal", 0.1)),
    ("lnfw", (C,), ("one_plus_normal", 0.2)), ("lnfb", (C,), ("normal", 0.2)),
]
GELU_SCALE = np.sqrt(2 / np.pi)


def init_parameters(rng):
    params = {}
    for name, shape, (kind, std) in SPEC:
        values = rng.normal(0.0, std, size=shape)
        if kind == "one_plus_normal":
            values += 1.0
        params[name] = values.astype(np.float32).astype(np.float64)
    return params


def layernorm_forward(x, w, b):
    mean = x.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-5)
    xhat = (x - mean) * rstd
    return xhat * w + b, (xhat, rstd, w)


def layernorm_backward(dout, cache):
    xhat, rstd, w = cache
    dnorm = dout * w
    dx = rstd * (dnorm - dnorm.mean(-1, keepdims=True) - xhat * (dnorm * xhat).mean(-1, keepdims=True))
    return dx, (dout * xhat).reshape(-1, xhat.shape[-1]).sum(0), dout.reshape(-1, xhat.shape[-1]).sum(0)


def attention_forward(qkv):
    hs = C // NH
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(B, T, NH, hs).transpose(0, 2, 1, 3) for i in range(3))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hs)                       # (B,NH,T,T)
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    att = np.exp(scores - scores.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
    return y, (q, k, v, att)


def attention_backward(dy, cache):
    q, k, v, att = cache
    hs = C // NH
    dy = dy.reshape(B, T, NH, hs).transpose(0, 2, 1, 3)
    datt = dy @ v.transpose(0, 1, 3, 2)
    dv = att.transpose(0, 1, 3, 2) @ dy
    dscores = att * (datt - (datt * att).sum(-1, keepdims=True)) / np.sqrt(hs)  # masked entries: att = 0
    dq, dk = dscores @ k, dscores.transpose(0, 1, 3, 2) @ q
    return np.concatenate([d.transpose(0, 2, 1, 3).reshape(B, T, C) for d in (dq, dk, dv)], axis=-1)


def gelu(x):
    return 0.5 * x * (1 + np.tanh(GELU_SCALE * (x + 0.044715 * x ** 3)))


def gelu_derivative(x):
    th = np.tanh(GELU_SCALE * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + th) + 0.5 * x * (1 - th ** 2) * GELU_SCALE * (1 + 3 * 0.044715 * x ** 2)


def forward(p, inputs, targets):
    """Mean loss, logits (B,T,Vp) and everything backward needs."""
    x = p["wte"][inputs] + p["wpe"][:T]
    caches = []
    for l in range(L):
        ln1, ln1_cache = layernorm_forward(x, p["ln1w"][l], p["ln1b"][l])
        qkv = ln1 @ p["qkvw"][l].T + p["qkvb"][l]
        atty, att_cache = attention_forward(qkv)
        residual2 = x + atty @ p["attprojw"][l].T + p["attprojb"][l]
        ln2, ln2_cache = layernorm_forward(residual2, p["ln2w"][l], p["ln2b"][l])
        fch = ln2 @ p["fcw"][l].T + p["fcb"][l]
        fch_gelu = gelu(fch)
        residual3 = residual2 + fch_gelu @ p["fcprojw"][l].T + p["fcprojb"][l]
        caches.append((ln1, ln1_cache, att_cache, atty, ln2, ln2_cache, fch, fch_gelu))
        x = residual3
    lnf, lnf_cache = layernorm_forward(x, p["lnfw"], p["lnfb"])
    logits = lnf @ p["wte"].T
    real = logits[..., :V]
    shifted = real - real.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    losses = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    return losses.mean(), logits, (caches, lnf, lnf_cache, np.exp(log_probs))


def backward(p, inputs, targets, saved):
    """Gradients of the mean loss, one array per parameter."""
    caches, lnf, lnf_cache, probs = saved
    g = {name: np.zeros_like(value) for name, value in p.items()}
    dlogits = np.zeros((B, T, VP))
    dlogits[..., :V] = probs
    np.put_along_axis(dlogits, targets[..., None], np.take_along_axis(dlogits, targets[..., None], -1) - 1, -1)
    dlogits /= B * T
    g["wte"] += dlogits.reshape(-1, VP).T @ lnf.reshape(-1, C)
    dx, g["lnfw"], g["lnfb"] = layernorm_backward(dlogits @ p["wte"], lnf_cache)
    for l in reversed(range(L)):
        ln1, ln1_cache, att_cache, atty, ln2, ln2_cache, fch, fch_gelu = caches[l]
        # residual3 = residual2 + fcproj
        g["fcprojw"][l] = dx.reshape(-1, C).T @ fch_gelu.reshape(-1, 4 * C)
        g["fcprojb"][l] = dx.reshape(-1, C).sum(0)
        dfch = (dx @ p["fcprojw"][l]) * gelu_derivative(fch)
        g["fcw"][l] = dfch.reshape(-1, 4 * C).T @ ln2.reshape(-1, C)
        g["fcb"][l] = dfch.reshape(-1, 4 * C).sum(0)
        dresidual2, g["ln2w"][l], g["ln2b"][l] = layernorm_backward(dfch @ p["fcw"][l], ln2_cache)
        dx = dx + dresidual2
        # residual2 = x + attproj
        g["attprojw"][l] = dx.reshape(-1, C).T @ atty.reshape(-1, C)
        g["attprojb"][l] = dx.reshape(-1, C).sum(0)
        dqkv = attention_backward(dx @ p["attprojw"][l], att_cache)
        g["qkvw"][l] = dqkv.reshape(-1, 3 * C).T @ ln1.reshape(-1, C)
        g["qkvb"][l] = dqkv.reshape(-1, 3 * C).sum(0)
        dinput, g["ln1w"][l], g["ln1b"][l] = layernorm_backward(dqkv @ p["qkvw"][l], ln1_cache)
        dx = dx + dinput
    np.add.at(g["wte"], inputs.reshape(-1), dx.reshape(-1, C))
    g["wpe"][:T] += dx.sum(0)
    return g


def self_check(p, inputs, targets, grads, rng):
    """Central differences in float64 on a few entries of every tensor: the reference's own backward."""
    worst = 0.0
    for name, _, _ in SPEC:
        flat, gflat = p[name].reshape(-1), grads[name].reshape(-1)
        for i in rng.choice(flat.size, size=min(4, flat.size), replace=False):
            original = flat[i]
            flat[i] = original + 1e-5
            up = forward(p, inputs, targets)[0]
            flat[i] = original - 1e-5
            down = forward(p, inputs, targets)[0]
            flat[i] = original
            worst = max(worst, abs((up - down) / 2e-5 - gflat[i]))
    # float64 differences with h = 1e-5: truncation ~1e-10, rounding ~1e-16/1e-5 = 1e-11
    if worst > 1e-7:
        sys.exit(f"reference backward disagrees with finite differences: {worst:.3e}")
    print(f"reference backward vs float64 finite differences: worst abs error {worst:.2e}")


def build():
    rng = np.random.default_rng(SEED)
    p = init_parameters(rng)
    inputs = rng.integers(0, V, size=(B, T)).astype(np.int32)
    targets = rng.integers(0, V, size=(B, T)).astype(np.int32)
    loss, logits, saved = forward(p, inputs, targets)
    grads = backward(p, inputs, targets, saved)
    self_check(p, inputs, targets, grads, rng)
    flat = lambda d: np.concatenate([d[name].reshape(-1) for name, _, _ in SPEC]).astype("<f4")
    params, gradients = flat(p), flat(grads)
    header = MAGIC + struct.pack("<10i", MAXT, V, VP, L, NH, C, B, T, params.size, SEED)
    return b"".join([header, params.tobytes(), inputs.astype("<i4").tobytes(), targets.astype("<i4").tobytes(),
                     np.array([loss], "<f4").tobytes(), logits.astype("<f4").tobytes(), gradients.tobytes()]), loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed fixture instead of writing it")
    args = parser.parse_args()
    data, loss = build()
    if not args.check:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_bytes(data)
        print(f"wrote {FIXTURE} ({len(data)} bytes), loss {loss:.6f}")
        return
    committed = FIXTURE.read_bytes()
    exact = len(MAGIC) + 40 + 4 * (sum(np.prod(shape) for _, shape, _ in SPEC) + 2 * B * T)
    if len(committed) != len(data) or committed[:exact] != data[:exact]:
        sys.exit("fixture header, parameters or tokens differ from the reference; regenerate it")
    # the rest are float32 roundings of float64 results: another BLAS may flip a last bit, no more
    new, old = (np.frombuffer(d[exact:], "<f4") for d in (data, committed))
    if not np.allclose(new, old, rtol=1e-6, atol=1e-9):
        sys.exit(f"fixture differs from the reference: max abs difference {np.abs(new - old).max():.3e}")
    print("fixture matches the reference")


if __name__ == "__main__":
    main()
