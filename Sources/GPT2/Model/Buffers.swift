/// The vocabulary every op speaks: the flat buffers a backend allocates, their element types, the precision
/// that decides them, and `TensorRef`, a window into one of them. `Layout` places every tensor in these buffers.

/// The flat buffers a backend allocates.
public enum BufferKind: Int, CaseIterable, Sendable {
    /// Model weights in `ParameterKind` order: fp32 (the master copy under mixed precision).
    case parameters
    /// Under mixed precision, a bf16 copy of `parameters` that the matmuls read; empty in fp32.
    case parameterCopy
    /// Parameter gradients, fp32, same layout as `parameters`.
    case gradients
    /// AdamW first moment, fp32, same layout as `parameters`.
    case adamM
    /// AdamW second moment, fp32, same layout as `parameters`.
    case adamV
    /// Forward activations kept for the backward pass (the `ActivationKind`s that are not statistics).
    case activations
    /// Per-row statistics of the forward pass, always fp32: LayerNorm means and 1/std, attention
    /// log-sum-exps, losses.
    case activationStatistics
    /// Activation gradients: a few (B,T,·) scratch tensors reused by every layer.
    case activationGradients
    /// Token ids: inputs (B,T) then targets (B,T), int32.
    case tokens
    /// Scratch bytes a GPU backend needs beside the tensors (the cuBLASLt workspace); empty in fp32.
    case workspace
}

/// Element type of a buffer.
public enum DType: Sendable {
    case float32, bfloat16, int32, byte

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32, .int32: return 4
        case .bfloat16: return 2
        case .byte: return 1
        }
    }
}

/// How a backend stores the model: everything in fp32 (the CPU reference), or mixed precision like
/// torch.autocast(bfloat16): fp32 master weights, gradients and moments, bf16 weight copies and activations.
public enum Precision: String, Sendable, Codable, CaseIterable {
    case float32
    case mixedBFloat16

    /// The element type of each buffer.
    public func dtype(of buffer: BufferKind) -> DType {
        switch buffer {
        case .parameters, .gradients, .adamM, .adamV, .activationStatistics: return .float32
        case .parameterCopy, .activations, .activationGradients: return self == .float32 ? .float32 : .bfloat16
        case .tokens: return .int32
        case .workspace: return .byte
        }
    }

    /// Bytes of GPU scratch the backend keeps beside the tensors: the cuBLASLt workspace (32 MiB, what
    /// cuBLAS recommends for Hopper).
    var workspaceBytes: Int { self == .float32 ? 0 : 32 << 20 }
}

/// A window into one of the flat buffers: which buffer, where, how many elements, what type.
public struct TensorRef: Sendable, Hashable {
    public var buffer: BufferKind
    public var offset: Int
    public var count: Int

    public init(buffer: BufferKind, offset: Int, count: Int) {
        self.buffer = buffer
        self.offset = offset
        self.count = count
    }

    /// The sub-window `[start, start+length)` of this tensor.
    public func slice(_ start: Int, _ length: Int) -> TensorRef {
        precondition(start >= 0 && length >= 0 && start + length <= count, "slice out of range")
        return TensorRef(buffer: buffer, offset: offset + start, count: length)
    }
}
