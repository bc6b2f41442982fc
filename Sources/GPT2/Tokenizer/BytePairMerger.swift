/// Byte-level BPE on one piece: start from its bytes' tokens and repeatedly merge the adjacent pair whose
/// concatenation is the lowest-ranked token (leftmost on ties), as tiktoken does; ranks are token ids.

/// Token-pair → merged-token map: (a, b) ↦ the id of bytes(a)+bytes(b), for every split of every token into
/// two tokens. That equals tiktoken's rank lookup of the concatenated bytes, without touching bytes.
struct PairRankTable: Sendable {
    private var keys: [UInt64]   // a << 32 | b, or `empty`
    private var merged: [Int32]
    private let mask: Int
    private static let empty = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: Self.empty, count: size)
        merged = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    /// The token that `a` followed by `b` merges into, or `Int32.max` when they do not merge.
    @inline(__always)
    func rank(_ a: Int32, _ b: Int32) -> Int32 {
        let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        var slot = Self.slot(key, mask)
        while true {
            let stored = keys[slot]
            if stored == key { return merged[slot] }
            if stored == Self.empty { return Int32.max }
            slot = (slot + 1) & mask
        }
    }

    mutating func insert(_ a: Int32, _ b: Int32, merged token: Int32) {
        let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        var slot = Self.slot(key, mask)
        while keys[slot] != Self.empty && keys[slot] != key { slot = (slot + 1) & mask }
        keys[slot] = key
        merged[slot] = token
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        let mixed = key &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: mixed >> 32) & mask
    }
}

/// Scratch arrays for merging, reused across pieces by one worker.
struct BytePairMerger {
    private var parts: [Int32] = []
    private var ranks: [Int32] = []   // ranks[i] = rank of (parts[i], parts[i+1])

    /// Appends the tokens of `piece` to `output`; `byteTokens[b]` is the token of the single byte `b`.
    mutating func merge(
        _ piece: UnsafeBufferPointer<UInt8>, byteTokens: [Int32], pairs: PairRankTable, into output: inout [Int]
    ) {
        parts.removeAll(keepingCapacity: true)
        ranks.removeAll(keepingCapacity: true)
        for byte in piece { parts.append(byteTokens[Int(byte)]) }
        for i in 0..<(parts.count - 1) { ranks.append(pairs.rank(parts[i], parts[i + 1])) }
        ranks.append(Int32.max)
        var count = parts.count
        parts.withUnsafeMutableBufferPointer { parts in
            ranks.withUnsafeMutableBufferPointer { ranks in
                while count > 1 {
                    var best = 0
                    var bestRank = ranks[0]
                    for i in 1..<(count - 1) where ranks[i] < bestRank {
                        best = i
                        bestRank = ranks[i]
                    }
                    if bestRank == Int32.max { break }
                    parts[best] = bestRank
                    for i in (best + 1)..<(count - 1) {
                        parts[i] = parts[i + 1]
                        ranks[i] = ranks[i + 1]
                    }
                    count -= 1
                    ranks[count - 1] = Int32.max
                    if best + 1 < count { ranks[best] = pairs.rank(parts[best], parts[best + 1]) }
                    if best > 0 { ranks[best - 1] = pairs.rank(parts[best - 1], parts[best]) }
                }
            }
        }
        for i in 0..<count { output.append(Int(parts[i])) }
    }
}
