/// An open-addressing hash map from short byte strings to `Int32` values that owns its keys in one flat
/// buffer: looking up a slice of input text allocates nothing (the vocabulary index and the per-worker cache).

struct ByteStringTable: Sendable {
    private var slots: [Int32]          // entry index, or -1 when empty
    private var slotHashes: [UInt32]    // low hash bits of the entry in the slot, to skip most key compares
    private var keyBytes: [UInt8] = []
    private var keyEnds: [Int32] = [0]  // entry i's key is keyBytes[keyEnds[i]..<keyEnds[i+1]]
    private var values: [Int32] = []

    /// A table sized for about `capacity` entries before it gets slow (it never grows by itself).
    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        slotHashes = [UInt32](repeating: 0, count: size)
    }

    var count: Int { values.count }
    var storedKeyBytes: Int { keyBytes.count }
    /// Whether another insertion keeps the load factor at or under one half.
    var hasRoom: Bool { (values.count + 1) * 2 <= slots.count }

    /// The value stored for `key`, or nil.
    func value(for key: UnsafeBufferPointer<UInt8>) -> Int32? {
        let hash = Self.hash(key)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = slots[slot]
            if entry < 0 { return nil }
            if slotHashes[slot] == UInt32(truncatingIfNeeded: hash >> 32), keyEquals(Int(entry), key) {
                return values[Int(entry)]
            }
            slot = (slot + 1) & mask
        }
    }

    /// Stores `value` for `key`, replacing an earlier value. The caller keeps `hasRoom` true.
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, value: Int32) {
        let hash = Self.hash(key)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] >= 0 {
            let entry = Int(slots[slot])
            if slotHashes[slot] == UInt32(truncatingIfNeeded: hash >> 32), keyEquals(entry, key) {
                values[entry] = value
                return
            }
            slot = (slot + 1) & mask
        }
        slots[slot] = Int32(values.count)
        slotHashes[slot] = UInt32(truncatingIfNeeded: hash >> 32)
        keyBytes.append(contentsOf: key)
        keyEnds.append(Int32(keyBytes.count))
        values.append(value)
    }

    /// Forgets every entry, keeping the allocated memory.
    mutating func removeAll() {
        for i in slots.indices { slots[i] = -1 }
        keyBytes.removeAll(keepingCapacity: true)
        keyEnds.removeAll(keepingCapacity: true)
        keyEnds.append(0)
        values.removeAll(keepingCapacity: true)
    }

    private func keyEquals(_ entry: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = Int(keyEnds[entry])
        guard Int(keyEnds[entry + 1]) - start == key.count else { return false }
        for i in 0..<key.count where keyBytes[start + i] != key[i] { return false }
        return true
    }

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
