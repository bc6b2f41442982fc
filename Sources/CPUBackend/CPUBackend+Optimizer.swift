/// The optimizer ops on the CPU: the squared gradient norm (for clipping) and the AdamW update.
/// Both walk the flat buffers in fixed blocks so results do not depend on the thread count.

import GPT2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension CPUBackend {
    /// Σ x² over `tensor`: each block of `CPUScratch.normBlockSize` elements summed in fp32, the block sums added in
    /// double precision, in a fixed order.
    public func sumOfSquares(_ tensor: TensorRef) -> Double {
        let blockSize = CPUScratch.normBlockSize
        let blocks = (tensor.count + blockSize - 1) / blockSize
        let partials = UnsafeMutablePointer<Double>.allocate(capacity: blocks)
        defer { partials.deallocate() }
        nonisolated(unsafe) let x = floats(tensor), out = partials
        let count = tensor.count
        parallelFor(blocks) { range in
            for block in range {
                let start = block * blockSize
                let length = min(blockSize, count - start)
                out[block] = Double(dot(x + start, x + start, length))
            }
        }
        var total = 0.0
        for block in 0..<blocks { total += partials[block] }
        return total
    }

    /// params -= lr·(m̂/(√v̂+ε) + wd·params), with m, v updated from grads·gradScale
    public func adamWUpdate(params: TensorRef, grads: TensorRef, m: TensorRef, v: TensorRef,
                            step: Int, hyperparameters hyper: AdamWHyperparameters, gradScale: Float) {
        nonisolated(unsafe) let p = floats(params), g = floats(grads), m1 = floats(m), m2 = floats(v)
        let rule = AdamWRule(hyperparameters: hyper, step: step, gradScale: gradScale)
        forEachVectorBlock(params.count) { i in
            var param = loadVec(p + i), first = loadVec(m1 + i), second = loadVec(m2 + i)
            rule.apply(param: &param, first: &first, second: &second, grad: loadVec(g + i))
            storeVec(param, p + i)
            storeVec(first, m1 + i)
            storeVec(second, m2 + i)
        } scalar: { i in
            var param = Vec(repeating: p[i]), first = Vec(repeating: m1[i]), second = Vec(repeating: m2[i])
            rule.apply(param: &param, first: &first, second: &second, grad: Vec(repeating: g[i]))
            (p[i], m1[i], m2[i]) = (param[0], first[0], second[0])
        }
    }
}

/// AdamW's per-element arithmetic for one step, constants hoisted.
private struct AdamWRule {
    let beta1, beta2, oneMinusBeta1, oneMinusBeta2: Vec
    let learningRate, weightDecay, epsilon, gradScale: Vec
    let inverseCorrection1, inverseCorrection2: Vec

    init(hyperparameters hyper: AdamWHyperparameters, step: Int, gradScale: Float) {
        beta1 = Vec(repeating: hyper.beta1)
        beta2 = Vec(repeating: hyper.beta2)
        oneMinusBeta1 = Vec(repeating: 1 - hyper.beta1)
        oneMinusBeta2 = Vec(repeating: 1 - hyper.beta2)
        learningRate = Vec(repeating: hyper.learningRate)
        weightDecay = Vec(repeating: hyper.weightDecay)
        epsilon = Vec(repeating: hyper.epsilon)
        self.gradScale = Vec(repeating: gradScale)
        let (correction1, correction2) = hyper.biasCorrections(step: step)
        inverseCorrection1 = Vec(repeating: 1 / correction1)
        inverseCorrection2 = Vec(repeating: 1 / correction2)
    }

    @inline(__always)
    func apply(param: inout Vec, first: inout Vec, second: inout Vec, grad rawGrad: Vec) {
        let grad = rawGrad * gradScale
        first = beta1 * first + oneMinusBeta1 * grad
        second = beta2 * second + oneMinusBeta2 * (grad * grad)
        let mHat = first * inverseCorrection1
        let vHat = second * inverseCorrection2
        let direction = mHat / (vHat.squareRoot() + epsilon)
        param = param - learningRate * (direction + weightDecay * param)
    }
}
