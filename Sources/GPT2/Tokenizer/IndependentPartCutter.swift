/// Cuts a text that arrives in chunks into parts that encode independently (`GPT2Tokenizer.isIndependentCut`), each
/// part as soon as the cut after it is seen, so that a long text is encoded a part at a time in bounded memory.

/// Holds the text since the last cut: a chunk plus, for a text that goes long without a cut, all of that stretch (a text
/// without cuts is held whole). Each byte is searched for a cut once, however long the text goes without one.
public struct IndependentPartCutter {
    /// The least length of a part (but the last): after a cut the next `partBytes - 1` bytes are not searched.
    let partBytes: Int
    private var held: [UInt8] = []
    /// Where the search for the next cut resumes in `held`.
    private var searchFrom: Int
    /// The most bytes held at once so far.
    private(set) var peakHeldBytes = 0

    init(partBytes: Int) {
        self.partBytes = max(1, partBytes)
        searchFrom = self.partBytes
    }

    /// The part length that gives each of `workers` threads four parts of a chunk of `chunkBytes` (a chunk is eight
    /// parts at least, as for one or two threads), but no less than 64 KiB where the eighth of a chunk is more. The
    /// tokenizer hands a batch's parts to its threads whole, so with eighths every thread beyond the eighth sat idle.
    public static func partBytes(chunkBytes: Int, workers: Int) -> Int {
        max(min(64 << 10, chunkBytes / 8), chunkBytes / max(8, 4 * min(workers, chunkBytes)), 1)
    }

    /// Appends `chunk` to the held text and calls `body` with each part that a cut now ends, in text order; the text
    /// after the last cut stays held for the next chunk.
    mutating func append<E: Error>(_ chunk: UnsafeBufferPointer<UInt8>, _ body: (ArraySlice<UInt8>) throws(E) -> Void) throws(E) {
        held.append(contentsOf: chunk)
        peakHeldBytes = max(peakHeldBytes, held.count)
        // Cuts among the bytes not searched yet; what follows the last one waits for the next chunk.
        var cuts = [0], index = searchFrom
        held.withUnsafeBufferPointer { text in
            while index < text.count {
                if GPT2Tokenizer.isIndependentCut(in: text, at: index) {
                    cuts.append(index)
                    index += partBytes
                } else {
                    index += 1
                }
            }
        }
        for (start, end) in zip(cuts, cuts.dropFirst()) { try body(held[start..<end]) }
        let kept = cuts[cuts.count - 1]
        held.removeFirst(kept)
        searchFrom = index - kept
    }

    /// The text after the last cut (empty only when nothing was appended), which ends the text; the cutter is then empty.
    mutating func finish() -> [UInt8] {
        defer { held = []; searchFrom = partBytes }
        return held
    }
}
