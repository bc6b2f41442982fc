/// The fused classifier on the CPU: softmax over the real vocabulary, cross-entropy loss, and the
/// logits' gradient written in place, one row at a time, so probabilities are never stored.

import GPT2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension CPUBackend {
    /// losses (B,T) = CE(softmax(logits (B,T,Vp)[..., :V]), targets (B,T)); logits = dlogits·dlossScale if asked
    public func fusedClassifier(logits: TensorRef, losses: TensorRef, targets: TensorRef, dlossScale: Float?,
                                B: Int, T: Int, V: Int, Vp: Int) {
        nonisolated(unsafe) let z = floats(logits), loss = floats(losses), target = ints(targets)
        parallelFor(B * T) { rows in
            for row in rows {
                let logitRow = z + row * Vp
                let label = Int(target[row])
                precondition(label >= 0 && label < V, "target id \(label) outside the vocabulary")
                let maxLogit = maximum(logitRow, count: V)
                let labelLogit = logitRow[label]
                guard let scale = dlossScale else {
                    // loss only: the logits must survive (the contract writes them only when scaled)
                    loss[row] = logf(sumOfExponentials(logitRow, count: V, subtracting: maxLogit, store: false)) + maxLogit - labelLogit
                    continue
                }
                let sum = sumOfExponentials(logitRow, count: V, subtracting: maxLogit, store: true)
                loss[row] = logf(sum) + maxLogit - labelLogit
                // dlogits = (softmax − onehot)·scale; padded columns get no gradient
                let factor = scale / sum
                multiply(logitRow, by: factor, count: V)
                logitRow[label] -= scale
                for i in V..<Vp { logitRow[i] = 0 }
            }
        }
    }
}
