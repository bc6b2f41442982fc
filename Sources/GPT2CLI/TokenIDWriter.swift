/// Token ids written to standard output batch by batch as they are encoded, one per line or as one JSON array: the
/// same bytes whatever the batches, as if all the ids were formatted at once.

import GPT2

struct TokenIDWriter {
    /// One JSON array, "[id,id,…]\n" ("[]\n" for no ids), instead of "id\n" for each id.
    let json: Bool
    /// Ids written so far.
    private(set) var count = 0

    init(json: Bool) { self.json = json }

    /// Writes `ids`, the next ones after those written before.
    mutating func write(_ ids: [Int]) throws {
        guard !ids.isEmpty else { return }
        if json {
            // "[" or "," before the first of them; the comma after the last is left for the next batch to write
            try ByteFile.writeAll([UInt8(ascii: count == 0 ? "[" : ",")], to: 1)
            var elements = TokenIDList.decimals(ids, terminatedBy: UInt8(ascii: ","))
            elements.removeLast()
            try ByteFile.writeAll(elements, to: 1)
        } else {
            try ByteFile.writeAll(TokenIDList.decimals(ids, terminatedBy: UInt8(ascii: "\n")), to: 1)
        }
        count += ids.count
    }

    /// Ends the output once all ids are written: the JSON array's "]\n" (or the whole "[]\n").
    func finish() throws {
        if json { try ByteFile.writeAll(Array((count == 0 ? "[]\n" : "]\n").utf8), to: 1) }
    }
}
