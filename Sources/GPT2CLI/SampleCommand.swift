/// `gpt2 sample`: generates text from a trained model, streaming it as it is produced.

import ArgumentParser
import CPUBackend
import GPT2

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate text from a model (KV-cached, streamed to stdout).",
        discussion: """
            The text is UTF-8: bytes of the generated tokens that form no character (a token can \
            end inside one, and the next need not complete it) are printed as U+FFFD, as tiktoken \
            decodes with errors="replace".

            Examples:
              gpt2 sample --checkpoint runs/demo --prompt "ROMEO:" --tokens 200
              gpt2 sample --checkpoint gpt2_124M.bin --prompt "Hello" \\
                --temperature 0.8 --top-k 40 --seed 7
            """)

    @Option(help: ArgumentHelp(GPT2Command.checkpointHelp))
    var checkpoint: String

    @Option(help: "Text to continue, after <|endoftext|> (a document's start, as in training).")
    var prompt = ""

    @Option(help: "Tokens to generate (past the model's context, it goes on from the last half of the context). An <|endoftext|> generated is printed as such, and the text goes on, as a new document.")
    var tokens = 100

    @Option(help: "Softmax temperature (0 = always the most likely token). (default: 1.0)", transform: FloatOptionValue.parse)
    var temperature: Float = 1

    @Option(help: "Sample among the K most likely tokens (0 = all).")
    var topK = 40

    @Option(help: "Seed for sampling.")
    var seed: UInt64 = 1337

    @OptionGroup var backendOptions: BackendOptions
    @OptionGroup var dataSource: DataSourceOptions

    func run() throws {
        guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1 (got \(tokens))") }
        guard temperature >= 0, temperature.isFinite else {
            throw ValidationError("--temperature must be 0 or a finite positive number (got \(temperature))")
        }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 (all) or positive") }
        try sample(on: try backendOptions.makeBackend())
    }

    private func sample<Ops: Backend>(on backend: Ops) throws {
        // The checkpoint's shape first (a mistyped path fails at once, not after a download of the vocabulary), then the
        // vocabulary (a missing one fails before the weights load): the prompt and the samples are GPT-2 token ids.
        try ModelSource.config(checkpoint).requireGPT2Vocabulary(of: checkpoint, for: "sampling")
        let tokenizer = try dataSource.tokenizer()
        let source = try ModelSource.resolve(checkpoint)
        let model = try ModelSource.loadModel(source) { config -> GPT2Model<Ops> in
            // One sequence of the whole context (its keys and values are the cache) and one row of logits: only the
            // newest position's are ever sampled from. Planned before allocating, as train and eval do.
            let T = config.maxSequenceLength
            let memory = MemoryPlan(config: config, batchSize: 1, sequenceLength: T, recompute: false,
                                    device: try backendOptions.planDevice(backend), classifierChunkRows: 1, training: false)
            guard memory.fits else {
                throw ConfigError("sampling from this model (a context of \(T) tokens) \(memory.verdict)"
                                  + (backend is CPUBackend ? "" : "; sample on the CPU with --device cpu"))
            }
            return try GPT2Model(config: config, backend: backend, batchSize: 1, sequenceLength: T, training: false, classifierChunkRows: 1)
        }
        GPT2Command.logResolved(source, from: checkpoint)
        let promptTokens = [GPT2Tokenizer.endOfText] + tokenizer.encode(prompt)
        let context = model.config.maxSequenceLength
        if promptTokens.count > context {   // (the whole prompt is printed; the model reads only its end)
            Console.log("note: the prompt is \(formatCount(promptTokens.count - 1, "token")), and with the <|endoftext|> before it "
                        + "\(promptTokens.count), more than the model's context of \(context): the model reads only the last \(context)")
        }
        var random = SeededRandom(seed: seed)
        // Streamed as generated; a write that fails (a full disk, a closed stdout) ends the command with its error
        // rather than exit status 0 and a sample cut short.
        try ByteFile.writeAll(Array(prompt.utf8), to: 1)
        var failure: ByteFileError?
        var text = UTF8Stream()   // (a token can end inside a character, and the next one need not complete it)
        _ = try model.generate(prompt: promptTokens, count: tokens, options: SamplingOptions(temperature: temperature, topK: topK),
                               random: &random, onToken: { token in
            let bytes = text.text(appending: (try? tokenizer.decode([token])) ?? [])
            do throws(ByteFileError) { try ByteFile.writeAll(bytes, to: 1) } catch { failure = error }
        }, until: { failure != nil })   // (no more tokens for an output that takes none)
        if let failure { throw failure }
        try ByteFile.writeAll(text.finish() + Array("\n".utf8), to: 1)
    }
}
