/// XXH64 against values from the reference C library (python-xxhash 4.1.0, libxxhash 0.8.4), for every tail
/// length path (fewer than 32 bytes, whole stripes, stripes plus 8-, 4- and 1-byte tails), and streaming in
/// arbitrary pieces against hashing in one call.

import Testing
import GPT2TestSupport
@testable import GPT2

@Suite struct XXHash64Tests {
    /// Byte i of the test messages.
    private static func message(count: Int) -> [UInt8] { (0..<count).map { UInt8((($0 * 31) + 7) % 256) } }

    @Test(arguments: [
        (0, 0xef46_db37_51d8_e999 as UInt64), (1, 0xa96c_7f0c_e858_bbb7), (3, 0x56e6_9576_32a4_87f9),
        (4, 0xc60d_15b1_e3ff_8f04), (5, 0x8088_1585_8624_dd4e), (8, 0x3da5_c7aa_2696_83e0),
        (12, 0x8fe8_ab1c_1fd0_666e), (31, 0x4a74_f3a1_a39a_d4a1), (32, 0x8d57_d6a4_671c_c43d),
        (33, 0x62c9_fd21_ed85_7664), (63, 0x5c32_0a0d_2707_057f), (64, 0x7bba_bbc4_5729_d17e),
        (100, 0xefa0_ad2d_3e70_c151), (1000, 0x9959_4f48_2804_3d35),
    ])
    func digestMatchesReferenceLibrary(count: Int, expected: UInt64) {
        #expect(XXHash64.digest(of: Self.message(count: count)) == expected)
    }

    @Test func digestOfABCMatchesReferenceLibrary() {
        #expect(XXHash64.hex(XXHash64.digest(of: Array("abc".utf8))) == "44bc2cf5ad770999")
    }

    @Test func hexKeepsLeadingZeros() {
        #expect(XXHash64.hex(0xab) == "00000000000000ab")
    }

    @Test func streamingInPiecesEqualsOneShot() {
        let message = Self.message(count: 1000)
        let whole = XXHash64.digest(of: message)
        for pieceSize in [1, 5, 31, 32, 33, 200] {
            var hasher = XXHash64()
            for start in stride(from: 0, to: message.count, by: pieceSize) {
                hasher.update(Array(message[start..<min(start + pieceSize, message.count)]))
            }
            #expect(hasher.digest == whole, "piece size \(pieceSize)")
        }
    }

    @Test func digestCanBeReadPartWay() {
        var hasher = XXHash64()
        hasher.update(Self.message(count: 40))
        #expect(hasher.digest == XXHash64.digest(of: Self.message(count: 40)))
        hasher.update(Array(Self.message(count: 100)[40...]))
        #expect(hasher.digest == XXHash64.digest(of: Self.message(count: 100)))
    }
}
