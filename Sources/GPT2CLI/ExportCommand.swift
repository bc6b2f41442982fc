/// `gpt2 export`: writes a trained model in another program's format (llm.c model files for now).

import ArgumentParser
import GPT2

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a model's weights to another format.",
        discussion: """
            Examples:
              gpt2 export --checkpoint runs/demo --format llmc --out demo.bin
              gpt2 export --checkpoint runs/demo --format llmc --precision bf16 --out demo_bf16.bin
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case llmc }
    enum Precision: String, ExpressibleByArgument, CaseIterable { case fp32, bf16 }

    @Option(help: "A checkpoint folder, a run folder (its newest checkpoint), or an llm.c model file.")
    var checkpoint: String

    @Option(help: "Output format: llmc (llm.c's GPT-2 model file).")
    var format: Format = .llmc

    @Option(help: "Weight precision in the file: fp32 (version 3) or bf16 (version 5).")
    var precision: Precision = .fp32

    @Option(help: "File to write (written atomically; an existing file is replaced).")
    var out: String

    func run() throws {
        let (config, parameters) = try ModelSource.load(checkpoint)
        try LLMCModelFile.write(path: out, config: config, parameters: parameters,
                                precision: precision == .fp32 ? .float32 : .bfloat16)
        Console.log("wrote \(out) (\(config.parameterCount) parameters, \(precision.rawValue))")
    }
}
