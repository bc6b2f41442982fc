/// The seeded generator: a seed fixes the sequence, draws stay in range and are unbiased, Box–Muller
/// samples have the requested mean and spread (and are the documented transform of the draws, in order),
/// and permutations are permutations.

import Testing
import Foundation
@testable import GPT2

@Suite struct SeededRandomTests {
    @Test func sameSeedGivesSameSequenceAndOtherSeedsDiffer() {
        var a = SeededRandom(seed: 1234), b = SeededRandom(seed: 1234), c = SeededRandom(seed: 1235)
        let first = (0..<16).map { _ in a.next() }
        #expect(first == (0..<16).map { _ in b.next() })
        #expect(first != (0..<16).map { _ in c.next() })
    }

    @Test func stateSurvivesCodableRoundTrip() throws {
        var random = SeededRandom(seed: 9)
        _ = random.next()
        var copy = try JSONDecoder().decode(SeededRandom.self, from: JSONEncoder().encode(random))
        #expect((0..<8).map { _ in random.next() } == (0..<8).map { _ in copy.next() })
    }

    @Test func boundedIntegersAreInRangeAndUniform() {
        var random = SeededRandom(seed: 3)
        var counts = [Int](repeating: 0, count: 10)
        let draws = 100_000
        for _ in 0..<draws { counts[random.nextInt(below: 10)] += 1 }
        // Each count is Binomial(1e5, 0.1): σ ≈ 95, so ±600 is > 6σ.
        for count in counts { #expect(abs(count - draws / 10) < 600) }
    }

    @Test func normalSamplesHaveRequestedMeanAndStd() {
        var random = SeededRandom(seed: 5)
        let n = 100_000
        let samples = (0..<n).map { _ in random.normal(mean: 2, std: 0.5) }
        let mean = samples.reduce(0, +) / Double(n)
        let std = (samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)).squareRoot()
        // Standard errors: 0.5/√n ≈ 0.0016 for the mean, ≈ 0.0011 for the std; allow ~6 of them.
        #expect(abs(mean - 2) < 0.01)
        #expect(abs(std - 0.5) < 0.007)
    }

    @Test func fillNormalHasUnitSpread() {
        var random = SeededRandom(seed: 6)
        var values = [Float](repeating: 0, count: 100_001)
        random.fillNormal(&values, std: 1)
        let mean = values.reduce(0, +) / Float(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
        #expect(abs(mean) < 0.02)
        #expect(abs(variance - 1) < 0.03)
    }

    /// The transforms run in parallel, chunk by chunk; the values must still be the pairs of the draws in order.
    @Test("fillNormal gives each pair of draws' Box–Muller values in order, across chunks and with an odd count",
          arguments: [1, 2, 9_999, 262_147])
    func fillNormalIsBoxMullerOfTheDrawsInOrder(count: Int) {
        var random = SeededRandom(seed: 11), reference = SeededRandom(seed: 11)
        var values = [Float](repeating: .nan, count: count)
        random.fillNormal(&values, mean: 0.5, std: 0.02)
        var expected = [Float]()
        while expected.count < count {
            let radius = (-2 * log(1 - Double(reference.next() >> 11) * 0x1.0p-53)).squareRoot()
            let angle = 2 * Double.pi * Double(reference.next() >> 11) * 0x1.0p-53
            expected.append(0.5 + 0.02 * Float(radius * cos(angle)))
            if expected.count < count { expected.append(0.5 + 0.02 * Float(radius * sin(angle))) }
        }
        // the first difference, not the arrays: a failure would otherwise print megabytes of floats
        let mismatch = values.indices.first { values[$0] != expected[$0] }
        #expect(mismatch == nil, "value \(mismatch ?? 0): \(values[mismatch ?? 0]), expected \(expected[mismatch ?? 0])")
        #expect(random.next() == reference.next(), "the generator continues after the last pair's draws")
    }

    @Test func permutationContainsEveryIndexOnce() {
        var random = SeededRandom(seed: 8)
        let order = random.permutation(1000)
        #expect(order.sorted() == Array(0..<1000))
        #expect(order != Array(0..<1000))
    }
}
