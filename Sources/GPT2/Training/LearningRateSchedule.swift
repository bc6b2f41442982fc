/// The learning-rate schedule: linear warm-up, then either cosine decay to a floor or
/// warm-up-stable-decay (constant, then a linear ramp down to the floor over the last steps).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public enum Shape: String, Codable, Sendable, CaseIterable {
        case cosine
        /// Warm-up, stable, decay: constant after warm-up, linear to the floor over `decayFraction` of the run.
        case wsd
    }

    /// How the rate falls after the warm-up.
    public var shape: Shape
    /// The peak, reached at the end of the warm-up (at step 1 without one).
    public var maxLearningRate: Float
    /// The floor, as a fraction of the maximum.
    public var minFraction: Float
    /// Steps of linear rise to the peak.
    public var warmupSteps: Int
    /// The step the decay reaches the floor at: the run's last step (`TrainingOptions.steps` reads and sets it).
    public var totalSteps: Int
    /// For `wsd`: the share of the run spent decaying.
    public var decayFraction: Float

    public init(shape: Shape = .cosine, maxLearningRate: Float, minFraction: Float = 0.1, warmupSteps: Int,
                totalSteps: Int, decayFraction: Float = 0.2) {
        self.shape = shape
        self.maxLearningRate = maxLearningRate
        self.minFraction = minFraction
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.decayFraction = decayFraction
    }

    /// A line for the log when the warm-up does not end before the fall it is meant to precede: when it is not
    /// shorter than the run (the rate then only rises, and ends below its peak, at it when the two are equal), or
    /// for `wsd` when it ends inside the decay (the rate drops from the peak at once). Nil otherwise.
    public var warmUpNote: String? {
        let warmUp = "the warm-up (\(formatCount(warmupSteps, "step")))"
        if warmupSteps >= totalSteps {
            return "note: \(warmUp) is not shorter than the run (\(formatCount(totalSteps, "step"))): "
                + "the learning rate only rises, to \(formatScientific(Double(learningRate(at: totalSteps)))) at the last step "
                + "(peak \(formatScientific(Double(maxLearningRate)))); --warmup sets it"
        }
        guard shape == .wsd, warmupSteps > wsdDecayStart else { return nil }
        return "note: \(warmUp) ends inside wsd's decay, which starts after step \(wsdDecayStart): the learning rate falls "
            + "from its peak \(formatScientific(Double(maxLearningRate))) at step \(warmupSteps) "
            + "to \(formatScientific(Double(learningRate(at: warmupSteps + 1)))) at the next; --warmup sets it"
    }

    /// A line for the log when a resume moves the run's end: `self` is the schedule stretched (or shrunk) to the new end,
    /// `saved` the run's until then, `step` the checkpoint's. It gives the rate the run last trained at and the one it goes
    /// on with, which for a run that had decayed to its floor rises at once. Nil when the end is unchanged.
    public func stretchNote(from saved: LearningRateSchedule, after step: Int) -> String? {
        guard totalSteps != saved.totalSteps else { return nil }
        return "note: the run's end moves from step \(saved.totalSteps) to \(totalSteps), and its learning-rate schedule with it: "
            + "step \(step) trained at \(formatScientific(Double(saved.learningRate(at: step)))), step \(step + 1) trains at "
            + "\(formatScientific(Double(learningRate(at: step + 1))))"
    }

    /// For `wsd`: the last step at the peak before the linear decay (the decay spans `decayFraction` of the run), step 1
    /// at the earliest, as for the cosine: a decay over the whole run started a step down it, and a one-step run at the floor.
    private var wsdDecayStart: Int { max(1, totalSteps - max(1, Int((Float(totalSteps) * decayFraction).rounded()))) }

    /// The learning rate of `step` (counted from 1).
    public func learningRate(at step: Int) -> Float {
        let floor = maxLearningRate * minFraction
        if step <= warmupSteps { return maxLearningRate * Float(step) / Float(max(1, warmupSteps)) }
        switch shape {
        case .cosine:
            // The fall starts at the peak: the warm-up's last step, or step 1 without a warm-up (which would otherwise
            // start a step down the curve, and a one-step run at the floor, never training at the peak).
            let peakStep = max(1, warmupSteps)
            let span = max(1, totalSteps - peakStep)
            let progress = min(1, Double(max(0, step - peakStep)) / Double(span))
            let cosine = 0.5 * (1 + cos(Double.pi * progress))
            return floor + Float(cosine) * (maxLearningRate - floor)
        case .wsd:
            let decayStart = wsdDecayStart
            guard step > decayStart else { return maxLearningRate }
            let progress = min(1, Float(step - decayStart) / Float(max(1, totalSteps - decayStart)))
            return maxLearningRate - progress * (maxLearningRate - floor)
        }
    }
}
