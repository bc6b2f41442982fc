/// The seeded generator: a seed fixes the sequence, draws stay in range and are unbiased, Box–Muller
/// samples have the requested mean and spread, and permutations are permutations.

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

    @Test func permutationContainsEveryIndexOnce() {
        var random = SeededRandom(seed: 8)
        let order = random.permutation(1000)
        #expect(order.sorted() == Array(0..<1000))
        #expect(order != Array(0..<1000))
    }
}
