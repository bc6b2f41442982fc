/// The training loop on real data: the loss falls on tinyshakespeare, and a run stopped and resumed from its
/// checkpoint is bit-identical to an uninterrupted one (losses, metrics.jsonl, final weights).

import CPUBackend
import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite(.serialized) struct TrainerTests {
    /// Tiny but with the real vocabulary, so the shards' token ids are all in range: ~1.7M parameters.
    static let config = ModelConfig(maxSequenceLength: 32, layers: 2, heads: 2, channels: 32)

    private func options(out: String, steps: Int, learningRate: Float = 3e-3, shuffle: Bool = true,
                         evalEvery: Int = 0, sampleEvery: Int = 0) throws -> TrainingOptions {
        TrainingOptions(
            dataDirectory: try ShakespeareShards.directory(), model: Self.config, modelName: "test", microBatch: 4,
            sequenceLength: 32, gradientAccumulation: 1,
            schedule: LearningRateSchedule(maxLearningRate: learningRate, warmupSteps: 2, totalSteps: steps),
            shuffle: shuffle, evalEvery: evalEvery, evalBatches: 2, sampleEvery: sampleEvery, sampleTokens: 8,
            outDirectory: out, threads: 2, peakFLOPs: 1e11)
    }

    /// One row of metrics.jsonl. JSONDecoder, not JSONSerialization: on Linux the latter misreads some
    /// doubles by a few ulps (10.767538070678711 comes back as …714), which would defeat exact comparison.
    private struct Row: Decodable {
        var step: Int
        var loss: Double?
        var val_loss: Double?
        var lr: Double?
        var grad_norm: Double?
    }

    /// Every row of RUN/metrics.jsonl, in file order.
    private func rows(_ runDirectory: String) throws -> [Row] {
        let text = try String(contentsOfFile: runDirectory + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
    }

    /// The `loss` fields of the step rows and the `val_loss` fields of the evaluation rows, in file order.
    private func metrics(_ runDirectory: String) throws -> (losses: [Double], validation: [Double]) {
        let rows = try rows(runDirectory)
        return (rows.compactMap(\.loss), rows.compactMap(\.val_loss))
    }

    /// The index of the first element whose bits differ between `a` and `b` (the shorter length when only the lengths
    /// differ), nil when they are bit-identical. The vectors hold ~1.7M values: compared as arrays, a failure made the
    /// test framework diff them element by element, which ran for many minutes instead of naming one value.
    private func firstBitDifference(_ a: [Float], _ b: [Float]) -> Int? {
        for i in 0..<min(a.count, b.count) where a[i].bitPattern != b[i].bitPattern { return i }
        return a.count == b.count ? nil : min(a.count, b.count)
    }

    /// At initialisation every logit is ~0 (weights N(0, 0.02)), so the first loss is ≈ ln(50257) = 10.82.
    /// 40 steps of 128 tokens at lr 3e-3 are plenty to learn the unigram statistics (the unigram entropy of
    /// GPT-2 tokens in Shakespeare is ~7.5 nats), so the last five steps must average at least 2 nats lower;
    /// a broken backward pass or optimizer leaves the loss near 10.8 (or makes it rise).
    @Test func lossFallsOnTinyShakespeare() throws {
        let out = try TestPaths.temporaryDirectory("trainer-loss").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let trainer = try Trainer(options: try options(out: out, steps: 40), backend: CPUBackend(threads: 2))
        let losses = try trainer.run()
        #expect(losses.count == 40)
        #expect(abs(losses[0] - log(50257)) < 0.3, "first loss \(losses[0]) should be ≈ ln(50257)")
        let tail = losses.suffix(5).reduce(0, +) / 5
        #expect(tail < losses[0] - 2, "loss fell only from \(losses[0]) to \(tail): \(losses)")
    }

    /// Run A goes straight to step 8; run B stops after 3 (with a checkpoint), then a new trainer resumes from
    /// ckpt_3 and finishes. On the CPU everything is deterministic, so equality is exact, not approximate. The runs
    /// also sample 8 tokens every 2 steps (recorded through `decode`): the resumed run must draw the samples the
    /// uninterrupted one draws, from the generator state its checkpoint saved (`TrainerState.sampleRandom`).
    @Test(arguments: [(shuffle: true, evalEvery: 2), (shuffle: false, evalEvery: 0)])
    func resumeIsBitIdentical(_ setup: (shuffle: Bool, evalEvery: Int)) throws {
        let root = try TestPaths.temporaryDirectory("trainer-resume").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (steps, stop, sampleEvery) = (8, 3, 2)
        var samplesA: [[Int]] = [], samplesB: [[Int]] = []

        let a = try Trainer(options: try options(out: root + "/a", steps: steps, shuffle: setup.shuffle,
                                                 evalEvery: setup.evalEvery, sampleEvery: sampleEvery), backend: CPUBackend(threads: 2))
        a.decode = { samplesA.append($0); return "" }
        let lossesA = try a.run()

        let b = try Trainer(options: try options(out: root + "/b", steps: steps, shuffle: setup.shuffle,
                                                 evalEvery: setup.evalEvery, sampleEvery: sampleEvery), backend: CPUBackend(threads: 2))
        b.decode = { samplesB.append($0); return "" }
        let firstPart = try b.run(stopAfter: stop)
        #expect(firstPart.count == stop)
        #expect(Checkpoint.steps(in: root + "/b") == [stop])
        let resumed = try Trainer(resuming: root + "/b/" + Checkpoint.folderName(step: stop), backend: CPUBackend(threads: 2))
        resumed.decode = { samplesB.append($0); return "" }
        let secondPart = try resumed.run()
        // a sample at steps 2, 4, 6 and 8 (one before the stop, three after), of 8 tokens each; untrained, the model's
        // distribution over 50,257 tokens is broad, so a generator restarted from the seed draws other tokens
        #expect(samplesA.count == steps / sampleEvery && samplesA.allSatisfy { $0.count == 8 }, "\(samplesA)")
        #expect(samplesA == samplesB, "samples A \(samplesA)\nB \(samplesB)")

        let lossesB = firstPart + secondPart
        #expect(lossesA.map(\.bitPattern) == lossesB.map(\.bitPattern), "A \(lossesA)\nB \(lossesB)")
        let (metricsA, metricsB) = (try metrics(root + "/a"), try metrics(root + "/b"))
        #expect(metricsA.losses.count == steps)
        #expect(metricsA.losses == metricsB.losses)
        #expect(metricsA.losses == lossesA.map(Double.init), "metrics.jsonl must hold the returned losses")
        #expect(metricsA.validation == metricsB.validation)
        #expect(metricsA.validation.count == (setup.evalEvery > 0 ? steps / setup.evalEvery : 0))
        #expect(firstBitDifference(a.model.parameters(), resumed.model.parameters()) == nil, "weights")
        let savedA = try Checkpoint.load(root + "/a/ckpt_8", as: TrainerState.self)
        let savedB = try Checkpoint.load(root + "/b/ckpt_8", as: TrainerState.self)
        #expect(firstBitDifference(savedA.parameters, savedB.parameters) == nil, "saved weights")
        #expect(firstBitDifference(savedA.firstMoment, savedB.firstMoment) == nil, "AdamW's first moment")
        #expect(firstBitDifference(savedA.secondMoment, savedB.secondMoment) == nil, "AdamW's second moment")
        #expect(savedA.state.loader == savedB.state.loader)
    }

    /// The trainer's step is the model's step on the loader's batches with the options' hyperparameters, rebuilt here
    /// from the pieces the other suites check (forward/backward against numpy, `optimizerStep` against a double-precision
    /// AdamW): A = 3 micro-batches of B = 4 rows, read in file order (llm.c's sequential batches: micro-batch k of step s
    /// is tokens i·B·T ..< i·B·T + B·T + 1 of the train split, i = (s − 1)·A + k), each scaled by 1/(B·T·A); the step's
    /// loss the mean of the three; AdamW at the warm-up's rate (lr·s/2 for a warm-up of 2) with weight decay 0.3 and a
    /// clip of 0.25 (below the norm, so the clip acts), counting steps from 1. The CPU is deterministic and the same ops
    /// run in the same order, so the losses, the logged grad_norm and the weights after two steps agree bit for bit.
    /// Every other trainer test compares the trainer with itself (resume, stop) or only asks that the loss fall, so a
    /// loss scale without the 1/A, the sum of the micro-batch losses for their mean, the default weight decay for the
    /// option's, or a rate or Adam step one off, went unseen by all of them.
    @Test func aStepIsTheModelsStepOnTheLoadersBatchesWithTheOptions() throws {
        let out = try TestPaths.temporaryDirectory("trainer-step").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let (B, T, A, steps) = (4, 32, 3, 2)
        var options = try options(out: out, steps: steps, shuffle: false)
        options.gradientAccumulation = A
        options.weightDecay = 0.3
        options.clipNorm = 0.25
        let trainer = try Trainer(options: options, backend: CPUBackend(threads: 2))
        let initial = trainer.model.parameters()
        let losses = try trainer.run()

        let reference = try GPT2Model(config: Self.config, backend: CPUBackend(threads: 2), batchSize: B, sequenceLength: T)
        reference.setParameters(initial)
        let train = try ShakespeareShards.tokens().dropFirst(ShakespeareShards.validationTokens).map(Int32.init)
        let rates: [Float] = [3e-3 / 2, 3e-3]   // warm-up of 2 steps to the options' peak 3e-3: lr·s/2
        var expectedLosses: [Float] = [], expectedNorms: [Float] = []
        for step in 1...steps {
            reference.zeroGradients()
            var lossSum = 0.0
            for micro in 0..<A {
                let start = ((step - 1) * A + micro) * B * T
                let loss = reference.forward(inputs: Array(train[start..<(start + B * T)]),
                                             targets: Array(train[(start + 1)..<(start + B * T + 1)]),
                                             batchSize: B, sequenceLength: T, lossScale: 1 / Float(B * T * A))!
                reference.backward(batchSize: B, sequenceLength: T)
                lossSum += Double(loss)
            }
            expectedLosses.append(Float(lossSum / Double(A)))
            expectedNorms.append(reference.optimizerStep(hyperparameters: AdamWHyperparameters(learningRate: rates[step - 1], weightDecay: 0.3),
                                                         step: step, clipNorm: 0.25))
        }
        try #require(expectedNorms.allSatisfy { $0 > 0.25 }, "the clip acts: norms \(expectedNorms)")

        #expect(losses.map(\.bitPattern) == expectedLosses.map(\.bitPattern), "trainer \(losses), reference \(expectedLosses)")
        let rows = try rows(out).filter { $0.loss != nil }
        #expect(rows.compactMap(\.grad_norm) == expectedNorms.map(Double.init), "logged grad_norm")
        #expect(rows.compactMap(\.lr) == rates.map(Double.init), "logged lr")
        #expect(firstBitDifference(trainer.model.parameters(), reference.parameters()) == nil, "weights after \(steps) steps")
    }

    /// Ctrl-C during a step of several micro-batches ends it at the micro-batch in progress: the step is dropped and
    /// the checkpoint is of the step before (ckpt_0, the initial weights, when the first step is cut; none new when
    /// that step's checkpoint exists). Resumed from those, the run is bit-identical to one never interrupted. A stop
    /// asked for during a step's last micro-batch keeps the step, as with one micro-batch per step.
    @Test func aStopRequestDropsTheStepInProgressAndTheRunResumesExactly() throws {
        let root = try TestPaths.temporaryDirectory("trainer-stop").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func accumulating(_ out: String, _ microBatches: Int = 3) throws -> TrainingOptions {
            var options = try options(out: out, steps: 6)
            options.gradientAccumulation = microBatches
            return options
        }
        func raised() -> StopRequest {
            let request = StopRequest(signals: [])
            request.request()
            return request
        }
        let a = try Trainer(options: try accumulating(root + "/a"), backend: CPUBackend(threads: 2))
        let lossesA = try a.run()

        let first = try Trainer(options: try accumulating(root + "/b"), backend: CPUBackend(threads: 2))
        #expect(try first.run(stopRequest: raised()).isEmpty)
        #expect(first.stoppedOnRequest)
        #expect(Checkpoint.steps(in: root + "/b") == [0])
        let second = try Trainer(resuming: root + "/b/ckpt_0", backend: CPUBackend(threads: 2))
        let lossesToStep3 = try second.run(stopAfter: 3)
        let third = try Trainer(resuming: root + "/b/ckpt_3", backend: CPUBackend(threads: 2))
        #expect(try third.run(stopRequest: raised()).isEmpty)
        #expect(third.stoppedOnRequest && Checkpoint.steps(in: root + "/b") == [0, 3])
        let last = try Trainer(resuming: root + "/b/ckpt_3", backend: CPUBackend(threads: 2))
        let lossesFrom3 = try last.run()

        let lossesB = lossesToStep3 + lossesFrom3
        #expect(lossesA.map(\.bitPattern) == lossesB.map(\.bitPattern), "A \(lossesA)\nB \(lossesB)")
        #expect(try metrics(root + "/a").losses == metrics(root + "/b").losses)
        #expect(firstBitDifference(a.model.parameters(), last.model.parameters()) == nil, "weights")
        let savedA = try Checkpoint.load(root + "/a/ckpt_6", as: TrainerState.self)
        let savedB = try Checkpoint.load(root + "/b/ckpt_6", as: TrainerState.self)
        #expect(firstBitDifference(savedA.parameters, savedB.parameters) == nil, "saved weights")
        #expect(firstBitDifference(savedA.firstMoment, savedB.firstMoment) == nil, "AdamW's first moment")
        #expect(firstBitDifference(savedA.secondMoment, savedB.secondMoment) == nil, "AdamW's second moment")
        #expect(savedA.state.loader == savedB.state.loader)

        let whole = try Trainer(options: try accumulating(root + "/c", 1), backend: CPUBackend(threads: 2))
        #expect(try whole.run(stopRequest: raised()).count == 1)
        #expect(whole.stoppedOnRequest && Checkpoint.steps(in: root + "/c") == [1])

        // during the run's last step (here the last of stopAfter) a stop is not needed: the step completes, as in run A
        let ending = try Trainer(options: try accumulating(root + "/d"), backend: CPUBackend(threads: 2))
        #expect(try ending.run(stopAfter: 1, stopRequest: raised()).map(\.bitPattern) == [lossesA[0].bitPattern])
        #expect(!ending.stoppedOnRequest && Checkpoint.steps(in: root + "/d") == [1])
    }

    /// A run that died after writing metrics rows past its newest checkpoint (here step 3's row, its checkpoint never
    /// saved) resumes from that checkpoint with those rows dropped: metrics.jsonl then holds each step once, the
    /// losses of an uninterrupted run.
    @Test func aResumeDropsTheRowsOfStepsAfterItsCheckpoint() throws {
        let root = try TestPaths.temporaryDirectory("trainer-crash-rows").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var everySecond = try options(out: root + "/a", steps: 4)
        everySecond.checkpointEvery = 2
        let uninterrupted = try Trainer(options: everySecond, backend: CPUBackend(threads: 2)).run()
        everySecond.outDirectory = root + "/b"
        try Trainer(options: everySecond, backend: CPUBackend(threads: 2)).run(stopAfter: 3)
        try Checkpoint.remove(step: 3, in: root + "/b")   // as if the process died before saving it
        try #require(try rows(root + "/b").map(\.step) == [1, 2, 3])
        try Trainer(resuming: root + "/b/ckpt_2", backend: CPUBackend(threads: 2)).run()
        #expect(try rows(root + "/b").map(\.step) == [1, 2, 3, 4])
        #expect(try metrics(root + "/b").losses == uninterrupted.map(Double.init))
    }

    /// Validation runs every `evalEvery` steps and after the last step, on the weights of the step it follows: 3 steps
    /// with evalEvery 2 evaluate after steps 2 and 3 (3 is no multiple of 2), and step 3's val_loss is the loss of the
    /// first `evalBatches` validation batches with the final weights.
    @Test func validationRunsEveryPeriodAndAfterTheLastStep() throws {
        let out = try TestPaths.temporaryDirectory("trainer-eval-last").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let trainer = try Trainer(options: try options(out: out, steps: 3, evalEvery: 2), backend: CPUBackend(threads: 2))
        try trainer.run()
        let evaluations = try rows(out).filter { $0.val_loss != nil }
        #expect(evaluations.map(\.step) == [2, 3])
        let validation = try ValidationLoader(.split(directory: try ShakespeareShards.directory(), split: "val"), batchSize: 4, sequenceLength: 32)
        let final = try Trainer.evaluate(trainer.model, validation, batches: 2)
        #expect(evaluations.last?.val_loss == Double(final))
        #expect(trainer.validationNote == nil, "2 batches of the split's \(validation.batchesPerPass)")
    }

    /// An --eval-batches beyond the validation split is said at the start (each validation reads the whole split),
    /// as `gpt2 eval` says it; train said nothing.
    @Test func moreValidationBatchesThanTheSplitHoldsAreNoted() throws {
        let out = try TestPaths.temporaryDirectory("trainer-eval-batches").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var many = try options(out: out, steps: 1, evalEvery: 1)
        many.evalBatches = 1_000_000
        let trainer = try Trainer(options: many, backend: CPUBackend(threads: 2))
        let batches = try ValidationLoader(.split(directory: try ShakespeareShards.directory(), split: "val"), batchSize: 4,
                                           sequenceLength: 32).batchesPerPass
        #expect(trainer.validationNote == "note: the val split holds \(batches) batches of 4 × 32 tokens, fewer than --eval-batches "
                + "1000000: each validation reads those")
    }

    /// A stop asked for before a step's evaluations begin leaves them out (a full validation pass or HellaSwag could
    /// keep the stop waiting for minutes); the step and its checkpoint are kept, and the resumed run evaluates again
    /// when its period comes up.
    @Test func aStopRequestSkipsTheEvaluationsNotBegun() throws {
        let out = try TestPaths.temporaryDirectory("trainer-stop-eval").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let trainer = try Trainer(options: try options(out: out, steps: 4, evalEvery: 1), backend: CPUBackend(threads: 2))
        let request = StopRequest(signals: [])
        request.request()
        #expect(try trainer.run(stopRequest: request).count == 1)
        #expect(trainer.stoppedOnRequest && Checkpoint.steps(in: out) == [1])
        #expect(try metrics(out).validation.isEmpty, "step 1's validation was skipped")
        let resumed = try Trainer(resuming: out + "/ckpt_1", backend: CPUBackend(threads: 2))
        try resumed.run()
        #expect(try metrics(out).validation.count == 3, "steps 2, 3 and 4 are evaluated")
    }

    /// A stop asked for during a step's sample ends the sample at the token it is on (a long sample kept the stop waiting,
    /// and a state.json edited to sample 10^12 tokens never stopped); the step and its checkpoint are kept. Here the stop
    /// comes before the sample begins, so it has no tokens.
    @Test func aStopRequestEndsTheSampleInProgress() throws {
        let out = try TestPaths.temporaryDirectory("trainer-stop-sample").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let trainer = try Trainer(options: try options(out: out, steps: 4, sampleEvery: 1), backend: CPUBackend(threads: 2))
        var samples: [[Int]] = []
        trainer.decode = { samples.append($0); return "" }
        let request = StopRequest(signals: [])
        request.request()
        #expect(try trainer.run(stopRequest: request).count == 1)
        #expect(trainer.stoppedOnRequest && Checkpoint.steps(in: out) == [1])
        #expect(samples == [[]], "\(samples)")
        // and in the run's last step too, which a stop does not cut short (its sample was drawn whole)
        let last = try Trainer(options: try options(out: out + "/last", steps: 1, sampleEvery: 1), backend: CPUBackend(threads: 2))
        var lastSamples: [[Int]] = []
        last.decode = { lastSamples.append($0); return "" }
        #expect(try last.run(stopRequest: request).count == 1)
        #expect(lastSamples == [[]] && Checkpoint.steps(in: out + "/last") == [1], "\(lastSamples)")
    }

    /// A step still accumulating after `progressInterval` says how far it has got (here every micro-batch but the last,
    /// whose step line follows).
    @Test func aLongStepSaysHowFarItHasGot() throws {
        let out = try TestPaths.temporaryDirectory("trainer-progress").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var options = try options(out: out, steps: 2)
        options.gradientAccumulation = 3
        let trainer = try Trainer(options: options, backend: CPUBackend(threads: 2))
        var lines: [String] = []
        (trainer.progressInterval, trainer.progress) = (0, { lines.append($0) })
        try trainer.run()
        #expect(lines.map { String($0.prefix(while: { $0 != "," })) }
                == ["step 1/2: 1 of 3 micro-batches in 0s", "step 1/2: 2 of 3 micro-batches in 0s",
                    "step 2/2: 1 of 3 micro-batches in 0s", "step 2/2: 2 of 3 micro-batches in 0s"], "\(lines)")
    }

    /// A run folder moved away while the trainer was being built (loading weights can take minutes) stops the run
    /// before it writes anything at the old path.
    @Test func aRunFolderMovedBeforeTheRunStartsIsNotWrittenAtItsOldPath() throws {
        let root = try TestPaths.temporaryDirectory("trainer-moved").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let trainer = try Trainer(options: try options(out: root + "/run", steps: 2), backend: CPUBackend(threads: 2))
        try FileManager.default.moveItem(atPath: root + "/run", toPath: root + "/moved")
        #expect(throws: TrainingError.self) { try trainer.run() }
        #expect(!FileManager.default.fileExists(atPath: root + "/run"))
    }

    /// `replacingEarlierRun` reads the first batch before it removes the run it replaces: a bad token there removed
    /// the run, then failed.
    @Test func aReplacementWhoseFirstBatchIsBadKeepsTheEarlierRun() throws {
        let root = try TestPaths.temporaryDirectory("trainer-replace").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Trainer(options: try options(out: root + "/run", steps: 1), backend: CPUBackend(threads: 2)).run()
        try FileManager.default.createDirectory(atPath: root + "/bad", withIntermediateDirectories: true)
        try ShardWriter.write([50256, 60000] + Array(repeating: 11, count: 500), to: root + "/bad/x_train_000000.bin")
        var replacement = try options(out: root + "/run", steps: 1, shuffle: false)
        replacement.dataDirectory = root + "/bad"
        let error = #expect(throws: DataLoaderError.self) {
            try Trainer(options: replacement, backend: CPUBackend(threads: 2), replacingEarlierRun: true)
        }
        #expect(error?.description.contains("holds token 60000 at position 1") == true, "\(String(describing: error))")
        #expect(Checkpoint.steps(in: root + "/run") == [1])
        #expect(try metrics(root + "/run").losses.count == 1)
    }

    /// A metrics row that cannot be written (here metrics.jsonl is a link to /dev/full, a disk that is always full) stops
    /// the run with a message, as a checkpoint that cannot be saved does: the rows were dropped without a word, and a
    /// row cut part-way left a line that was not JSON.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full"), "needs /dev/full (Linux)"))
    func aMetricsRowThatCannotBeWrittenStopsTheRun() throws {
        let out = try TestPaths.temporaryDirectory("trainer-metrics-full").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        try FileManager.default.createSymbolicLink(atPath: out + "/metrics.jsonl", withDestinationPath: "/dev/full")
        let trainer = try Trainer(options: try options(out: out, steps: 3), backend: CPUBackend(threads: 2))
        let error = #expect(throws: TrainingError.self) { try trainer.run() }
        #expect(error?.description.contains("could not write \(out)/metrics.jsonl, so training stopped after step 1") == true
                && error?.description.contains("no checkpoint of this run was saved") == true, "\(String(describing: error))")
    }

    /// A symbolic link to a checkpoint resumes the run the checkpoint belongs to: it went on in the link's folder as
    /// another run, past the check that refuses an earlier checkpoint while later ones exist.
    @Test func aLinkToACheckpointResumesItsOwnRun() throws {
        let root = try TestPaths.temporaryDirectory("trainer-link").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var twoCheckpoints = try options(out: root + "/run", steps: 4)
        twoCheckpoints.checkpointEvery = 2
        try Trainer(options: twoCheckpoints, backend: CPUBackend(threads: 2)).run()
        try FileManager.default.createDirectory(atPath: root + "/other", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/other/early", withDestinationPath: "../run/ckpt_2")
        try FileManager.default.createSymbolicLink(atPath: root + "/other/latest", withDestinationPath: root + "/run/ckpt_4/")
        let refused = #expect(throws: TrainingError.self) { try Trainer(resuming: root + "/other/early", backend: CPUBackend(threads: 2)) }
        #expect(refused?.description.contains("ckpt_4") == true, "\(String(describing: refused))")
        var more = try SavedRun(checkpoint: root + "/other/latest/")
        more.options.steps = 5
        let resumed = try Trainer(resuming: more, backend: CPUBackend(threads: 2))
        #expect(resumed.options.outDirectory.hasSuffix("/run"), "\(resumed.options.outDirectory)")
        try resumed.run()
        #expect(Checkpoint.steps(in: root + "/run") == [2, 4, 5])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/other").sorted() == ["early", "latest"])
    }

    /// `initFrom` starts a new run from trained weights — a run folder (its newest checkpoint, read a piece at a
    /// time), an llm.c file or a Hugging Face export — bit for bit; weights of another shape are refused.
    @Test func initFromStartsWithTheSavedWeights() throws {
        let root = try TestPaths.temporaryDirectory("trainer-init-from").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let trained = try Trainer(options: try options(out: root + "/a", steps: 3), backend: CPUBackend(threads: 2))
        try trained.run()
        let weights = trained.model.parameters()
        try LLMCModelFile.write(path: root + "/weights.bin", config: Self.config, parameters: trained.model.parameters())
        try HuggingFaceGPT2.export(directory: root + "/hf", config: Self.config, parameters: trained.model.parameters())
        for (index, source) in [root + "/a", root + "/weights.bin", root + "/hf"].enumerated() {
            var started = try options(out: root + "/b\(index)", steps: 1)
            started.initFrom = source
            let trainer = try Trainer(options: started, backend: CPUBackend(threads: 2))
            #expect(firstBitDifference(trainer.model.parameters(), weights) == nil, "\(source)")
        }
        var other = try options(out: root + "/c", steps: 1)
        other.model.layers = 1
        other.initFrom = root + "/a"
        let thrown = try #require(throws: ConfigError.self) { try Trainer(options: other, backend: CPUBackend(threads: 2)) }
        #expect(String(describing: thrown).contains(root + "/a"))
    }

    /// A checkpoint records its format, the gpt2 that wrote it and the learning rate of its step; a resume says when
    /// this gpt2's schedule gives another rate there, or when the checkpoint is from before formats were recorded.
    @Test func aResumeSaysWhereThisGPT2MayNotGoOnAsTheRunWould() throws {
        let out = try TestPaths.temporaryDirectory("trainer-continuity").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let run = try options(out: out, steps: 3)
        try Trainer(options: run, backend: CPUBackend(threads: 2)).run()
        let folder = out + "/ckpt_3", statePath = folder + "/state.json"
        let state = try Checkpoint.readState(folder, as: TrainerState.self)
        #expect(state.format == Checkpoint.format && state.writtenBy == BuildInfo.commit)
        #expect(state.learningRate == run.schedule.learningRate(at: 3) && state.learningRate != run.schedule.learningRate(at: 2))
        #expect(try SavedRun(checkpoint: folder).continuityNote == nil)

        /// state.json with each line holding one of `keys` replaced by `replace(line)` (nil drops it).
        func editState(_ keys: [String], _ replace: (String) -> String?) throws {
            let lines = try String(contentsOfFile: statePath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            let edited = lines.compactMap { line in keys.contains { line.hasPrefix("  \"\($0)\" : ") } ? replace(String(line)) : String(line) }
            #expect(edited.count < lines.count || edited != lines.map(String.init), "no line holds \(keys)")
            try edited.joined(separator: "\n").write(toFile: statePath, atomically: false, encoding: .utf8)
            try Checkpoint.acceptEdits(in: folder)
        }
        try editState(["learningRate"]) { _ in "  \"learningRate\" : 0.5," }   // (what an earlier schedule gave)
        let changed = try #require(try SavedRun(checkpoint: folder).continuityNote)
        #expect(changed.hasPrefix("note: \(folder) trained step 3 at learning rate 5.00e-01 (\(BuildInfo.version)), "
                                                            + "where this gpt2's schedule gives "), "\(changed)")
        try editState(["format", "writtenBy", "learningRate"]) { _ in nil }
        let earlier = try #require(try SavedRun(checkpoint: folder).continuityNote)
        #expect(earlier.hasPrefix("note: \(folder) was written by an earlier gpt2, from before checkpoints "
                                                            + "recorded their format"), "\(earlier)")
        #expect(earlier.hasSuffix("until 2026-12-05)"), "the run validates on nothing: \(earlier)")
        #expect(try Trainer(resuming: folder, backend: CPUBackend(threads: 2)).step == 3, "a format-1 checkpoint still resumes")
    }

    /// `checkpointEvery` with `keepLast` leaves only the newest checkpoints, and each of them loads.
    @Test func keepLastPrunesOlderCheckpoints() throws {
        let out = try TestPaths.temporaryDirectory("trainer-keep").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var options = try options(out: out, steps: 5)
        options.checkpointEvery = 1
        options.keepLast = 2
        try Trainer(options: options, backend: CPUBackend(threads: 2)).run()
        #expect(Checkpoint.steps(in: out) == [4, 5])
        let saved = try Checkpoint.load(out + "/ckpt_5", as: TrainerState.self)
        #expect(saved.state.step == 5)
        #expect(saved.state.options == options)
    }

    /// A run folder that holds a run, and a checkpoint with later ones beside it, are refused before the model is
    /// built (the backend allocates nothing: for d12 that was ~2 GiB and seconds of initialisation or loading), and
    /// leave the folder as it was; `SavedRun` tells the checkpoint's step without allocating either.
    @Test func refusalsComeBeforeTheModelIsBuilt() throws {
        let run = try TestPaths.temporaryDirectory("trainer-refusals").path
        defer { try? FileManager.default.removeItem(atPath: run) }
        var first = try options(out: run, steps: 2)
        first.checkpointEvery = 1
        try Trainer(options: first, backend: CPUBackend(threads: 2)).run()
        #expect(Checkpoint.steps(in: run) == [1, 2])

        let fresh = CPUBackend(threads: 2)
        let refusal = try #require(throws: TrainingError.self) { try Trainer(options: try options(out: run, steps: 2), backend: fresh) }
        #expect(String(describing: refusal).contains("--overwrite"))
        #expect(fresh.allocatedBytes == 0)

        let earlier = CPUBackend(threads: 2)
        let notNewest = try #require(throws: TrainingError.self) { try Trainer(resuming: run + "/ckpt_1", backend: earlier) }
        #expect(String(describing: notNewest).contains("ckpt_2"))
        #expect(earlier.allocatedBytes == 0)
        #expect(Checkpoint.steps(in: run) == [1, 2])

        var saved = try SavedRun(checkpoint: run + "/ckpt_2")
        #expect(saved.step == 2 && saved.options.outDirectory == run)

        // a resume keeps its micro-batch (4): where only 2 fit, it is refused with a new run's micro-batch as advice
        let kept = saved.options
        let two = MemoryPlan(config: kept.model, batchSize: 2, sequenceLength: kept.sequenceLength, recompute: false,
                             device: .cpu(availableBytes: 0, threads: 2))
        let cramped = PlanDevice.cpu(availableBytes: two.totalBytes, threads: 2)
        let tooSmall = try #require(throws: ConfigError.self) { try TrainingPlanCheck.requireFits(resuming: saved, device: cramped) }
        let newRun = "gpt2 train --init-from \(run)/ckpt_2 --data \(kept.dataDirectory) --seq \(kept.sequenceLength) --micro-batch 2 "
            + "--grad-accum \(2 * kept.gradientAccumulation) --out NEW_FOLDER, with the run's other options (the same tokens per step)"
        #expect(String(describing: tooSmall).contains("does not fit") && String(describing: tooSmall).contains(newRun), "\(tooSmall)")
        // where not one sequence fits (a GPU that other programs fill), the refusal offers no new run (it divided by 0)
        let full = try #require(throws: ConfigError.self) {
            try TrainingPlanCheck.requireFits(resuming: saved, device: .cpu(availableBytes: 0, threads: 2))
        }
        #expect(String(describing: full).hasSuffix("resume it where it fits"), "\(full)")
        // on a GPU, the refusal names the memory in use when gpt2 opened it (a desktop, another run), which is the user's to free
        let busyGPU = PlanDevice.gpu(try GPUSpecification.named("rtx4070"), totalBytes: two.totalBytes,
                                     overhead: DeviceOverhead(bytes: 1 << 30, source: .inUseAtOpen))
        let busy = try #require(throws: ConfigError.self) { try TrainingPlanCheck.requireFits(resuming: saved, device: busyGPU) }
        #expect(String(describing: busy).contains("1.00 GiB of the device was in use when gpt2 opened it (its own CUDA context, and "
                                                  + "other programs: a desktop, another run): free what other programs hold, or resume it where it fits"),
                "\(busy)")
        try TrainingPlanCheck.requireFits(resuming: saved, device: .cpu(availableBytes: 2 * two.totalBytes, threads: 2))

        saved.options.steps = 1
        #expect(throws: TrainingError.self) { try saved.validate() }
    }

    /// Shards hold GPT-2 token ids; a model with a smaller vocabulary (a file from elsewhere, via `initFrom`) must
    /// stop at the first id it has no embedding for, naming the shard, instead of reading past its tables.
    @Test func tokensOutsideTheModelsVocabularyAreRefused() throws {
        let out = try TestPaths.temporaryDirectory("trainer-vocabulary").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        var small = try options(out: out, steps: 1, evalEvery: 1)
        small.model.vocabularySize = 1000
        small.model.paddedVocabularySize = 1024
        let trainer = try Trainer(options: small, backend: CPUBackend(threads: 2))
        let thrown = try #require(throws: DataLoaderError.self) { try trainer.run() }
        #expect(String(describing: thrown).contains("_train_") && String(describing: thrown).contains("model's vocabulary (0..<1000)"), "\(thrown)")
        #expect(!String(describing: thrown).contains("regenerate"), "the shard is not at fault: \(thrown)")

        // training tokens in range, validation tokens not: the evaluation after step 1 stops at the val shard
        let data = out + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try ShardWriter.write((0..<4000).map { $0 % 1000 }, to: data + "/mixed_train_000000.bin")
        try FileManager.default.createSymbolicLink(atPath: data + "/mixed_val_000000.bin",
                                                   withDestinationPath: small.dataDirectory + "/tinyshakespeare_val_000000.bin")
        small.dataDirectory = data
        small.outDirectory = out + "/run"
        let evaluated = try Trainer(options: small, backend: CPUBackend(threads: 2))
        let refused = try #require(throws: DataLoaderError.self) { try evaluated.run() }
        #expect(String(describing: refused).contains("_val_"), "\(refused)")
    }

    /// From a trainer's creation until its run returns, another trainer aimed at its folder — a new run even with
    /// `replacingEarlierRun`, or a resume — is refused rather than interleaving checkpoints and metrics; then it is free.
    /// Holding it, a run clears the half-written checkpoint folders an interrupted save left.
    @Test func aRunFolderTakesOneTrainerAtATime() throws {
        let out = try TestPaths.temporaryDirectory("trainer-lock").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        try Trainer(options: try options(out: out, steps: 2), backend: CPUBackend(threads: 2)).run()
        var more = try SavedRun(checkpoint: out + "/ckpt_2")
        more.options.steps = 3
        let holder = try Trainer(resuming: more, backend: CPUBackend(threads: 2))
        let fresh = try #require(throws: TrainingError.self) {
            try Trainer(options: try options(out: out, steps: 2), backend: CPUBackend(threads: 2), replacingEarlierRun: true)
        }
        #expect(String(describing: fresh).contains("in use"), "\(fresh)")
        #expect(throws: TrainingError.self) { try Trainer(resuming: out + "/ckpt_2", backend: CPUBackend(threads: 2)) }
        #expect(Checkpoint.steps(in: out) == [2], "the refused trainers removed nothing")
        // what a save cut short for good leaves behind is removed by the next run that holds the folder
        try FileManager.default.createDirectory(atPath: out + "/.ckpt_7.partial", withIntermediateDirectories: true)
        try Data(count: 1000).write(to: URL(fileURLWithPath: out + "/.ckpt_7.partial/model.bin"))
        try holder.run()
        #expect(Checkpoint.steps(in: out) == [2, 3])
        #expect(!FileManager.default.fileExists(atPath: out + "/.ckpt_7.partial"))
        #expect(try Trainer(resuming: out + "/ckpt_3", backend: CPUBackend(threads: 2)).step == 3)
    }
}
