/// A model whose output is not a number (NaN or infinite logits or losses): its weights are damaged, or were saved by
/// a run that diverged. Sampling from it or scoring with it compares NaNs, which picks a token or an ending whatever
/// the model says, so it is refused rather than reported as a result.
public struct NonFiniteOutputError: Error, CustomStringConvertible {
    /// Where the output was not finite: "the logits for generated token 3".
    public let place: String

    public init(_ place: String) { self.place = place }

    public var description: String {
        "the model's output is not finite (NaN or infinity) in \(place): its weights are damaged, or come from a run that diverged"
    }
}
