/// `--micro-batch N` or `--micro-batch auto`, and how it and the accumulation options resolve into a micro-batch
/// and a number of accumulation steps; `auto` asks the memory planner for the largest micro-batch that fits.

import ArgumentParser
import GPT2

enum MicroBatchOption: Equatable, ExpressibleByArgument, CustomStringConvertible {
    case fixed(Int)
    case auto

    init?(argument: String) {
        if argument == "auto" {
            self = .auto
        } else if let value = Int(argument) {
            self = .fixed(value)   // its range is checked where it is used, by `size(_:)`, with a message that gives it
        } else {
            return nil
        }
    }

    var description: String {
        switch self {
        case .fixed(let value): return String(value)
        case .auto: return "auto"
        }
    }

    /// The micro-batch when none is given; with `auto` and no --total-batch-tokens, the step is this many sequences
    /// per --grad-accum.
    static let defaultSize = 8

    /// A fixed micro-batch, refused (by name, with the range) unless it is 1…`Layout.maximumBatchSize`.
    static func size(_ B: Int) throws -> Int {
        try Layout.requireBatchCount(B, option: "--micro-batch", orAuto: true)
        return B
    }
}

/// A resolved batch: B sequences per micro-batch, `accumulation` micro-batches per optimizer step.
struct BatchShape: Equatable {
    var microBatch: Int
    var accumulation: Int

    /// Tokens per optimizer step at sequence length `seq`.
    func tokensPerStep(seq: Int) -> Int { microBatch * seq * accumulation }

    /// Resolves the options. With `.auto`, the step keeps its tokens (--total-batch-tokens, else 8 × seq × --grad-accum)
    /// and B is the largest micro-batch that fits `device`, divides them evenly and is at most `atMost`.
    static func resolve(_ option: MicroBatchOption, seq: Int, gradAccum: Int?, totalBatchTokens: Int?,
                        config: ModelConfig, recompute: Bool, device: @autoclosure () throws -> PlanDevice,
                        atMost maximum: Int? = nil) throws -> BatchShape {
        if let gradAccum { try Layout.requireBatchCount(gradAccum, option: "--grad-accum") }
        try config.requireSequenceLength(seq)
        let shape = try resolveUnbounded(option, seq: seq, gradAccum: gradAccum, totalBatchTokens: totalBatchTokens,
                                         config: config, recompute: recompute, device: try device(), atMost: maximum)
        guard shape.accumulation <= Layout.maximumBatchSize else {   // (only --total-batch-tokens can ask for more)
            throw ValidationError("--total-batch-tokens \(totalBatchTokens ?? 0) is \(shape.accumulation) micro-batches of \(shape.microBatch) × \(seq) tokens, "
                                  + "and at most \(Layout.maximumBatchSize) accumulate into one step")
        }
        return shape
    }

    private static func resolveUnbounded(_ option: MicroBatchOption, seq: Int, gradAccum: Int?, totalBatchTokens: Int?,
                                         config: ModelConfig, recompute: Bool, device: @autoclosure () throws -> PlanDevice,
                                         atMost maximum: Int?) throws -> BatchShape {
        switch option {
        case .fixed(let given):
            let B = try MicroBatchOption.size(given)
            guard let totalBatchTokens else { return BatchShape(microBatch: B, accumulation: gradAccum ?? 1) }
            let perMicroBatch = B * seq
            guard totalBatchTokens > 0, totalBatchTokens % perMicroBatch == 0 else {
                throw ValidationError("--total-batch-tokens \(totalBatchTokens) must be a positive multiple of micro-batch × seq = \(perMicroBatch)")
            }
            let accumulation = totalBatchTokens / perMicroBatch
            if let gradAccum, gradAccum != accumulation {
                throw ValidationError("--grad-accum \(gradAccum) disagrees with --total-batch-tokens (which needs \(accumulation))")
            }
            return BatchShape(microBatch: B, accumulation: accumulation)
        case .auto:
            if gradAccum != nil && totalBatchTokens != nil {
                throw ValidationError("--micro-batch auto sets the accumulation itself: give --total-batch-tokens, not --grad-accum too")
            }
            // The step's tokens stay what they are without auto (a hyperparameter, not a property of this machine's
            // memory): --total-batch-tokens, else the default micro-batch × seq × --grad-accum; auto re-divides them.
            // (The data's order does follow the micro-batch: the loader shuffles chunks of B·T tokens, as llm.c's does.)
            let total = totalBatchTokens ?? MicroBatchOption.defaultSize * seq * (gradAccum ?? 1)
            guard total > 0, total % seq == 0 else {
                throw ValidationError("--total-batch-tokens \(total) must be a positive multiple of --seq \(seq)")
            }
            let rows = total / seq
            let B = try largestFitting(config: config, seq: seq, recompute: recompute, device: try device(), dividing: rows,
                                       atMost: maximum)
            return BatchShape(microBatch: B, accumulation: rows / B)
        }
    }

    /// What `--micro-batch auto` picks: the largest micro-batch that fits `device` by the plan (and divides
    /// `sequencesPerStep`, when given, into at most `Layout.maximumBatchSize`, and is at most `maximum`); refused, with
    /// what to change, when none does.
    static func largestFitting(config: ModelConfig, seq: Int, recompute: Bool, device: PlanDevice,
                               dividing sequencesPerStep: Int? = nil, atMost maximum: Int? = nil) throws -> Int {
        let B = MemoryPlan.largestMicroBatch(config: config, sequenceLength: seq, recompute: recompute, device: device,
                                             dividing: sequencesPerStep, atMost: maximum)
        guard B > 0 else {
            let one = MemoryPlan(config: config, batchSize: 1, sequenceLength: seq, recompute: recompute, device: device)
            if one.fits, let sequencesPerStep {   // (micro-batches fit, but every one that fits would accumulate past the limit)
                let bound = maximum.map { " and that the data's smallest shard holds in one batch (at most \($0))" } ?? ""
                throw ValidationError("--micro-batch auto: the step's \(formatCount(sequencesPerStep, "sequence")) are more than "
                                      + "\(Layout.maximumBatchSize) micro-batches of any size that fits\(bound); lower --total-batch-tokens")
            }
            throw ValidationError("--micro-batch auto: even micro-batch 1 × seq \(seq) \(one.verdict); \(one.advice() ?? "")")
        }
        return B
    }
}
