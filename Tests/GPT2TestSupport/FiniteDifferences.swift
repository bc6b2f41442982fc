/// Central finite differences in double precision, to check hand-written backward passes against the
/// forward pass they differentiate: the objective is L = Σ w·out with fixed random weights w.
///
/// Tolerance, reasoned once for every op test (fp32 op, Double differences, step ε = 1e-3 on inputs of
/// order 1). Truncation error of the central difference is ε²/6·|f'''| ≈ 2e-7 for these smooth ops —
/// negligible. Rounding dominates: only the k outputs that depend on the perturbed element change, each
/// carrying a few fp32 ulps (u ≈ 6e-8) of its own error, so with |w|, |out| ~ 1 the noise in L(x±ε) is
/// about √k·4u ≈ 1e-6 for k ≲ 64, and after dividing by 2ε about 5e-4 — relative to gradients of order 1.
/// Errors are therefore measured normwise, against the tensor's largest gradient, and must stay below
/// `finiteDifferenceTolerance` = 1e-2: ~20× the noise, while any real bug (wrong index, missing term,
/// = instead of +=) moves some element by a sizeable fraction of the largest one.

/// Normwise tolerance for op gradients against central differences (see the file comment).
public let finiteDifferenceTolerance = 1e-2

/// The step used for op-level central differences.
public let finiteDifferenceStep: Float = 1e-3

/// Σ values[i]·weights[i] in double precision: the scalar objective whose gradient w.r.t. `values` is `weights`.
public func weightedSum(_ values: [Float], _ weights: [Float]) -> Double {
    precondition(values.count == weights.count, "length mismatch \(values.count) vs \(weights.count)")
    var sum = 0.0
    for i in values.indices { sum += Double(values[i]) * Double(weights[i]) }
    return sum
}

/// ∂objective/∂point[i] by central differences, for every i in `indices` (all of them by default).
/// The perturbed points are fp32 (the op's precision); the step actually taken is measured after
/// rounding x ± ε to Float, so the quotient divides by the true Δx.
public func centralDifferences(at point: [Float], step epsilon: Float = finiteDifferenceStep,
                               indices: [Int]? = nil, objective: ([Float]) -> Double) -> [Double] {
    var x = point
    return (indices ?? Array(point.indices)).map { i in
        let original = x[i]
        let plus = original + epsilon, minus = original - epsilon
        x[i] = plus
        let up = objective(x)
        x[i] = minus
        let down = objective(x)
        x[i] = original
        return (up - down) / (Double(plus) - Double(minus))
    }
}

/// max |analytic − numeric| / max(max |numeric|, floor): the normwise gradient error; NaN when any element of either is NaN.
public func normwiseError(_ analytic: [Float], _ numeric: [Double], floor: Double = 1e-6) -> Double {
    precondition(analytic.count == numeric.count, "length mismatch \(analytic.count) vs \(numeric.count)")
    var worst = 0.0, scale = floor
    for i in numeric.indices {
        let error = abs(Double(analytic[i]) - numeric[i])
        // Swift's max passes over NaN: a NaN left in an output (an element never written) must fail the comparison
        guard !error.isNaN else { return .nan }
        worst = max(worst, error)
        scale = max(scale, abs(numeric[i]))
    }
    return worst / scale
}

/// normwiseError for two fp32/Double arrays of reference values (forward checks against a Double loop).
public func normwiseError(_ actual: [Float], _ expected: [Float], floor: Double = 1e-6) -> Double {
    normwiseError(actual, expected.map(Double.init), floor: floor)
}

/// Elementwise `a - b`, to take a pre-filled value back out of an accumulated (+=) gradient.
public func subtracting(_ a: [Float], _ b: [Float]) -> [Float] {
    precondition(a.count == b.count, "length mismatch \(a.count) vs \(b.count)")
    return zip(a, b).map { $0 - $1 }
}
