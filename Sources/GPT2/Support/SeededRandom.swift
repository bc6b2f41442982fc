/// A small, fast, seedable random number generator (xoshiro256**, seeded through SplitMix64) whose whole
/// state is four words: data order, initialisation and sampling use it so a seed reproduces a run exactly.

import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct SeededRandom: RandomNumberGenerator, Codable, Sendable, Hashable {
    private var s0, s1, s2, s3: UInt64

    /// A generator whose sequence is fully determined by `seed`.
    public init(seed: UInt64) {
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    /// A generator for one labelled sub-stream of `seed` (e.g. seed, epoch, shard), independent of the others.
    public init(seed: UInt64, stream: [UInt64]) {
        var combined = SeededRandom(seed: seed)
        for label in stream { combined = SeededRandom(seed: combined.next() ^ label) }
        self = combined
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A uniform integer in `0..<bound` without modulo bias (Lemire's multiply-and-reject).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold { product = next().multipliedFullWidth(by: range) }
        }
        return Int(product.high)
    }

    /// A uniform `Double` in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double { Self.uniform(next()) }

    /// The uniform `Double` in [0, 1) that 64 random bits stand for (their top 53).
    private static func uniform(_ bits: UInt64) -> Double { Double(bits >> 11) * 0x1.0p-53 }

    /// Box–Muller pairs fillNormal draws at a time (1 MiB of draws).
    static let drawChunkPairs = 1 << 16

    /// The cores fillNormal spreads its transforms over.
    private static let coreCount = WorkerThreads.cores

    /// The Box–Muller transform of two draws: radius √(−2·ln(1 − u)) (1 − u is in (0, 1], so the log is finite)
    /// and angle 2π·u'; radius·cos(angle) and radius·sin(angle) are independent N(0, 1) samples.
    private static func boxMuller(_ first: UInt64, _ second: UInt64) -> (radius: Double, angle: Double) {
        ((-2 * log(1 - uniform(first))).squareRoot(), 2 * Double.pi * uniform(second))
    }

    /// Fills `values` with N(mean, std²) samples, using both outputs of each Box–Muller pair: values 2i and 2i+1
    /// from the pair's two draws, in order.
    /// The draws are sequential, but the transforms (log, square root, cosine, sine: nearly all the time, ~4 s
    /// for GPT-2 124M on one core) run on every core, pair by pair, so the values do not depend on the core count.
    public mutating func fillNormal(_ values: inout [Float], mean: Float = 0, std: Float = 1) {
        let pairCount = (values.count + 1) / 2
        let uniforms = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * min(pairCount, Self.drawChunkPairs))
        defer { uniforms.deallocate() }
        values.withUnsafeMutableBufferPointer { output in
            nonisolated(unsafe) let output = output, uniforms = uniforms
            var firstPair = 0
            while firstPair < pairCount {
                let pairs = min(Self.drawChunkPairs, pairCount - firstPair)
                for i in 0..<(2 * pairs) { uniforms[i] = next() }
                let start = firstPair
                let workers = min(Self.coreCount, max(1, pairs / 4096))
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    for pair in (pairs * worker / workers)..<(pairs * (worker + 1) / workers) {
                        let (radius, angle) = Self.boxMuller(uniforms[2 * pair], uniforms[2 * pair + 1])
                        let index = 2 * (start + pair)
                        output[index] = mean + std * Float(radius * cos(angle))
                        if index + 1 < output.count { output[index + 1] = mean + std * Float(radius * sin(angle)) }
                    }
                }
                firstPair += pairs
            }
        }
    }

    /// A uniformly random permutation of `0..<count` (Fisher–Yates, defined here so it never changes with
    /// the standard library's shuffle algorithm).
    public mutating func permutation(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        var i = count - 1
        while i > 0 {
            order.swapAt(i, nextInt(below: i + 1))
            i -= 1
        }
        return order
    }

    @inline(__always) private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
