/// Linear layers on the CPU: OpenBLAS SGEMM for the products, Swift for the bias.
/// Weights are stored (OC,C), as in llm.c and PyTorch's nn.Linear.

import COpenBLAS
import GPT2

extension CPUBackend {
    /// out (B,T,OC) = inp (B,T,C) · weight (OC,C)ᵀ + bias (OC)
    public func matmulForward(out: TensorRef, inp: TensorRef, weight: TensorRef, bias: TensorRef?,
                              B: Int, T: Int, C: Int, OC: Int) {
        let rows = B * T
        let o = floats(out), x = floats(inp), w = floats(weight)
        var beta: Float = 0
        if let bias {
            let b = floats(bias)
            for row in 0..<rows { (o + row * OC).update(from: b, count: OC) }
            beta = 1
        }
        BLASThreads.shared.using(threads) {
            if rows == 1 {
                // one row (a sampled token): a matrix-vector product reads the weight once, where sgemm would first
                // copy all of it into its packed layout (two thirds of a d12 decode step's time)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(OC), Int32(C), 1, w, Int32(C), x, 1, beta, o, 1)
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(OC), Int32(C),
                            1, x, Int32(C), w, Int32(C), beta, o, Int32(OC))
            }
        }
    }

    /// dinp (B,T,C) =, dweight (OC,C) +=, dbias (OC) +=  from dout (B,T,OC)
    public func matmulBackward(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef?, dout: TensorRef,
                               inp: TensorRef, weight: TensorRef, B: Int, T: Int, C: Int, OC: Int) {
        let rows = B * T
        let dy = floats(dout), x = floats(inp), w = floats(weight)
        BLASThreads.shared.using(threads) {
            // dinp (rows,C) = dout (rows,OC) · weight (OC,C)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(C), Int32(OC),
                        1, dy, Int32(OC), w, Int32(C), 0, floats(dinp), Int32(C))
            // dweight (OC,C) += dout (rows,OC)ᵀ · inp (rows,C)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(OC), Int32(C), Int32(rows),
                        1, dy, Int32(OC), x, Int32(C), 1, floats(dweight), Int32(C))
        }
        if let dbias { addColumnSums(of: dy, rows: rows, columns: OC, into: floats(dbias)) }
    }

    /// into (columns) += Σ_rows matrix (rows,columns), split by column blocks so threads never share a sum.
    func addColumnSums(of matrix: UnsafePointer<Float>, rows: Int, columns: Int,
                       into sums: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let matrix = matrix, sums = sums
        let blocks = (columns + 63) / 64
        parallelFor(blocks) { range in
            for block in range {
                let start = block * 64
                let width = min(64, columns - start)
                for row in 0..<rows { axpy(sums + start, 1, matrix + row * columns + start, width) }
            }
        }
    }
}
