/// An open-addressing hash map from short byte strings to `Int32` values that owns its keys in one flat
/// buffer: looking up a slice of input text allocates nothing (the vocabulary index and the per-worker cache).

struct ByteStringTable: Sendable {
    private struct Entry {
        var keyStart: UInt32
        var keyLength: UInt32
        var value: Int32
    }

    private var slots: [UInt64]         // 0 when empty, else hash tag << 32 | (entry index + 1)
    private var entries: [Entry] = []
    private var keyBytes: [UInt8] = []

    /// A table sized for about `capacity` entries before it gets slow (it never grows by itself).
    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [UInt64](repeating: 0, count: size)
    }

    /// Whether another insertion keeps the load factor at or under one half.
    var hasRoom: Bool { (entries.count + 1) * 2 <= slots.count }

    /// The value stored for `key`, or nil.
    @inline(__always)
    func value(for key: UnsafeBufferPointer<UInt8>) -> Int32? {
        guard let entry = find(key).entry else { return nil }
        return entries[entry].value
    }

    /// Stores `value` for `key`, replacing an earlier value. The caller keeps `hasRoom` true.
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, value: Int32) {
        let (slot, existing) = find(key)
        if let existing {
            entries[existing].value = value
            return
        }
        slots[slot] = Self.tag(Self.hash(key)) << 32 | UInt64(entries.count + 1)
        entries.append(Entry(keyStart: UInt32(keyBytes.count), keyLength: UInt32(key.count), value: value))
        keyBytes.append(contentsOf: key)
    }

    /// Forgets every entry, keeping the allocated memory.
    mutating func removeAll() {
        for i in slots.indices { slots[i] = 0 }
        entries.removeAll(keepingCapacity: true)
        keyBytes.removeAll(keepingCapacity: true)
    }

    /// The slot holding `key` and its entry index, or the empty slot where it would go and nil.
    @inline(__always)
    private func find(_ key: UnsafeBufferPointer<UInt8>) -> (slot: Int, entry: Int?) {
        let hash = Self.hash(key)
        let tag = Self.tag(hash)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let stored = slots[slot]
            if stored == 0 { return (slot, nil) }
            if stored >> 32 == tag {
                let entry = Int(truncatingIfNeeded: stored & 0xFFFF_FFFF) - 1
                if keyEquals(entries[entry], key) { return (slot, entry) }
            }
            slot = (slot + 1) & mask
        }
    }

    @inline(__always)
    private func keyEquals(_ entry: Entry, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        guard Int(entry.keyLength) == key.count else { return false }
        let start = Int(entry.keyStart)
        for i in 0..<key.count where keyBytes[start + i] != key[i] { return false }
        return true
    }

    @inline(__always)
    private static func tag(_ hash: UInt64) -> UInt64 { hash >> 32 }

    /// FNV-1a over the bytes, then a multiply-xorshift finaliser so both halves are well mixed.
    @inline(__always)
    private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        h ^= h >> 29
        h = h &* 0xbf58_476d_1ce4_e5b9
        return h ^ (h >> 32)
    }
}
