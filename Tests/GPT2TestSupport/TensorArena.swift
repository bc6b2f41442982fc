/// Scratch tensors for op-level tests on any backend: one allocation carved into `TensorRef` windows,
/// so a test can hand an op exactly the shapes it wants without building a whole GPT-2 layout.

import GPT2

/// A bump allocator over a backend's buffers. It allocates a throwaway `Layout` whose activation buffer
/// (it holds the padded-vocabulary logits) is at least `floats` long and whose token buffer holds at
/// least `ints` ids, then hands out consecutive windows of them. Allocating replaces the backend's buffers.
public final class TensorArena<Ops: Backend> {
    public let backend: Ops
    private let floatCapacity: Int
    private let intCapacity: Int
    private var nextFloat = 0
    private var nextInt = 0

    public init(backend: Ops, floats: Int, ints: Int = 0) throws {
        // logits alone are B·T·Vp ≥ floats with B=T=1 and Vp ≥ floats; tokens are 2·B·T with T=1
        let config = ModelConfig(maxSequenceLength: 1, vocabularySize: max(floats, 1), layers: 1, heads: 1, channels: 1)
        let layout = Layout(config: config, batchSize: max(ints, 1), sequenceLength: 1, training: false)
        try backend.allocate(layout)
        self.backend = backend
        floatCapacity = layout.elementCounts[.activations]!
        intCapacity = layout.elementCounts[.tokens]!
    }

    /// A new fp32 tensor holding `values`.
    public func tensor(_ values: [Float]) -> TensorRef {
        precondition(nextFloat + values.count <= floatCapacity, "arena out of floats")
        let tensor = TensorRef(buffer: .activations, offset: nextFloat, count: values.count)
        nextFloat += values.count
        write(values, to: tensor)
        return tensor
    }

    /// A new fp32 tensor of `count` elements, each `value` (use NaN for "garbage the op must overwrite").
    public func tensor(count: Int, repeating value: Float = 0) -> TensorRef {
        tensor([Float](repeating: value, count: count))
    }

    /// A new int32 tensor holding token ids.
    public func tokens(_ values: [Int32]) -> TensorRef {
        precondition(nextInt + values.count <= intCapacity, "arena out of ints")
        let tensor = TensorRef(buffer: .tokens, offset: nextInt, count: values.count)
        nextInt += values.count
        values.withUnsafeBytes { backend.upload($0, to: tensor) }
        return tensor
    }

    /// Overwrites an fp32 tensor.
    public func write(_ values: [Float], to tensor: TensorRef) {
        precondition(values.count == tensor.count, "write size mismatch")
        values.withUnsafeBytes { backend.upload($0, to: tensor) }
    }

    /// Reads an fp32 tensor back.
    public func read(_ tensor: TensorRef) -> [Float] {
        var values = [Float](repeating: 0, count: tensor.count)
        values.withUnsafeMutableBytes { backend.download(tensor, into: $0) }
        return values
    }

    /// ∂(Σ weights · output)/∂input by central differences: perturbs `input` in place, reruns `forward` for
    /// each point, and restores the original values afterwards.
    public func numericGradient(of input: TensorRef, output: TensorRef, weights: [Float],
                                forward: () -> Void) -> [Double] {
        let original = read(input)
        defer { write(original, to: input) }
        return centralDifferences(at: original) { values in
            write(values, to: input)
            forward()
            return weightedSum(read(output), weights)
        }
    }
}

/// Deterministic random test data.
public struct TestData {
    private var random: SeededRandom

    public init(seed: UInt64) { random = SeededRandom(seed: seed) }

    /// `count` normal samples.
    public mutating func normal(_ count: Int, standardDeviation: Float = 1, mean: Float = 0) -> [Float] {
        var values = [Float](repeating: 0, count: count)
        random.fillNormal(&values, mean: mean, std: standardDeviation)
        return values
    }

    /// `count` samples uniform in [low, high).
    public mutating func uniform(_ count: Int, _ low: Float, _ high: Float) -> [Float] {
        (0..<count).map { _ in low + (high - low) * Float(random.nextUniform()) }
    }

    /// `count` token ids in 0..<upperBound.
    public mutating func tokens(_ count: Int, below upperBound: Int) -> [Int32] {
        (0..<count).map { _ in Int32(random.next() % UInt64(upperBound)) }
    }

    /// `count` distinct indices in 0..<upperBound.
    public mutating func indices(_ count: Int, below upperBound: Int) -> [Int] {
        var chosen: [Int] = []
        while chosen.count < min(count, upperBound) {
            let index = Int(random.next() % UInt64(upperBound))
            if !chosen.contains(index) { chosen.append(index) }
        }
        return chosen
    }
}
