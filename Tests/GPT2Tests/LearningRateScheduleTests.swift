/// The learning-rate schedule against values computed here from the formulas' definitions: linear warm-up,
/// cosine from the peak to the floor at the last step, and wsd (constant, then a linear ramp to the floor).

import Foundation
import GPT2
import Testing

@Suite struct LearningRateScheduleTests {
    /// The schedule computes in Float (cosine through Double); the references are Double. A few Float ulps
    /// of 1e-3 is ~1e-10; 1e-9 absolute (1e-6 relative to the peak) leaves room for that and nothing else.
    let tolerance = 1e-9

    @Test func warmupIsLinearFromZero() {
        let schedule = LearningRateSchedule(maxLearningRate: 1e-3, warmupSteps: 10, totalSteps: 100)
        for step in 1...10 {
            #expect(abs(Double(schedule.learningRate(at: step)) - 1e-3 * Double(step) / 10) < tolerance, "step \(step)")
        }
    }

    @Test func cosineDecaysToTheFloorAtTheLastStep() {
        let (peak, floor, warmup, total) = (1e-3, 1e-4, 10, 100)
        let schedule = LearningRateSchedule(shape: .cosine, maxLearningRate: Float(peak), minFraction: 0.1,
                                            warmupSteps: warmup, totalSteps: total)
        for step in (warmup + 1)...total {
            let angle = Double.pi * Double(step - warmup) / Double(total - warmup)
            let expected = floor + (peak - floor) * (1 + cos(angle)) / 2
            #expect(abs(Double(schedule.learningRate(at: step)) - expected) < tolerance, "step \(step)")
        }
        #expect(abs(Double(schedule.learningRate(at: total)) - floor) < tolerance)
        #expect(schedule.learningRate(at: total + 50) == schedule.learningRate(at: total), "stays at the floor")
        // strictly falling after warm-up
        for step in (warmup + 1)..<total { #expect(schedule.learningRate(at: step + 1) < schedule.learningRate(at: step)) }
    }

    /// Without a warm-up the first step trains at the peak, and the cosine falls from there to the floor at the last
    /// step; a run of one step trains at the peak, with either shape.
    @Test func withoutAWarmUpTheFirstStepIsAtThePeak() {
        let (peak, floor, total) = (1e-3, 1e-4, 50)
        let schedule = LearningRateSchedule(shape: .cosine, maxLearningRate: Float(peak), minFraction: 0.1, warmupSteps: 0,
                                            totalSteps: total)
        for step in 1...total {
            let angle = Double.pi * Double(step - 1) / Double(total - 1)
            let expected = floor + (peak - floor) * (1 + cos(angle)) / 2
            #expect(abs(Double(schedule.learningRate(at: step)) - expected) < tolerance, "step \(step)")
        }
        #expect(schedule.learningRate(at: 1) == Float(peak))
        #expect(LearningRateSchedule(maxLearningRate: 2e-3, warmupSteps: 0, totalSteps: 1).learningRate(at: 1) == 2e-3)
        // so does wsd's: a one-step run trained at the floor, and one decaying over the whole run started below the peak
        let oneStep = LearningRateSchedule(shape: .wsd, maxLearningRate: 2e-3, minFraction: 0.1, warmupSteps: 0, totalSteps: 1)
        #expect(oneStep.learningRate(at: 1) == 2e-3)
        let allDecay = LearningRateSchedule(shape: .wsd, maxLearningRate: 2e-3, minFraction: 0.1, warmupSteps: 0, totalSteps: 10,
                                            decayFraction: 1)
        for step in 1...10 {
            let expected = 2e-3 - (2e-3 - 2e-4) * Double(step - 1) / 9
            #expect(abs(Double(allDecay.learningRate(at: step)) - expected) < tolerance, "step \(step)")
        }
    }

    /// A resume that moves the run's end says so, with the rate the checkpoint's step trained at (the floor, for a run
    /// that had reached its end) and the one the next step trains at on the stretched cosine; an unchanged end is not said.
    @Test func aNewEndIsSaidWithTheRatesEitherSideOfIt() throws {
        let saved = LearningRateSchedule(maxLearningRate: 1e-3, minFraction: 0.1, warmupSteps: 10, totalSteps: 100)
        var stretched = saved
        stretched.totalSteps = 300
        #expect(saved.stretchNote(from: saved, after: 100) == nil)
        let note = try #require(stretched.stretchNote(from: saved, after: 100))
        let next = 1e-4 + (1e-3 - 1e-4) * (1 + cos(Double.pi * 91 / 290)) / 2   // step 101 of 300: 91 of the 290 steps after the warm-up
        #expect(abs(Double(stretched.learningRate(at: 101)) - next) < tolerance)
        #expect(note == "note: the run's end moves from step 100 to 300, and its learning-rate schedule with it: step 100 trained at "
                + "\(formatScientific(1e-4)), step 101 trains at \(formatScientific(next))", "\(note)")
        #expect(note.contains("1.00e-04") && note.contains("7.98e-04"), "\(note)")
    }

    /// 100 steps with decayFraction 0.2: constant at the peak up to step 80, then 20 equal steps down to
    /// the floor, reached exactly at step 100.
    @Test func wsdIsConstantThenLinearToTheFloor() {
        let schedule = LearningRateSchedule(shape: .wsd, maxLearningRate: 2e-3, minFraction: 0.1, warmupSteps: 5,
                                            totalSteps: 100, decayFraction: 0.2)
        for step in 6...80 { #expect(abs(Double(schedule.learningRate(at: step)) - 2e-3) < tolerance, "step \(step)") }
        for step in 81...100 {
            let expected = 2e-3 - (2e-3 - 2e-4) * Double(step - 80) / 20
            #expect(abs(Double(schedule.learningRate(at: step)) - expected) < tolerance, "step \(step)")
        }
        #expect(abs(Double(schedule.learningRate(at: 100)) - 2e-4) < tolerance)
        #expect(schedule.learningRate(at: 150) == schedule.learningRate(at: 100), "stays at the floor")
    }

    /// A warm-up at least as long as the run is noted, with the rate the last step reaches (2e-3 · 40/50 = 1.6e-3);
    /// one step shorter than the run is not.
    @Test func aWarmUpAsLongAsTheRunIsNoted() throws {
        let long = LearningRateSchedule(maxLearningRate: 2e-3, warmupSteps: 50, totalSteps: 40)
        let note = try #require(long.warmUpNote)
        #expect(note.contains("warm-up (50 steps)") && note.contains("run (40 steps)"), "\(note)")
        let reached = try #require(Double(note.split(separator: "to ")[1].prefix { $0 != " " }))
        #expect(abs(reached - 1.6e-3) < tolerance, "\(note)")
        #expect(LearningRateSchedule(maxLearningRate: 2e-3, warmupSteps: 40, totalSteps: 40).warmUpNote != nil)
        #expect(LearningRateSchedule(maxLearningRate: 2e-3, warmupSteps: 39, totalSteps: 40).warmUpNote == nil)
    }

    /// wsd over 100 steps decays after step 80: a warm-up of 90 steps ends inside the decay, and the note gives the
    /// fall after it (step 91 is 11 of the decay's 20 steps down from 2e-3 to 2e-4: 2e-3 − 1.8e-3 · 11/20 = 1.01e-3);
    /// a warm-up of 80 steps ends as the decay starts, and cosine has no decay start to overlap.
    @Test func aWarmUpEndingInsideTheWSDDecayIsNoted() throws {
        let overlapping = LearningRateSchedule(shape: .wsd, maxLearningRate: 2e-3, warmupSteps: 90, totalSteps: 100)
        let note = try #require(overlapping.warmUpNote)
        #expect(note.contains("warm-up (90 steps)") && note.contains("after step 80"), "\(note)")
        let fallenTo = try #require(Double(note.split(separator: " to ").last!.prefix { $0 != " " }))
        #expect(abs(fallenTo - 1.01e-3) < tolerance, "\(note)")
        #expect(LearningRateSchedule(shape: .wsd, maxLearningRate: 2e-3, warmupSteps: 80, totalSteps: 100).warmUpNote == nil)
        #expect(LearningRateSchedule(shape: .cosine, maxLearningRate: 2e-3, warmupSteps: 90, totalSteps: 100).warmUpNote == nil)
    }
}
