/// Checkpoints from and into whole host arrays, for tests that compare vectors: the library streams them
/// in pieces between the files and a backend's buffers instead.

import GPT2

extension Checkpoint {
    /// Saves a checkpoint whose three vectors are the given arrays.
    public static func save<State: Encodable>(runDirectory: String, step: Int, config: ModelConfig, parameters: [Float],
                                              firstMoment: [Float], secondMoment: [Float], state: State) throws {
        try save(runDirectory: runDirectory, step: step, config: config, state: state) { tensor, range, piece in
            let whole = [CheckpointTensor.parameters: parameters, .firstMoment: firstMoment, .secondMoment: secondMoment][tensor]!
            whole[range].withUnsafeBytes { piece.copyMemory(from: $0) }
        }
    }

    /// Loads a checkpoint with its three vectors as whole arrays.
    public static func load<State: Decodable>(_ folder: String, as: State.Type) throws
        -> (config: ModelConfig, parameters: [Float], firstMoment: [Float], secondMoment: [Float], state: State) {
        let saved = try open(folder, as: State.self)
        var vectors: [CheckpointTensor: [Float]] = [:]
        try saved.restore { tensor, range, piece in
            vectors[tensor, default: []].append(contentsOf: piece.bindMemory(to: Float.self))
            precondition(vectors[tensor]!.count == range.upperBound, "pieces out of order")
        }
        return (saved.config, vectors[.parameters]!, vectors[.firstMoment]!, vectors[.secondMoment]!, saved.state)
    }
}
