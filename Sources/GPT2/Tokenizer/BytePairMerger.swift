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

/// Scratch arrays for merging, reused across pieces by one worker. Short pieces rescan for the best pair
/// (fast when small); long ones (a base64 blob, a page of CJK) keep a heap so they stay O(n log n).
struct BytePairMerger {
    private var parts: [Int32] = []
    private var ranks: [Int32] = []   // ranks[i] = rank of (parts[i], parts[i+1])
    private var next: [Int32] = []    // long pieces: linked list over byte positions
    private var previous: [Int32] = []
    private var heap = MinHeap()
    private static let longPiece = 128

    /// Appends the tokens of `piece` to `output`; `byteTokens[b]` is the token of the single byte `b`.
    mutating func merge(
        _ piece: UnsafeBufferPointer<UInt8>, byteTokens: [Int32], pairs: PairRankTable, into output: inout [Int]
    ) {
        if piece.count > Self.longPiece {
            mergeLong(piece, byteTokens: byteTokens, pairs: pairs, into: &output)
            return
        }
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

    /// The same merges as `merge`, in the same order: the heap pops the lowest (rank, position) key, and a
    /// popped key is acted on only if that position still starts a pair of that rank (stale keys are skipped).
    private mutating func mergeLong(
        _ piece: UnsafeBufferPointer<UInt8>, byteTokens: [Int32], pairs: PairRankTable, into output: inout [Int]
    ) {
        let n = piece.count
        parts = piece.map { byteTokens[Int($0)] }
        next = (0..<n).map { Int32($0 + 1) }         // n: no next part
        previous = (0..<n).map { Int32($0 - 1) }     // -1: no previous part
        ranks = [Int32](repeating: Int32.max, count: n)
        heap.removeAll()
        for i in 0..<(n - 1) {
            ranks[i] = pairs.rank(parts[i], parts[i + 1])
            if ranks[i] != Int32.max { heap.push(rank: ranks[i], position: i) }
        }
        while let (rank, i) = heap.pop() {
            guard ranks[i] == rank else { continue }   // stale: the pair at i changed or i was merged away
            let j = Int(next[i])
            parts[i] = rank
            ranks[j] = Int32.max
            next[i] = next[j]
            if next[j] < n { previous[Int(next[j])] = Int32(i) }
            ranks[i] = next[i] < n ? pairs.rank(parts[i], parts[Int(next[i])]) : Int32.max
            if ranks[i] != Int32.max { heap.push(rank: ranks[i], position: i) }
            let p = Int(previous[i])
            if p >= 0 {
                ranks[p] = pairs.rank(parts[p], parts[i])
                if ranks[p] != Int32.max { heap.push(rank: ranks[p], position: p) }
            }
        }
        var i = 0
        while i < n {
            output.append(Int(parts[i]))
            i = Int(next[i])
        }
    }
}

/// A binary min-heap of (rank, position) keys packed into one `UInt64` (rank in the high half, so ties on
/// rank go to the leftmost position).
private struct MinHeap {
    private var keys: [UInt64] = []

    mutating func removeAll() { keys.removeAll(keepingCapacity: true) }

    mutating func push(rank: Int32, position: Int) {
        keys.append(UInt64(UInt32(rank)) << 32 | UInt64(position))
        var child = keys.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if keys[parent] <= keys[child] { break }
            keys.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> (rank: Int32, position: Int)? {
        guard let top = keys.first else { return nil }
        let last = keys.removeLast()
        if !keys.isEmpty {
            keys[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < keys.count && keys[left] < keys[smallest] { smallest = left }
                if right < keys.count && keys[right] < keys[smallest] { smallest = right }
                if smallest == parent { break }
                keys.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return (Int32(truncatingIfNeeded: top >> 32), Int(truncatingIfNeeded: top & 0xFFFF_FFFF))
    }
}
