/// SHA-256 against the FIPS 180-4 / NIST example vectors, and streaming in arbitrary pieces against hashing
/// in one call.

import Testing
import Foundation
import GPT2TestSupport
@testable import GPT2

@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func digestMatchesNISTVector(message: String, expected: String) {
        #expect(SHA256.hexDigest(of: Array(message.utf8)) == expected)
    }

    @Test func millionAsMatchesNISTVector() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hexDigest(of: message) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingInPiecesEqualsOneShot() {
        var random = SeededRandom(seed: 7)
        let message = (0..<1000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let whole = SHA256.hexDigest(of: message)
        for pieceSize in [1, 3, 63, 64, 65, 200] {
            var hasher = SHA256()
            var offset = 0
            while offset < message.count {
                let end = min(offset + pieceSize, message.count)
                hasher.update(message[offset..<end])
                offset = end
            }
            #expect(hasher.finalizeHex() == whole, "piece size \(pieceSize)")
        }
    }

    @Test func fileDigestEqualsInMemoryDigest() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bytes = (0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let path = directory.appendingPathComponent("blob").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(SHA256.hexDigest(ofFile: path) == SHA256.hexDigest(of: bytes))
        #expect(SHA256.hexDigest(ofFile: path + ".missing") == nil)
    }
}
