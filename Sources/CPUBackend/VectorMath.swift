/// SIMD building blocks for the CPU ops: dot products, maximum, axpy, multiply, a vectorised exp/tanh and sums of
/// exponentials.
/// Swift keeps float ordering, so reductions are written with explicit SIMD accumulators.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

typealias Vec = SIMD8<Float>

@inline(__always)
func loadVec(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always)
func storeVec(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// Σ a[i]·b[i] over n elements.
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = Vec(), acc1 = Vec()
    var i = 0
    while i + 16 <= n {
        acc0 += loadVec(a + i) * loadVec(b + i)
        acc1 += loadVec(a + i + 8) * loadVec(b + i + 8)
        i += 16
    }
    while i + 8 <= n {
        acc0 += loadVec(a + i) * loadVec(b + i)
        i += 8
    }
    var sum = (acc0 + acc1).sum()
    while i < n {
        sum += a[i] * b[i]
        i += 1
    }
    return sum
}

/// The largest of values[0..<count] (count > 0). Eight lanes side by side: a scalar `max` chain waits out a
/// compare and a blend per element. NaNs are passed over, as `Swift.max(m, x)` passes over an x that is NaN.
@inline(__always)
func maximum(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = Vec(repeating: -.infinity), lanes2 = Vec(repeating: -.infinity)
    var i = 0
    while i + 16 <= count {
        let v = loadVec(values + i), v2 = loadVec(values + i + 8)
        lanes.replace(with: v, where: v .> lanes)
        lanes2.replace(with: v2, where: v2 .> lanes2)
        i += 16
    }
    lanes.replace(with: lanes2, where: lanes2 .> lanes)
    var result = -Float.infinity
    for lane in 0..<8 where lanes[lane] > result { result = lanes[lane] }
    while i < count {
        if values[i] > result { result = values[i] }
        i += 1
    }
    return result
}

/// y[i] += alpha·x[i] over n elements.
@inline(__always)
func axpy(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    let a = Vec(repeating: alpha)
    while i + 8 <= n {
        storeVec(loadVec(y + i) + a * loadVec(x + i), y + i)
        i += 8
    }
    while i < n {
        y[i] += alpha * x[i]
        i += 1
    }
}

/// values[i] *= factor over i < count.
@inline(__always)
func multiply(_ values: UnsafeMutablePointer<Float>, by factor: Float, count: Int) {
    for i in 0..<count { values[i] *= factor }
}

/// eˣ lane by lane: x = n·ln2 + r, eʳ by a degree-6 polynomial on |r| ≤ ln2/2, 2ⁿ built in the exponent bits.
/// Relative error below 2e-7 for x in [-87, 88]; smaller x flush to 0, larger saturate near e^88.3, NaN stays NaN.
@inline(__always)
func exp(_ x: Vec) -> Vec {
    let roundingMagic = Vec(repeating: 12_582_912)
    // Compare-and-blend, not `clamped(lowerBound:upperBound:)`, whose pointwiseMin/Max are calls, lane by lane.
    var clamped = x.replacing(with: -87.3, where: x .< -87.3)
    clamped.replace(with: 88.3, where: clamped .> 88.3)
    // Adding 1.5·2²³ rounds to the nearest integer (ties to even) and leaves it in the low mantissa bits,
    // which avoids the slow generic float→int SIMD conversions.
    let shifted = clamped * 1.442_695_04 + roundingMagic
    let n = shifted - roundingMagic
    let r = clamped - n * 0.693_145_75 - n * 1.428_606_8e-6
    var p = Vec(repeating: 1.0 / 720)
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(roundingMagic, to: SIMD8<Int32>.self)
    let bits = (integer &+ 127) &<< 23
    var result = p * unsafeBitCast(bits, to: Vec.self)
    result.replace(with: Vec(), where: x .< -87.3)
    // the clamp maps NaN to a bound; give NaN back so a diverged softmax or GELU stays visibly NaN
    result.replace(with: x, where: x .!= x)
    return result
}

/// Σ exp(values[i] − shift) over i < count. With `store`, each exponential replaces its value (a softmax's
/// numerators, in place); without, `values` are left as they are.
@inline(__always)
func sumOfExponentials(_ values: UnsafeMutablePointer<Float>, count: Int, subtracting shift: Float, store: Bool) -> Float {
    let shiftVec = Vec(repeating: shift)
    var sums = Vec()
    var i = 0
    while i + 8 <= count {
        let e = exp(loadVec(values + i) - shiftVec)
        if store { storeVec(e, values + i) }
        sums += e
        i += 8
    }
    var sum = sums.sum()
    while i < count {
        let e = expf(values[i] - shift)
        if store { values[i] = e }
        sum += e
        i += 1
    }
    return sum
}

/// tanh lane by lane as 1 − 2/(e²ˣ + 1), which is exact at the saturated ends.
@inline(__always)
func tanh(_ x: Vec) -> Vec {
    1 - 2 / (exp(2 * x) + 1)
}
