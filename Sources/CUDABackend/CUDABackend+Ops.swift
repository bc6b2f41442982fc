/// The elementwise, normalisation, embedding and loss ops on the GPU: each one launches the kernels of
/// its `.cu` file with the grid and block that file's comments prescribe.

import CCUDA
import GPT2

#if canImport(Glibc)
import Glibc
#endif

extension CUDABackend {
    // MARK: - Embedding

    /// out (B,T,C) bf16 = wte[inp] + wpe[t]
    public func encoderForward(out: TensorRef, inp: TensorRef, wte: TensorRef, wpe: TensorRef, B: Int, T: Int, C: Int) {
        // one block per position, one thread per 8 channels: C/8 rounded up to whole warps (at most 1024, which
        // allocate checks)
        launch("encoder_forward", grid: Dim3(B * T), block: Dim3(Self.encoderForwardThreads(C: C)),
               work: .bytes(2 * (2 * B * T * C + T * C) + 4 * B * T),
               [.pointer(bf16(out)), .pointer(i32(inp)), .pointer(bf16(wte)), .pointer(bf16(wpe)), .int(B), .int(T), .int(C)])
    }

    /// dwte +=, dwpe += from dout (B,T,C); the token buckets come from the host copy of the uploaded tokens.
    public func encoderBackward(dwte: TensorRef, dwpe: TensorRef, dout: TensorRef, inp: TensorRef, B: Int, T: Int, C: Int) {
        // dwpe: grid ceil(T*C/256), block 256, one thread per (t, c), batch summed in order
        launch("encoder_backward_wpe", grid: Dim3(ceilDiv(T * C, 256)), block: Dim3(256),
               work: .bytes(2 * B * T * C + 8 * T * C), [.pointer(f32(dwpe)), .pointer(bf16(dout)), .int(B), .int(T), .int(C)])
        precondition(inp.buffer == .tokens && inp.offset + B * T <= hostTokens.count, "encoderBackward: inp must be token ids")
        let N = B * T
        // Group positions by token, positions ascending within each group (a stable sort by token).
        let order = (0..<N).sorted { a, b in
            let (ta, tb) = (hostTokens[inp.offset + a], hostTokens[inp.offset + b])
            return ta != tb ? ta < tb : a < b
        }
        var bucketTokens: [Int32] = [], starts: [Int32] = []
        for (k, position) in order.enumerated() {
            let token = hostTokens[inp.offset + position]
            if bucketTokens.last != token {
                bucketTokens.append(token)
                starts.append(Int32(k))
            }
        }
        starts.append(Int32(N))
        let buckets = bucketTokens.count
        let packed = bucketTokens + starts + order.map { Int32($0) }
        precondition(packed.count <= (scratch.sizes?.intCount ?? 0), "token buckets exceed their scratch")
        // Queued after the previous backward's kernels, which may still read the old buckets: no host wait.
        ensureContext()
        do {
            try packed.withUnsafeBytes { try bucketStaging!.queueCopy($0, to: scratch.ints, stagingOffset: 0, stream: stream) }
        } catch {
            die(error)
        }
        let tokens = scratch.ints, startsAddress = scratch.ints + CUdeviceptr(4 * buckets)
        let positions = startsAddress + CUdeviceptr(4 * (buckets + 1))
        // dwte: grid (buckets, ceil(C/256)), block 256, one thread per (token, channel)
        launch("encoder_backward_wte", grid: Dim3(buckets, ceilDiv(C, 256)), block: Dim3(256),
               work: .bytes(2 * N * C + 8 * buckets * C + 4 * packed.count),
               [.pointer(f32(dwte)), .pointer(bf16(dout)), .pointer(tokens), .pointer(startsAddress), .pointer(positions), .int(C)])
    }

    /// The embedding forward's threads per block for C channels: one per 8 channels, rounded up to whole warps.
    static func encoderForwardThreads(C: Int) -> Int { ceilDiv(C / 8, 32) * 32 }

    // MARK: - LayerNorm

    /// out (B,T,C) bf16, mean (B,T) fp32, rstd (B,T) fp32 = layernorm(inp (B,T,C) bf16) * weight (C) bf16 + bias (C) bf16
    public func layerNormForward(out: TensorRef, mean: TensorRef, rstd: TensorRef, inp: TensorRef,
                                 weight: TensorRef, bias: TensorRef, B: Int, T: Int, C: Int) {
        let N = B * T
        // grid ceil(N/8), block 256: one warp per row
        launch("layernorm_forward", grid: Dim3(ceilDiv(N, 8)), block: Dim3(256), work: .bytes(4 * N * C + 8 * N + 4 * C),
               [.pointer(bf16(out)), .pointer(f32(mean)), .pointer(f32(rstd)), .pointer(bf16(inp)),
                .pointer(bf16(weight)), .pointer(bf16(bias)), .int(N), .int(C)])
    }

    /// residualOut (B,T,C) bf16 = residual + x (both (B,T,C) bf16); out, mean, rstd = layernorm(residualOut) as `layerNormForward`
    public func residualLayerNormForward(residualOut: TensorRef, out: TensorRef, mean: TensorRef, rstd: TensorRef,
                                         residual: TensorRef, x: TensorRef, weight: TensorRef, bias: TensorRef,
                                         B: Int, T: Int, C: Int) {
        let N = B * T
        // grid ceil(N/8), block 256: one warp per row, the sum rounded to bf16 before it is normalised
        launch("residual_layernorm_forward", grid: Dim3(ceilDiv(N, 8)), block: Dim3(256), work: .bytes(8 * N * C + 8 * N + 4 * C),
               [.pointer(bf16(residualOut)), .pointer(bf16(out)), .pointer(f32(mean)), .pointer(f32(rstd)),
                .pointer(bf16(residual)), .pointer(bf16(x)), .pointer(bf16(weight)), .pointer(bf16(bias)), .int(N), .int(C)])
    }

    /// dinp (B,T,C) bf16 += (residual stream), dweight (C) fp32 +=, dbias (C) fp32 +=  from dout (B,T,C) bf16
    public func layerNormBackward(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef, dout: TensorRef, inp: TensorRef,
                                  weight: TensorRef, mean: TensorRef, rstd: TensorRef, B: Int, T: Int, C: Int) {
        let N = B * T
        // dinp += and the partials (R, 2C) of dweight and dbias: grid R, block 128 (one warp per row), each warp's
        // 2C fp32 sums in dynamic shared memory …
        let blocks = min(GPUScratchLayout.layerNormBlocks, ceilDiv(N, Self.layerNormBackwardWarps))
        launch("layernorm_backward", grid: Dim3(blocks), block: Dim3(32 * Self.layerNormBackwardWarps),
               sharedBytes: Self.layerNormBackwardSharedBytes(C: C), work: .bytes(8 * N * C + 8 * N + 2 * C + 8 * blocks * C),
               [.pointer(bf16(dinp)), .pointer(scratch.columnPartials), .pointer(bf16(dout)), .pointer(bf16(inp)),
                .pointer(bf16(weight)), .pointer(f32(mean)), .pointer(f32(rstd)), .int(N), .int(C)])
        // … then the R rows added in a fixed order, once for the weight half, once for the bias half
        accumulatePartials(into: f32(dweight), from: scratch.columnPartials, groups: blocks, count: C, stride: 2 * C)
        accumulatePartials(into: f32(dbias), from: scratch.columnPartials + CUdeviceptr(4 * C), groups: blocks, count: C, stride: 2 * C)
    }

    /// Warps per block of the LayerNorm backward, each with 2C floats of shared memory.
    static let layerNormBackwardWarps = 4

    /// The LayerNorm backward's dynamic shared memory for C channels: 2C fp32 sums per warp.
    static func layerNormBackwardSharedBytes(C: Int) -> Int { layerNormBackwardWarps * 2 * C * 4 }

    /// Row groups for the two-stage column sums: enough blocks to fill the GPU, at most `GPUScratchLayout.columnGroups`.
    func columnGroups(rows: Int) -> Int { max(1, min(GPUScratchLayout.columnGroups, ceilDiv(rows, 8))) }

    /// out (count) fp32 += Σ_{r<groups} partials[r·stride + i], in a fixed order. grid ceil(count/32), block (32, 32).
    func accumulatePartials(into out: CUdeviceptr, from partials: CUdeviceptr, groups: Int, count: Int, stride: Int) {
        launch("partials_accumulate", grid: Dim3(ceilDiv(count, 32)), block: Dim3(32, 32), work: .bytes(4 * groups * count + 8 * count),
               [.pointer(out), .pointer(partials), .int(groups), .int(count), .int(stride)])
    }

    // MARK: - Elementwise

    /// out = gelu(inp), bf16, elementwise over `count`
    public func geluForward(out: TensorRef, inp: TensorRef, count: Int) {
        // grid-stride, block 256
        launch("gelu_forward", grid: Dim3(strideBlocks(count)), block: Dim3(256), work: .bytes(4 * count),
               [.pointer(bf16(out)), .pointer(bf16(inp)), .size(count)])
    }

    /// dinp = gelu'(inp) * dout, bf16, elementwise over `count`
    public func geluBackward(dinp: TensorRef, inp: TensorRef, dout: TensorRef, count: Int) {
        // grid-stride, block 256
        launch("gelu_backward", grid: Dim3(strideBlocks(count)), block: Dim3(256), work: .bytes(6 * count),
               [.pointer(bf16(dinp)), .pointer(bf16(inp)), .pointer(bf16(dout)), .size(count)])
    }

    /// out = a + b, bf16, elementwise over `count`
    public func residualForward(out: TensorRef, a: TensorRef, b: TensorRef, count: Int) {
        // grid-stride, block 256
        launch("residual_forward", grid: Dim3(strideBlocks(count)), block: Dim3(256), work: .bytes(6 * count),
               [.pointer(bf16(out)), .pointer(bf16(a)), .pointer(bf16(b)), .size(count)])
    }

    /// out (count) bf16 = inp (count) fp32, rounded to nearest even as every kernel's `to_bf16` rounds its outputs
    /// (the backend rounds its own uploads on the host; the self-test checks the device's rounding with this)
    public func convertToBFloat16(out: TensorRef, inp: TensorRef, count: Int) {
        // grid-stride, block 256
        launch("cast_float_to_bf16", grid: Dim3(strideBlocks(count)), block: Dim3(256), work: .bytes(6 * count),
               [.pointer(bf16(out)), .pointer(f32(inp)), .size(count)])
    }

    /// out (count) fp32 = inp (count) bf16, exactly
    public func convertToFloat(out: TensorRef, inp: TensorRef, count: Int) {
        // grid-stride, block 256
        launch("cast_bf16_to_float", grid: Dim3(strideBlocks(count)), block: Dim3(256), work: .bytes(6 * count),
               [.pointer(f32(out)), .pointer(bf16(inp)), .size(count)])
    }

    // MARK: - Loss

    /// losses (B,T) fp32 = cross-entropy of softmax(logits (B,T,Vp) bf16 [..., :V]) at targets (B,T) int32; with
    /// `dlossScale`, logits are overwritten (=) by dloss/dlogits × dlossScale (padded columns 0)
    public func fusedClassifier(logits: TensorRef, losses: TensorRef, targets: TensorRef, dlossScale: Float?,
                                B: Int, T: Int, V: Int, Vp: Int) {
        // grid N = B*T (one block per row), block 512: an SM holds 1536 threads on sm_86/sm_89 (the RTX 30 and 40
        // series) and 2048 on sm_80/sm_90, so 512 fills both, where 1024 leaves a third of an RTX SM idle, and a
        // block's barriers in its reductions stall one block of several instead of the whole SM
        // reads the logits, overwrites them with dlogits when asked; targets in, losses out
        launch("classifier_forward_backward", grid: Dim3(B * T), block: Dim3(512),
               work: .bytes(2 * B * T * Vp * (dlossScale == nil ? 1 : 2) + 8 * B * T),
               [.pointer(bf16(logits)), .pointer(f32(losses)), .pointer(i32(targets)), .float(dlossScale ?? 0),
                .int(dlossScale == nil ? 0 : 1), .int(B * T), .int(V), .int(Vp)])
    }

    // MARK: - Optimizer

    /// Σ x² over an fp32 tensor: fixed-order partials on the device, read back as one float.
    public func sumOfSquares(_ tensor: TensorRef) -> Double {
        queueNormSquared(tensor)
        return Double(readNormSquared())
    }

    /// Queues norm_squared (scratch) = Σ x² over `tensor` in fixed-order partials.
    private func queueNormSquared(_ tensor: TensorRef) {
        let blocks = min(GPUScratchLayout.normBlocks, max(1, 2 * properties.multiprocessors))
        // grid P ≤ 1024, block 512; then grid 1, block 1024
        launch("norm_squared_partial", grid: Dim3(blocks), block: Dim3(512), work: .bytes(4 * tensor.count + 4 * blocks),
               [.pointer(scratch.normPartials), .pointer(f32(tensor)), .size(tensor.count)])
        launch("norm_squared_final", grid: Dim3(1), block: Dim3(1024),
               [.pointer(scratch.normSquared), .pointer(scratch.normPartials), .int(blocks)])
    }

    private func readNormSquared() -> Float {
        synchronize()
        var value: Float = 0
        withUnsafeMutableBytes(of: &value) { copyToHost($0.baseAddress!, scratch.normSquared, 4, "norm²") }
        return value
    }

    /// The optimizer step in three launches and no host round trip before the update: the gradient norm² over
    /// the tensors' windows (which must tile one range of `.gradients`, as the model's parameter kinds do; any
    /// other list takes the per-tensor path), then one multi-tensor AdamW launch that clips on the device.
    public func optimizerStep(tensors: [OptimizerTensor], hyperparameters hyper: AdamWHyperparameters, step: Int, clipNorm: Float) -> Float {
        let nonempty = tensors.filter { $0.window.count > 0 }
        let sorted = nonempty.map(\.window).sorted { $0.offset < $1.offset }
        let tiles = sorted.allSatisfy { $0.buffer == .parameters }
            && zip(sorted, sorted.dropFirst()).allSatisfy { $0.offset + $0.count == $1.offset }
        guard tiles, let first = sorted.first, let last = sorted.last else {
            return hostClippedOptimizerStep(tensors: tensors, hyperparameters: hyper, step: step, clipNorm: clipNorm)
        }
        queueNormSquared(TensorRef(buffer: .gradients, offset: first.offset, count: last.offset + last.count - first.offset))
        let table = adamTable(nonempty.map { AdamSlotKey(offset: $0.window.offset, count: $0.window.count,
                                                         weightDecayBits: $0.weightDecay.bitPattern) })
        queueAdamW(table: table, tensorCount: nonempty.count, largest: nonempty.map(\.window.count).max()!,
                   elements: nonempty.reduce(0) { $0 + $1.window.count }, hyperparameters: hyper, step: step, maxNorm: clipNorm, gradScale: 1)
        return readNormSquared().squareRoot()
    }

    /// AdamW on one parameter tensor (fp32 master, moments), then bf16 copy = bf16(master), in one kernel.
    public func adamWUpdate(params: TensorRef, grads: TensorRef, m: TensorRef, v: TensorRef,
                            step: Int, hyperparameters hyper: AdamWHyperparameters, gradScale: Float) {
        precondition(params.buffer == .parameters && grads.buffer == .gradients && m.buffer == .adamM && v.buffer == .adamV,
                     "adamWUpdate: params, grads, m, v must be windows of .parameters, .gradients, .adamM, .adamV")
        precondition(grads.offset == params.offset && m.offset == params.offset && v.offset == params.offset
                     && grads.count == params.count && m.count == params.count && v.count == params.count,
                     "adamWUpdate: the kernel indexes every buffer with one offset; the windows must coincide")
        guard params.count > 0 else { return }
        let table = adamTable([AdamSlotKey(offset: params.offset, count: params.count, weightDecayBits: hyper.weightDecay.bitPattern)])
        // max_norm 0: the host's gradScale clips
        queueAdamW(table: table, tensorCount: 1, largest: params.count, elements: params.count, hyperparameters: hyper, step: step, maxNorm: 0,
                   gradScale: gradScale)
    }

    /// Queues adamw_update over the `tensorCount` entries at `table` (`elements` parameters in all, `largest` in
    /// the largest tensor); the norm it clips with (when maxNorm > 0) is the scratch norm² queued before it.
    private func queueAdamW(table: CUdeviceptr, tensorCount: Int, largest: Int, elements: Int, hyperparameters hyper: AdamWHyperparameters,
                            step: Int, maxNorm: Float, gradScale: Float) {
        let (correction1, correction2) = hyper.biasCorrections(step: step)
        let base = { (kind: BufferKind) in TensorRef(buffer: kind, offset: 0, count: 0) }   // a buffer's start (the table has the offsets)
        // grid (min(ceil(largest/256), 8192), tensors), block 256: each block row strides over its tensor.
        // Per parameter: master, gradient, m and v read (4 × 4 bytes); master, m, v and the bf16 copy written (14)
        launch("adamw_update", grid: Dim3(min(ceilDiv(largest, 256), 8192), tensorCount), block: Dim3(256),
               work: .bytes(30 * elements),
               [.pointer(f32(base(.parameters))), .pointer(bf16(base(.parameters))), .pointer(f32(base(.gradients))),
                .pointer(f32(base(.adamM))), .pointer(f32(base(.adamV))), .pointer(table), .int(tensorCount),
                .pointer(scratch.normSquared), .float(maxNorm), .float(gradScale), .float(hyper.learningRate),
                .float(hyper.beta1), .float(hyper.beta2), .float(hyper.epsilon), .float(correction1), .float(correction2)])
    }

    /// The device address of an AdamW tensor table with these entries, in consecutive slots, uploaded once.
    private func adamTable(_ entries: [AdamSlotKey]) -> CUdeviceptr {
        if let slot = adamTables[entries] { return scratch.adamTable + CUdeviceptr(slot * AdamTableEntry.size) }
        precondition(nextAdamSlot + entries.count <= GPUScratchLayout.adamSlots,
                     "more than \(GPUScratchLayout.adamSlots) AdamW table entries")
        let slot = nextAdamSlot
        let address = scratch.adamTable + CUdeviceptr(slot * AdamTableEntry.size)
        let rows = entries.map { AdamTableEntry(offset: UInt64($0.offset), count: UInt64($0.count),
                                                weightDecay: Float(bitPattern: $0.weightDecayBits), padding: 0) }
        synchronize()
        rows.withUnsafeBytes { copyToDevice(address, $0.baseAddress!, entries.count * AdamTableEntry.size, "AdamW table") }
        adamTables[entries] = slot
        nextAdamSlot += entries.count
        return address
    }
}

/// adamw.cu's `AdamWTensor`: 8-byte offset, 8-byte count, 4-byte weight decay, 4 bytes padding.
struct AdamTableEntry {
    var offset: UInt64
    var count: UInt64
    var weightDecay: Float
    var padding: Float
    /// 24 bytes, as `GPUScratchLayout.adamEntryBytes` (and the kernel's struct) say.
    static let size = GPUScratchLayout.adamEntryBytes
}

struct AdamSlotKey: Hashable {
    var offset: Int
    var count: Int
    var weightDecayBits: UInt32
}
