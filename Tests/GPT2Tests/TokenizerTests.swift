/// The tokenizer's specification in small cases: ids checked against tiktoken, round trips, UTF-8 and
/// token-id errors, and clear errors for missing or corrupt vocabulary files.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite("Tokenizer")
struct TokenizerTests {
    /// Expected ids are literal: each was produced by tiktoken's `gpt2` encoding (`encode_ordinary`, built by
    /// scripts/tiktoken_gpt2.py), the independent reference, not by this code.
    static let tiktokenCases: [(String, [Int])] = [
        ("Hello world", [15496, 995]),
        // assigned in Unicode 17 (U+088F, U+323B0), which tiktoken 0.14 does not know: not letters, so the "'" joins
        // them; a Unicode 16 letter (U+10D50) is one, so "'s" stands alone
        ("\u{088F}'s", [156, 95, 237, 6, 82]),
        ("\u{323B0}'s", [172, 110, 236, 108, 6, 82]),
        ("\u{10D50}'s1", [172, 238, 113, 238, 338, 16]),
        ("Hello world's  \n\n   I'LL don't", [15496, 995, 338, 220, 220, 628, 220, 220, 314, 6, 3069, 836, 470]),
        ("<|endoftext|>", [27, 91, 437, 1659, 5239, 91, 29]),
        ("  leading and trailing  ", [220, 3756, 290, 25462, 220, 220]),
        ("a\u{a0}b\u{3000}c\u{2028}d", [64, 1849, 65, 5099, 222, 66, 447, 101, 67]),
        ("𝟘𝟙 ½ ① 日本語 😀👩‍👩‍👧", [
            47728, 253, 246, 47728, 253, 247, 25208, 2343, 239, 254, 10545, 245, 98, 17312, 105, 45739, 252,
            30325, 222, 41840, 102, 447, 235, 41840, 102, 447, 235, 41840, 100,
        ]),
        ("'s'S'll'LL'''s", [338, 6, 50, 1183, 6, 3069, 7061, 6, 82]),
        ("\r\n\tx  \n", [201, 198, 197, 87, 220, 220, 198]),
        ("1234567890 12345", [10163, 2231, 30924, 3829, 17031, 2231]),
        ("ﬁ ǅ naïve", [171, 105, 223, 220, 131, 227, 41492]),
        ("", []),
    ]

    @Test(arguments: tiktokenCases.indices)
    func encodeMatchesTiktoken(case index: Int) throws {
        let (text, expected) = Self.tiktokenCases[index]
        let tokenizer = try TokenizerFixture.tokenizer()
        #expect(tokenizer.encode(text) == expected)
        #expect(try Array(text.utf8).withUnsafeBufferPointer { try tokenizer.encode(utf8: $0) } == expected)
        #expect(try tokenizer.decode(expected) == Array(text.utf8))
    }

    /// The classes follow Unicode 16, tiktoken's: the Swift runtime's tables must know it (Swift 6.1 or later).
    @Test func theRuntimeKnowsUnicode16() throws {
        let age = try #require(Unicode.Scalar(0x10D50)!.properties.age, "U+10D50 (GARAY CAPITAL LETTER A) is unassigned here")
        #expect(age.major == 16 && age.minor == 0)
    }

    @Test func endOfTextIsOrdinaryTextAndItsIdDecodesToItsText() throws {
        let tokenizer = try TokenizerFixture.tokenizer()
        #expect(!tokenizer.encode("a<|endoftext|>b").contains(GPT2Tokenizer.endOfText))
        #expect(try tokenizer.decode([GPT2Tokenizer.endOfText]) == Array("<|endoftext|>".utf8))
    }

    @Test func decodeRejectsIdsOutsideTheVocabulary() throws {
        let tokenizer = try TokenizerFixture.tokenizer()
        for id in [-1, GPT2Tokenizer.vocabularySize, Int.max] {
            #expect(throws: TokenizerError.tokenOutOfRange(id: id)) { try tokenizer.decode([15496, id]) }
        }
    }

    @Test(arguments: [
        ([0x61, 0x62, 0xFF, 0x63], 2),          // a byte that never appears in UTF-8
        ([0x61, 0x80], 1),                      // a lone continuation byte
        ([0xC0, 0x80], 0),                      // an overlong encoding of U+0000
        ([0x61, 0xED, 0xA0, 0x80], 1),          // an encoded surrogate
        ([0xF4, 0x90, 0x80, 0x80], 0),          // above U+10FFFF
        ([0x61, 0x62, 0x63, 0xE6, 0x97], 3),    // cut off at the end
    ] as [([UInt8], Int)])
    func invalidUTF8NamesTheFirstBadByte(bytes: [UInt8], offset: Int) throws {
        let tokenizer = try TokenizerFixture.tokenizer()
        #expect(throws: TokenizerError.invalidUTF8(offset: offset)) {
            try bytes.withUnsafeBufferPointer { try tokenizer.encode(utf8: $0) }
        }
    }

    @Test func utf8ValidationAgreesWithTheStandardLibrary() throws {
        // seeded, so that a failure names inputs that reproduce it
        var generator = SeededRandom(seed: 20_240_517)
        let interesting: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 1...6, using: &generator)).map { _ in
                Bool.random(using: &generator) ? interesting.randomElement(using: &generator)! : UInt8.random(in: 0x80...0xBF, using: &generator)
            }
            let valid = bytes.withUnsafeBufferPointer { (try? GPT2Tokenizer.validateUTF8($0)) != nil }
            #expect(valid == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
        }
    }

    @Test func roundTripsArbitraryText() throws {
        let tokenizer = try TokenizerFixture.tokenizer()
        var generator = SeededRandom(seed: 20_240_518)
        for _ in 0..<200 {
            let scalars = (0..<Int.random(in: 0...50, using: &generator)).compactMap { _ in
                Unicode.Scalar(UInt32.random(in: Bool.random(using: &generator) ? 0...0x7F : 0...0x10FFFF, using: &generator))
            }
            let text = String(String.UnicodeScalarView(scalars))
            #expect(try tokenizer.decode(tokenizer.encode(text)) == Array(text.utf8))
        }
    }

    /// Each encode keeps a cache of the pieces it merged, emptied when its table is half full (32,768 pieces).
    /// 70,000 distinct pieces fill it twice over, and more than its 65,536 slots: the ids must be those of the
    /// same text encoded in calls of 10,000 pieces, each of which never empties its cache.
    @Test func manyDistinctPiecesOutgrowTheMergeCache() throws {
        let tokenizer = try TokenizerFixture.tokenizer()
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        let pieces = (0..<70_000).map { index in
            var word = " zq"   // rare enough that every piece takes several tokens, so each one is merged and cached
            var rest = index &* 7919 % 70_001
            for _ in 0..<4 { word.append(letters[rest % 26]); rest /= 26 }
            return word + String(index, radix: 26).map { letters[Int(String($0), radix: 26)!] }
        }
        #expect(Set(pieces).count == pieces.count)
        var inSmallCalls: [Int] = []
        for start in stride(from: 0, to: pieces.count, by: 10_000) {
            inSmallCalls += tokenizer.encode(pieces[start..<(start + 10_000)].joined())
        }
        #expect(inSmallCalls.count > 3 * pieces.count)
        #expect(tokenizer.encode(pieces.joined()) == inSmallCalls)
        // and the cached pieces are found again after the cache was emptied
        #expect(tokenizer.encode(pieces.joined() + pieces.joined()) == inSmallCalls + inSmallCalls)
    }

    @Test func missingFilesAreNamed() throws {
        let directory = try TestPaths.temporaryDirectory("tokenizer-missing")
        defer { try? FileManager.default.removeItem(at: directory) }
        let error = #expect(throws: TokenizerError.self) { try GPT2Tokenizer(directory: directory.path) }
        #expect(error?.description.contains(directory.appendingPathComponent("encoder.json").path) == true)
    }

    @Test(arguments: ["truncated", "wrongIds", "notJSON"])
    func corruptEncoderIsReported(kind: String) throws {
        let directory = try TestPaths.temporaryDirectory("tokenizer-corrupt")
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = try Data(contentsOf: URL(fileURLWithPath: TokenizerFixture.vocabularyDirectory + "/encoder.json"))
        let corrupt: Data
        switch kind {
        case "truncated": corrupt = original.prefix(original.count / 2)
        case "wrongIds": corrupt = Data(#"{"a": 0, "b": 0}"#.utf8)
        default: corrupt = Data("<html>404</html>".utf8)
        }
        try corrupt.write(to: directory.appendingPathComponent("encoder.json"))
        try FileManager.default.copyItem(
            atPath: TokenizerFixture.vocabularyDirectory + "/vocab.bpe", toPath: directory.appendingPathComponent("vocab.bpe").path)
        let error = #expect(throws: TokenizerError.self) { try GPT2Tokenizer(directory: directory.path) }
        guard case .corruptFile(let path, _) = error else {
            Issue.record("expected corruptFile, got \(String(describing: error))")
            return
        }
        #expect(path.hasSuffix("encoder.json"))
    }

    @Test func mergesThatDoNotMatchTheEncoderAreReported() throws {
        let directory = try TestPaths.temporaryDirectory("tokenizer-merges")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(
            atPath: TokenizerFixture.vocabularyDirectory + "/encoder.json",
            toPath: directory.appendingPathComponent("encoder.json").path)
        try Data("#version: 0.2\nĠ t\nzzzz qqqq\n".utf8).write(to: directory.appendingPathComponent("vocab.bpe"))
        let error = #expect(throws: TokenizerError.self) { try GPT2Tokenizer(directory: directory.path) }
        #expect(error?.description.contains("line 3") == true)
        #expect(error?.description.contains("vocab.bpe") == true)
    }
}
