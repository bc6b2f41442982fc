/// The planner's CPU memory is the CPU backend's: after allocating a real `GPT2Model`, the planner's buffer rows
/// sum to exactly `allocatedBytes`; the other rows are the ops' transient scratch, sized as the ops allocate it, and
/// the estimate of the process's own memory.

import CPUBackend
import GPT2
import Testing

@Suite struct PlannerMatchesAllocationTests {
    struct Case: CustomStringConvertible, Sendable {
        var preset: String, batch: Int, seq: Int, recompute: Bool
        var description: String { "\(preset) B=\(batch) T=\(seq)\(recompute ? " recompute" : "")" }
    }

    /// Several presets, batch sizes and recompute on/off; d12 (2 GB of fp32 state) only with a small batch.
    static let cases: [Case] = [
        Case(preset: "tiny", batch: 1, seq: 64, recompute: false),
        Case(preset: "tiny", batch: 4, seq: 64, recompute: true),
        Case(preset: "small", batch: 2, seq: 256, recompute: false),
        Case(preset: "small", batch: 8, seq: 128, recompute: true),
        Case(preset: "small", batch: 20, seq: 256, recompute: false),   // 5120 rows: the classifier runs in two chunks
        Case(preset: "d6", batch: 2, seq: 256, recompute: false),
        Case(preset: "d6", batch: 3, seq: 1024, recompute: true),
        Case(preset: "d12", batch: 1, seq: 32, recompute: false),
    ]

    @Test(arguments: cases)
    func plannedBytesEqualAllocatedBytes(_ c: Case) throws {
        let config = try ModelPreset.named(c.preset).config
        let backend = CPUBackend(threads: 2)
        let model = try GPT2Model(config: config, backend: backend, batchSize: c.batch, sequenceLength: c.seq, recompute: c.recompute)
        let plan = MemoryPlan(config: config, batchSize: c.batch, sequenceLength: c.seq, recompute: c.recompute,
                              device: .cpu(availableBytes: Int.max, threads: backend.threads))
        let allocated = backend.allocatedBytes
        // The buffers are the same Layout, so equality is exact, not approximate.
        #expect(plan.bufferBytes == allocated)
        #expect(plan.bufferBytes == model.layout.totalBytes)
        // The rest is two rows: the process's own memory (a stated estimate), and the ops' transient scratch, the
        // largest of which is a 4 MiB piece of weights on its way to or from a file (plus its draws when
        // initialising), or attention's blocks at long sequences.
        let scratch = try #require(plan.components.first { $0.key == "cpu_op_scratch" })
        #expect(plan.totalBytes - allocated == scratch.bytes + MemoryPlan.cpuProcessEstimate)
        let attentionBlocks = min(backend.threads, c.batch * config.heads) * 2 * 64 * c.seq * 4
        #expect(scratch.bytes == max(attentionBlocks, 5 << 20), "\(c): \(scratch.bytes)")
    }

    /// A model that only evaluates or samples (`gpt2 eval` and `gpt2 sample`, which check this plan before allocating)
    /// allocates what its plan lists: no gradients, no AdamW moments.
    @Test(arguments: ["tiny", "small"])
    func anEvaluationPlanEqualsWhatEvaluationAllocates(_ preset: String) throws {
        let config = try ModelPreset.named(preset).config
        let backend = CPUBackend(threads: 2)
        _ = try GPT2Model(config: config, backend: backend, batchSize: 4, sequenceLength: 64, training: false)
        let plan = MemoryPlan(config: config, batchSize: 4, sequenceLength: 64, recompute: false,
                              device: .cpu(availableBytes: Int.max, threads: 2), training: false)
        #expect(plan.bufferBytes == backend.allocatedBytes)
        let training = MemoryPlan(config: config, batchSize: 4, sequenceLength: 64, recompute: false, device: .cpu(availableBytes: Int.max, threads: 2))
        #expect(training.bufferBytes - plan.bufferBytes >= 3 * 4 * config.parameterCount, "gradients and both moments, at least")

        // `gpt2 sample`'s model: one sequence of the whole context, one row of logits at a time
        let sampling = CPUBackend(threads: 2)
        _ = try GPT2Model(config: config, backend: sampling, batchSize: 1, sequenceLength: config.maxSequenceLength, training: false,
                          classifierChunkRows: 1)
        let samplingPlan = MemoryPlan(config: config, batchSize: 1, sequenceLength: config.maxSequenceLength, recompute: false,
                                      device: .cpu(availableBytes: Int.max, threads: 2), classifierChunkRows: 1, training: false)
        #expect(samplingPlan.bufferBytes == sampling.allocatedBytes)
    }

    /// With recompute the shared LayerNorm/GELU slices shrink the activations, and the backend allocates less.
    @Test func recomputeAllocatesLess() throws {
        let config = try ModelPreset.named("small").config
        func allocated(_ recompute: Bool) throws -> Int {
            let backend = CPUBackend(threads: 1)
            _ = try GPT2Model(config: config, backend: backend, batchSize: 4, sequenceLength: 256, recompute: recompute)
            return backend.allocatedBytes
        }
        let (plain, recomputed) = (try allocated(false), try allocated(true))
        #expect(recomputed < plain)
        let device = PlanDevice.cpu(availableBytes: Int.max, threads: 1)
        #expect(MemoryPlan(config: config, batchSize: 4, sequenceLength: 256, recompute: true, device: device).bufferBytes == recomputed)
    }
}
