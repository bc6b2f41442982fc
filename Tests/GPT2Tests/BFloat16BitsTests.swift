/// `BFloat16Bits(rounding:)`: the top 16 bits of an fp32, rounded to nearest with ties to even (IEEE 754's default),
/// NaNs kept NaN (quieted), and every bfloat16 value widened and rounded back to itself.

import GPT2
import Testing

@Suite struct BFloat16BitsTests {
    private func rounded(_ bits: UInt32) -> UInt16 { BFloat16Bits(rounding: Float(bitPattern: bits)).bits }

    /// bfloat16 keeps 7 fraction bits: next to 1.0 (0x3F80) lie 1 + 2⁻⁷ (0x3F81) and 1 + 2⁻⁶ (0x3F82); the fp32 bits
    /// below them decide. Halfway (low half exactly 0x8000) goes to the even neighbour: 1 + 2⁻⁸ (0x3F80_8000) down to
    /// 0x3F80, 1 + 3·2⁻⁸ (0x3F81_8000) up to 0x3F82. One ulp of fp32 off halfway goes to the nearer one.
    @Test func roundsToNearestWithTiesToEven() {
        #expect(rounded(0x3F80_0000) == 0x3F80)   // 1.0 exactly
        #expect(rounded(0x3F80_8000) == 0x3F80)   // tie, 0x3F80 even
        #expect(rounded(0x3F81_8000) == 0x3F82)   // tie, 0x3F82 even
        #expect(rounded(0x3F80_7FFF) == 0x3F80)   // just below halfway
        #expect(rounded(0x3F80_8001) == 0x3F81)   // just above halfway
        #expect(rounded(0xBF80_8000) == 0xBF80)   // −(1 + 2⁻⁸): the sign does not change the tie
        #expect(rounded(0x7F80_0000) == 0x7F80 && rounded(0xFF80_0000) == 0xFF80)   // ±∞ stay
        #expect(rounded(0x7F7F_FFFF) == 0x7F80)   // the largest fp32 is past bfloat16's largest finite: ∞, as IEEE rounds
    }

    /// A NaN stays a NaN of its sign, even one whose payload lies only in the 16 bits that are dropped (0x7F80_0001,
    /// which truncation alone turns into ∞), or whose rounding would carry into the sign (0x7FFF_FFFF).
    @Test(arguments: [0x7F80_0001, 0x7FC0_0000, 0x7FFF_FFFF, 0xFF80_0001, 0xFFFF_FFFF] as [UInt32])
    func aNaNStaysANaN(_ bits: UInt32) {
        let half = BFloat16Bits(rounding: Float(bitPattern: bits))
        #expect(half.float.isNaN, "0x\(String(bits, radix: 16)) became 0x\(String(half.bits, radix: 16))")
        #expect(half.bits >> 15 == UInt16(bits >> 31), "the sign")
    }

    /// Every bfloat16 that is no NaN widens exactly (its bits are the fp32's top half) and rounds back to itself.
    @Test func everyBFloat16RoundTrips() {
        for bits in UInt16.min...UInt16.max where !BFloat16Bits(bits: bits).float.isNaN {
            let widened = BFloat16Bits(bits: bits).float
            #expect(widened.bitPattern == UInt32(bits) << 16)
            if BFloat16Bits(rounding: widened).bits != bits { Issue.record("0x\(String(bits, radix: 16)) came back changed"); return }
        }
    }
}
