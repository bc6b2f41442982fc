#!/usr/bin/env python3
"""Known answers for SeededRandom (Sources/GPT2/Support/SeededRandom.swift), computed independently of it.

SplitMix64 (Steele, Lea, Flood 2014; Vigna's splitmix64.c) and xoshiro256** (Blackman, Vigna 2018;
xoshiro256starstar.c), transcribed from the published C reference code into Python's unbounded integers,
masked to 64 bits. SeededRandom(seed:) fills its four state words with the first four SplitMix64 outputs of
`seed`, then draws with xoshiro256**.

Run: python3 scripts/seeded_random_reference.py
It prints SplitMix64's first outputs for seed 1234567 (to compare with the values published on Rosetta Code's
SplitMix64 page: 6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431,
16408922859458223821), the first xoshiro256** outputs of SeededRandom for a few seeds, and those of a few labelled
sub-streams (SeededRandom(seed:stream:), which orders a shuffled run's data), which
Tests/GPT2Tests/SeededRandomTests.swift holds as known answers.
"""

MASK = (1 << 64) - 1


def splitmix64(state):
    """Yields SplitMix64's outputs from `state` (splitmix64.c: x += 0x9e3779b97f4a7c15, then the mix)."""
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def xoshiro256starstar(s):
    """Yields xoshiro256**'s outputs from the four-word state `s` (xoshiro256starstar.c's next())."""
    s = list(s)
    while True:
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        yield result


def seeded_generator(seed):
    mixer = splitmix64(seed)
    return xoshiro256starstar([next(mixer) for _ in range(4)])


def seeded_random(seed, count):
    generator = seeded_generator(seed)
    return [next(generator) for _ in range(count)]


def seeded_stream(seed, labels, count):
    """SeededRandom(seed:stream:): for each label in turn, a generator seeded by the previous one's next output XOR
    the label (the first previous one is the generator of `seed`)."""
    generator = seeded_generator(seed)
    for label in labels:
        generator = seeded_generator(next(generator) ^ label)
    return [next(generator) for _ in range(count)]


if __name__ == "__main__":
    mixer = splitmix64(1234567)
    print("splitmix64(1234567):", [next(mixer) for _ in range(5)])
    for seed in (0, 1, 1337, 0xFFFFFFFFFFFFFFFF):
        print(f"SeededRandom(seed: {seed}):", ", ".join(f"0x{x:016X}" for x in seeded_random(seed, 6)))
    for seed, labels in ((1337, [0]), (1337, [3]), (1337, [2, 5])):
        print(f"SeededRandom(seed: {seed}, stream: {labels}):", ", ".join(f"0x{x:016X}" for x in seeded_stream(seed, labels, 4)))
