/// The CPU backend's vectorised exp and tanh against libm in double precision over a dense grid, the
/// extremes (−100, −87, 0, 88, 100) and non-finite inputs; plus the SIMD dot, axpy, maximum and sum-of-exponentials
/// helpers.

@testable import CPUBackend
import GPT2TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct VectorMathTests {
    /// Every x in [low, high] on a 1/1024 grid (exact in fp32), with the extremes appended.
    static func grid(_ low: Float, _ high: Float) -> [Float] {
        let steps = Int((high - low) * 1024)
        return (0...steps).map { low + Float($0) / 1024 } + [-100, -87, 0, 88, 100].filter { $0 >= low && $0 <= high }
    }

    /// Applies a lane function to `values`, eight at a time (the tail padded with zeros).
    static func lanes(_ values: [Float], _ f: (Vec) -> Vec) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(values.count + 8)
        var i = 0
        while i < values.count {
            var v = Vec()
            for lane in 0..<8 where i + lane < values.count { v[lane] = values[i + lane] }
            let r = f(v)
            for lane in 0..<8 where i + lane < values.count { out.append(r[lane]) }
            i += 8
        }
        return out
    }

    @Test("exp has relative error below 3e-7 on [−87.3, 88.3]")
    func expIsAccurateInRange() {
        let x = Self.grid(-87.3, 88.3)
        let y = Self.lanes(x, exp)
        var worst = 0.0
        for i in x.indices { worst = max(worst, abs(Double(y[i]) - exp(Double(x[i]))) / exp(Double(x[i]))) }
        // the documented polynomial error (< 2e-7) plus the final fp32 rounding (6e-8)
        #expect(worst < 3e-7, "worst relative error \(worst)")
    }

    @Test("exp flushes to zero below −87.3 and saturates finitely, monotonically, above 88.3")
    func expAtTheExtremes() {
        let low = Self.lanes(Self.grid(-100, -87.31), exp)
        #expect(low.allSatisfy { $0 == 0 })
        let high = Self.lanes(Self.grid(88.3, 100), exp)
        #expect(high.allSatisfy { $0.isFinite && $0 >= Float(exp(88.29)) })
        let edges = Self.lanes([-.infinity, .infinity, -87.3, 88.3], exp)
        #expect(edges[0] == 0)
        #expect(edges[1].isFinite && edges[1] > 1e38)
        #expect(edges[2] > 0)
    }

    @Test("exp and tanh propagate NaN")
    func nanPropagates() {
        let nan = Vec(repeating: .nan)
        #expect(exp(nan)[0].isNaN)
        #expect(tanh(nan)[0].isNaN)
    }

    @Test("tanh is within 2.5e-7 absolute everywhere and 1e-6 relative away from zero")
    func tanhIsAccurate() {
        let x = Self.grid(-100, 100)
        let y = Self.lanes(x, tanh)
        var worstAbsolute = 0.0, worstRelative = 0.0
        for i in x.indices {
            let expected = tanh(Double(x[i]))
            let error = abs(Double(y[i]) - expected)
            worstAbsolute = max(worstAbsolute, error)
            // 1 − 2/(e²ˣ+1) cancels near 0: absolute error ~ulp(1), so relative error only far from 0
            if abs(x[i]) >= 0.5 { worstRelative = max(worstRelative, error / abs(expected)) }
        }
        #expect(worstAbsolute < 2.5e-7, "worst absolute error \(worstAbsolute)")
        #expect(worstRelative < 1e-6, "worst relative error \(worstRelative)")
        let ends = Self.lanes([-100, 100, -.infinity, .infinity, 0], tanh)
        #expect(ends == [-1, 1, -1, 1, 0])
    }

    @Test("dot and axpy handle the 16-, 8- and scalar-wide parts", arguments: [1, 7, 8, 15, 16, 29])
    func dotAndAxpy(n: Int) {
        var data = TestData(seed: UInt64(n))
        let a = data.normal(n), b = data.normal(n)
        let expected = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let result = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in dot(pa.baseAddress!, pb.baseAddress!, n) } }
        #expect(abs(Double(result) - expected) < 1e-5)
        var y = b
        y.withUnsafeMutableBufferPointer { py in a.withUnsafeBufferPointer { pa in axpy(py.baseAddress!, 0.5, pa.baseAddress!, n) } }
        #expect(y == zip(a, b).map { 0.5 * $0 + $1 })
    }

    @Test("maximum finds the largest value in every lane position and in the tail", arguments: [1, 7, 8, 15, 16, 17, 40, 50_304])
    func maximumFindsTheLargest(n: Int) {
        var data = TestData(seed: UInt64(n))
        let base = data.normal(n)
        // the largest value at every position in turn (n ≤ 40), or at a few spread over a vocabulary-wide row
        for position in n <= 40 ? Array(0..<n) : [0, 8_191, 25_000, n - 1] {
            var values = base
            values[position] = 10
            #expect(values.withUnsafeBufferPointer { maximum($0.baseAddress!, count: n) } == 10)
        }
        #expect(base.withUnsafeBufferPointer { maximum($0.baseAddress!, count: n) } == base.max()!)
    }

    @Test("sumOfExponentials sums exp(x − shift) over the 8-lane part and the tail; store decides whether they replace x",
          arguments: [1, 7, 8, 9, 23])
    func sumOfExponentialsStoresOnlyWhenAsked(n: Int) {
        var data = TestData(seed: UInt64(100 + n))
        let values = data.normal(n, standardDeviation: 3)
        let shift = values.max()!
        let exponentials = values.map { exp(Double($0 - shift)) }   // the difference rounded to fp32, as the function takes it
        for store in [false, true] {
            var buffer = values
            let sum = buffer.withUnsafeMutableBufferPointer {
                sumOfExponentials($0.baseAddress!, count: n, subtracting: shift, store: store)
            }
            let expected = exponentials.reduce(0, +)
            #expect(abs(Double(sum) - expected) <= 1e-6 * expected, "store \(store): \(sum) vs \(expected)")
            if store {
                #expect(zip(buffer, exponentials).allSatisfy { abs(Double($0) - $1) <= 3e-7 * $1 }, "the exponentials replace the values")
            } else {
                #expect(buffer == values, "the values are left as they are")
            }
        }
    }

    @Test("maximum passes over NaN and handles all −∞")
    func maximumOfNonFinite() {
        var values = [Float](repeating: -.infinity, count: 19)
        #expect(values.withUnsafeBufferPointer { maximum($0.baseAddress!, count: 19) } == -.infinity)
        values[3] = .nan
        values[17] = .nan
        values[11] = -5
        #expect(values.withUnsafeBufferPointer { maximum($0.baseAddress!, count: 19) } == -5)
    }
}
