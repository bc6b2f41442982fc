/// `gpt2 eval hellaswag`: a model's HellaSwag accuracy (acc by summed ending loss, acc_norm by mean ending loss).

import ArgumentParser
import GPT2

struct HellaSwagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hellaswag",
        abstract: "HellaSwag accuracy of a model (validation set, 10,042 items).",
        discussion: """
            Each item's 4 endings are scored by the model's cross-entropy on the \
            ending tokens given the context (tokens(ctx) + tokens(" " + ending)). \
            acc picks the ending with the lowest summed loss, acc_norm the lowest \
            mean loss, as llm.c and build-nanogpt do. A random model scores ~25%.

            Examples:
              gpt2 eval hellaswag --checkpoint runs/d12
              gpt2 eval hellaswag --checkpoint hf/gpt2 --limit 500 --json
              gpt2 eval hellaswag --checkpoint gpt2.bin --data items.jsonl
            """)

    @Option(help: ArgumentHelp(GPT2Command.checkpointHelp))
    var checkpoint: String

    @Option(help: "A HellaSwag JSONL file (default: the validation set, from the mirror or downloaded once).")
    var data: String?

    @Option(help: "Score only the first N items (0 = all).")
    var limit = 0

    @Option(help: "Rows (item × ending) per forward pass; 4 rows make one item.")
    var batch = 16

    @Flag(help: "Print {\"acc\": …, \"acc_norm\": …, \"examples\": …, \"correct\": …, \"correct_norm\": …} on stdout.")
    var json = false

    @OptionGroup var backendOptions: BackendOptions
    @OptionGroup var dataSource: DataSourceOptions

    func run() throws {
        guard limit >= 0 else { throw ValidationError("--limit must be 0 (all) or positive") }
        try Layout.requireBatchCount(batch, option: "--batch")
        try backendOptions.requireValidThreads()
        // The weights' vocabulary and the items are checked before the device opens (a GPU takes moments, and its
        // kernels' first compile longer): a wrong file fails at once. HellaSwag is fetched only for a GPT-2 vocabulary.
        let source = try ModelSource.resolve(checkpoint)
        try ModelSource.config(source).requireGPT2Vocabulary(of: checkpoint, for: "HellaSwag")
        let examples = try items()
        try score(examples, weights: source, on: try backendOptions.makeBackend())
    }

    private func score<Ops: Backend>(_ examples: [HellaSwagExample], weights source: String, on backend: Ops) throws {
        // (at least 1: items with an empty context and one-token endings have rows of no positions to score)
        let longest = max(1, examples.flatMap { example in example.endings.map { example.context.count + $0.count - 1 } }.max()!)
        // (no more rows at a time than there are: a larger --batch only took memory)
        let rows = min(batch, examples.reduce(0) { $0 + $1.endings.count })
        let model = try ModelSource.loadModel(source) { config in
            try config.requireGPT2Vocabulary(of: checkpoint, for: "HellaSwag")   // (again on the weights that load: the file may have changed)
            let T = min(config.maxSequenceLength, 1024, longest)
            // Planned before allocating, as eval does: a --batch beyond the memory ended in a fatal error.
            try backendOptions.requireInferenceFits(config, batch: rows, seq: T, on: backend,
                                                    work: "scoring \(formatCount(rows, "row")) of up to \(T) tokens at a time",
                                                    option: "--batch", whenNoneFits: "no --batch fits: use a smaller model")
            return try GPT2Model(config: config, backend: backend, batchSize: rows, sequenceLength: T, training: false)
        }
        GPT2Command.logResolved(source, from: checkpoint)
        let score = try HellaSwag.evaluate(model, examples).score
        if json {
            print("{\"acc\": \(score.accuracy), \"acc_norm\": \(score.normalizedAccuracy), \"examples\": \(score.examples), \"correct\": \(score.correct), \"correct_norm\": \(score.correctNormalized)}")
        } else {
            print("hellaswag over \(score.examples) items: acc \(formatFixed(score.accuracy, digits: 4)) (\(score.correct)), acc_norm \(formatFixed(score.normalizedAccuracy, digits: 4)) (\(score.correctNormalized))")
        }
    }

    /// The items to score: `--data`, or the validation set (from the mirror or downloaded), up to `--limit`.
    private func items() throws -> [HellaSwagExample] {
        let path = try data ?? dataSource.downloader.fetch(HellaSwag.validation)
        return try HellaSwag.examples(path: path, limit: limit == 0 ? nil : limit, encode: try dataSource.tokenizer().encode)
    }
}
