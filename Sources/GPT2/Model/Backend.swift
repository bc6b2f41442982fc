/// The ops GPT-2 needs, on flat buffers with explicit shapes. Nothing here knows GPT-2's graph:
/// the model composes these ops; a backend (CPU, CUDA) implements them.
///
/// Shapes: B batch, T time, C channels, OC output channels, NH heads, V vocabulary, Vp padded vocabulary.
///
/// Gradient contract, once for every backward op: **parameter gradients accumulate (`+=`)**, so gradient
/// accumulation over micro-batches is free; **activation gradients overwrite (`=`)**, except the residual
/// stream, whose LayerNorm backward adds into `dinp` (`+=`) because two paths meet there.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// AdamW's hyperparameters for one update.
public struct AdamWHyperparameters: Sendable, Equatable, Codable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 0.1) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// Adam's bias corrections at optimizer step `step` (from 1): 1 − β1^step and 1 − β2^step, in Double and then
    /// rounded, so that every backend divides the moments by the same two floats.
    public func biasCorrections(step: Int) -> (first: Float, second: Float) {
        (1 - Float(pow(Double(beta1), Double(step))), 1 - Float(pow(Double(beta2), Double(step))))
    }
}

public protocol Backend: AnyObject {
    /// Short name for logs ("cpu", "cuda").
    var name: String { get }
    /// How this backend stores a model (`Layout`'s precision): the CPU keeps everything in fp32, the GPU
    /// mixed bf16. Models are created with it.
    var preferredPrecision: Precision { get }

    /// Allocates every buffer of `layout` (zero-filled), replacing earlier ones.
    func allocate(_ layout: Layout) throws
    /// Bytes currently allocated by this backend for tensors.
    var allocatedBytes: Int { get }

    /// Copies host `values` into `dst`: int32 for `.tokens`, fp32 for every other buffer (a backend that stores
    /// the buffer in bf16 rounds to nearest even on the way in).
    func upload(_ values: UnsafeRawBufferPointer, to dst: TensorRef)
    /// Copies `src` into host `values`, fp32 (int32 for `.tokens`), widening bf16 storage exactly.
    func download(_ src: TensorRef, into values: UnsafeMutableRawBufferPointer)
    /// Sets every element of `tensor` to zero.
    func zero(_ tensor: TensorRef)

    /// out (B,T,C) = wte (Vp,C)[inp (B,T)] + wpe (maxT,C)[0..<T]
    func encoderForward(out: TensorRef, inp: TensorRef, wte: TensorRef, wpe: TensorRef, B: Int, T: Int, C: Int)
    /// dwte (Vp,C) +=, dwpe (maxT,C) +=  from dout (B,T,C)
    func encoderBackward(dwte: TensorRef, dwpe: TensorRef, dout: TensorRef, inp: TensorRef, B: Int, T: Int, C: Int)

    /// out (B,T,C), mean (B,T), rstd (B,T) = layernorm(inp (B,T,C)) * weight (C) + bias (C); eps 1e-5
    func layerNormForward(out: TensorRef, mean: TensorRef, rstd: TensorRef, inp: TensorRef,
                          weight: TensorRef, bias: TensorRef, B: Int, T: Int, C: Int)
    /// dinp (B,T,C) += (residual stream), dweight (C) +=, dbias (C) +=  from dout (B,T,C)
    func layerNormBackward(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef, dout: TensorRef, inp: TensorRef,
                           weight: TensorRef, mean: TensorRef, rstd: TensorRef, B: Int, T: Int, C: Int)

    /// out (B,T,OC) = inp (B,T,C) · weight (OC,C)ᵀ + bias (OC)
    func matmulForward(out: TensorRef, inp: TensorRef, weight: TensorRef, bias: TensorRef?, B: Int, T: Int, C: Int, OC: Int)
    /// preActivation (B,T,OC) = inp · weightᵀ + bias; out (B,T,OC) = gelu(preActivation): the MLP's first layer,
    /// in one pass where a backend fuses the GELU into the matrix product.
    func matmulGeluForward(out: TensorRef, preActivation: TensorRef, inp: TensorRef, weight: TensorRef, bias: TensorRef?,
                           B: Int, T: Int, C: Int, OC: Int)
    /// dinp (B,T,C) =, dweight (OC,C) +=, dbias (OC) +=  from dout (B,T,OC)
    func matmulBackward(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef?, dout: TensorRef, inp: TensorRef,
                        weight: TensorRef, B: Int, T: Int, C: Int, OC: Int)
    /// As `matmulBackward`, with dinp then multiplied by gelu'(geluInput (B,T,C)): the MLP's second layer's
    /// backward and the GELU's, in one pass where a backend fuses them. dinp's old contents are not read.
    func matmulBackwardGelu(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef?, dout: TensorRef, inp: TensorRef,
                            weight: TensorRef, geluInput: TensorRef, B: Int, T: Int, C: Int, OC: Int)

    /// out (B,T,C), stats (B,NH,T) = causal softmax(Q·Kᵀ/√HS)·V over qkv (B,T,3C) laid out [Q|K|V], heads
    /// contiguous within each; stats holds each row's log-sum-exp so backward needs no T×T buffer.
    func attentionForward(out: TensorRef, stats: TensorRef, qkv: TensorRef, B: Int, T: Int, C: Int, NH: Int)
    /// out (C) = causal attention of query row `t` over rows 0...t of one sequence's qkv (T,3C): the decode
    /// step of generation, where the earlier rows of qkv are the key/value cache.
    func attentionForwardRow(out: TensorRef, qkv: TensorRef, t: Int, C: Int, NH: Int)
    /// dqkv (B,T,3C) = the gradient through attention of dout (B,T,C), recomputing the attention weights from qkv and stats;
    /// reads the forward's `out` too (each row's Σ dout·out is the softmax's backward term)
    func attentionBackward(dqkv: TensorRef, dout: TensorRef, qkv: TensorRef, out: TensorRef, stats: TensorRef,
                           B: Int, T: Int, C: Int, NH: Int)

    /// out = gelu(inp), tanh approximation, elementwise over `count`
    func geluForward(out: TensorRef, inp: TensorRef, count: Int)
    /// dinp =  gelu'(inp) * dout, elementwise over `count`
    func geluBackward(dinp: TensorRef, inp: TensorRef, dout: TensorRef, count: Int)

    /// out = a + b, elementwise over `count`
    func residualForward(out: TensorRef, a: TensorRef, b: TensorRef, count: Int)
    /// residualOut (B,T,C) = residual + x, then out, mean, rstd = layernorm(residualOut) as `layerNormForward`:
    /// the residual add that precedes every LayerNorm after the first, in one pass where a backend fuses it.
    func residualLayerNormForward(residualOut: TensorRef, out: TensorRef, mean: TensorRef, rstd: TensorRef,
                                  residual: TensorRef, x: TensorRef, weight: TensorRef, bias: TensorRef, B: Int, T: Int, C: Int)

    /// losses (B,T) = cross-entropy of softmax(logits (B,T,Vp)[..., :V]) at targets (B,T).
    /// With `dlossScale` non-nil, logits are overwritten (=) by dloss/dlogits × dlossScale (padded columns 0).
    func fusedClassifier(logits: TensorRef, losses: TensorRef, targets: TensorRef, dlossScale: Float?,
                         B: Int, T: Int, V: Int, Vp: Int)

    /// Σ x² over `tensor`, summed in a fixed order (the CPU adds fp32 block sums in double precision; the GPU
    /// sums in fp32).
    func sumOfSquares(_ tensor: TensorRef) -> Double
    /// One AdamW step on a tensor: grads are multiplied by `gradScale` first (clipping), moments updated,
    /// params -= lr · (m̂ / (√v̂ + ε) + weightDecay · params).  `step` counts from 1.
    func adamWUpdate(params: TensorRef, grads: TensorRef, m: TensorRef, v: TensorRef,
                     step: Int, hyperparameters hyper: AdamWHyperparameters, gradScale: Float)

    /// The whole optimizer step: the global gradient norm over every tensor's window of `.gradients`, clipping
    /// to `clipNorm` (0: none), then AdamW on each tensor with its own weight decay. Returns the norm before
    /// clipping. A backend may keep the norm on the device between the two; the default,
    /// `hostClippedOptimizerStep`, reads it back and computes the clip factor on the host.
    func optimizerStep(tensors: [OptimizerTensor], hyperparameters hyper: AdamWHyperparameters, step: Int, clipNorm: Float) -> Float

    /// Waits for queued work (a no-op on the CPU).
    func synchronize()

    /// Device memory in use by this process and anything else on the device, as the driver reports it
    /// (total − free): what the trainer logs as GPU memory. nil for backends without a device (the CPU).
    func deviceMemoryInUse() -> Int?
}

/// One parameter tensor of an optimizer step: its window of `.parameters` (the same window of `.gradients`,
/// `.adamM` and `.adamV` holds its gradient and moments) and its weight decay (0 for biases and norms).
public struct OptimizerTensor: Hashable, Sendable {
    public var window: TensorRef
    public var weightDecay: Float

    public init(window: TensorRef, weightDecay: Float) {
        self.window = window
        self.weightDecay = weightDecay
    }

    func slice(of buffer: BufferKind) -> TensorRef { TensorRef(buffer: buffer, offset: window.offset, count: window.count) }
}

extension Backend {
    public func deviceMemoryInUse() -> Int? { nil }

    public func optimizerStep(tensors: [OptimizerTensor], hyperparameters hyper: AdamWHyperparameters, step: Int, clipNorm: Float) -> Float {
        hostClippedOptimizerStep(tensors: tensors, hyperparameters: hyper, step: step, clipNorm: clipNorm)
    }

    /// The optimizer step from the per-tensor ops: the norm read back, the clip factor computed on the host,
    /// then `adamWUpdate` per tensor.
    public func hostClippedOptimizerStep(tensors: [OptimizerTensor], hyperparameters hyper: AdamWHyperparameters, step: Int,
                                         clipNorm: Float) -> Float {
        let squares = tensors.reduce(0.0) { $0 + sumOfSquares($1.slice(of: .gradients)) }
        let norm = Float(squares.squareRoot())
        let gradScale: Float = clipNorm > 0 && norm > clipNorm ? clipNorm / norm : 1
        for tensor in tensors {
            var tensorHyper = hyper
            tensorHyper.weightDecay = tensor.weightDecay
            adamWUpdate(params: tensor.window, grads: tensor.slice(of: .gradients), m: tensor.slice(of: .adamM),
                        v: tensor.slice(of: .adamV), step: step, hyperparameters: tensorHyper, gradScale: gradScale)
        }
        return norm
    }

    public func matmulGeluForward(out: TensorRef, preActivation: TensorRef, inp: TensorRef, weight: TensorRef, bias: TensorRef?,
                                  B: Int, T: Int, C: Int, OC: Int) {
        unfusedMatmulGeluForward(out: out, preActivation: preActivation, inp: inp, weight: weight, bias: bias, B: B, T: T, C: C, OC: OC)
    }

    public func matmulBackwardGelu(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef?, dout: TensorRef, inp: TensorRef,
                                   weight: TensorRef, geluInput: TensorRef, B: Int, T: Int, C: Int, OC: Int) {
        unfusedMatmulBackwardGelu(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: inp, weight: weight,
                                  geluInput: geluInput, B: B, T: T, C: C, OC: OC)
    }

    /// `matmulGeluForward` as two ops: the GEMM with its bias, then `geluForward` on its output (what
    /// `--recompute` rebuilds, and what a backend without a GELU epilogue does).
    public func unfusedMatmulGeluForward(out: TensorRef, preActivation: TensorRef, inp: TensorRef, weight: TensorRef,
                                         bias: TensorRef?, B: Int, T: Int, C: Int, OC: Int) {
        matmulForward(out: preActivation, inp: inp, weight: weight, bias: bias, B: B, T: T, C: C, OC: OC)
        geluForward(out: out, inp: preActivation, count: B * T * OC)
    }

    /// `matmulBackwardGelu` as two ops: `matmulBackward`, then the GELU backward in place on dinp.
    public func unfusedMatmulBackwardGelu(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef?, dout: TensorRef, inp: TensorRef,
                                          weight: TensorRef, geluInput: TensorRef, B: Int, T: Int, C: Int, OC: Int) {
        matmulBackward(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: inp, weight: weight, B: B, T: T, C: C, OC: OC)
        geluBackward(dinp: dinp, inp: geluInput, dout: dinp, count: B * T * C)
    }

    /// The unfused composition, for backends without a fused kernel.
    public func residualLayerNormForward(residualOut: TensorRef, out: TensorRef, mean: TensorRef, rstd: TensorRef,
                                         residual: TensorRef, x: TensorRef, weight: TensorRef, bias: TensorRef,
                                         B: Int, T: Int, C: Int) {
        residualForward(out: residualOut, a: residual, b: x, count: B * T * C)
        layerNormForward(out: out, mean: mean, rstd: rstd, inp: residualOut, weight: weight, bias: bias, B: B, T: T, C: C)
    }
}
