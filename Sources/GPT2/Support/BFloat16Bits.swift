/// bfloat16 stored as its 16 bits (Swift has no BFloat16 type): the top half of an fp32,
/// rounded to nearest even, NaNs kept quiet.

public struct BFloat16Bits: Sendable, Equatable {
    public var bits: UInt16

    public init(bits: UInt16) { self.bits = bits }

    /// Rounds `value` to the nearest bfloat16 (ties to even).
    public init(rounding value: Float) {
        let u = value.bitPattern
        if value.isNaN {
            bits = UInt16(truncatingIfNeeded: u >> 16) | 0x0040
        } else {
            bits = UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
        }
    }

    /// The exact fp32 value.
    public var float: Float { Float(bitPattern: UInt32(bits) << 16) }
}
