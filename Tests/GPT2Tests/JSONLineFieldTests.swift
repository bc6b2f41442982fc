/// The JSONL document reader against RFC 8259 (cases written from its grammar) and against Python's json module on
/// thousands of mutated lines: the same verdict, and the same decoded document.

import Testing
import Foundation
import GPT2TestSupport
@testable import GPT2

struct JSONLineFieldTests {
    private func value(_ line: String, field: String = "text") -> JSONLineField.Value {
        var reader = JSONLineField(named: field)
        return Array(line.utf8).withUnsafeBufferPointer { reader.value(in: $0) }
    }

    @Test(arguments: [
        // (line, expected document)
        (#"{"text": "plain"}"#, "plain"),
        ("  {\"text\":\"a\"}\t\r", "a"),
        (#"{"id": 1, "text": "second", "meta": {"text": 5, "list": [1, -2.5e+3, true, false, null, {}, []]}}"#, "second"),
        (#"{"text": "q\" b\\ s\/ \b\f\n\r\t"}"#, "q\" b\\ s/ \u{08}\u{0C}\n\r\t"),
        (#"{"text": "\u0041\u00e9\u20AC \ud83d\ude00 \u0000"}"#, "A\u{E9}\u{20AC} \u{1F600} \u{0}"),
        (#"{"te\u0078t": "escaped key"}"#, "escaped key"),
        (#"{"text": "first", "text": "last"}"#, "last"),      // a key given twice counts at its last value (Python's json)
        (#"{"text": "ünïcödé 中文 🙂"}"#, "ünïcödé 中文 🙂"),
        ("\u{FEFF}{\"text\": \"after a byte-order mark\"}", "after a byte-order mark"),
        (#"{"a": [[[[{"b": [0, -0, 0.5, 1E5, 1e-5, -12.25E+10]}]]]], "text": ""}"#, ""),
        (#"{"n": NaN, "m": [-Infinity, Infinity], "text": "Python's floats"}"#, "Python's floats"),
        (#"{"url": "\udc00", "\ud800": 1, "text": "a lone surrogate elsewhere is left alone"}"#,
         "a lone surrogate elsewhere is left alone"),
    ])
    func documentsAreRead(line: String, document: String) {
        #expect(value(line) == .string(document))
    }

    @Test(arguments: [
        #"{"body": "x"}"#, #"{}"#, #"{"text": null}"#, #"{"text": 5}"#, #"{"text": ["a"]}"#, #"{"text": {"text": "a"}}"#,
        #"{"Text": "case matters"}"#, #"{"text": "first", "text": 1}"#,
    ])
    func anObjectWithoutAStringFieldIsMissingIt(line: String) {
        #expect(value(line) == .missing)
    }

    @Test(arguments: [#"["text", "x"]"#, #""text""#, "null", "true", "-1.5", "[]", " [ { } ] "])
    func jsonThatIsNotAnObjectIsInvalid(line: String) {
        #expect(value(line) == .invalid)
    }

    /// Python's limit on an integer's digits (4,300), a guard of its own and no rule of JSON, is not kept.
    @Test func numbersHaveNoDigitLimit() {
        #expect(value(#"{"n": "# + String(repeating: "7", count: 5000) + #", "text": "long"}"#) == .string("long"))
    }

    @Test(arguments: [
        "", "{", "}", #"{"text": "a""#, #"{"text": "a"} x"#, #"{"text": "a"}}"#, #"{"text": "a",}"#, #"{,"text": "a"}"#,
        #"{"text" "a"}"#, #"{text: "a"}"#, #"{'text': 'a'}"#, #"{"text": "a" "b"}"#, #"{"text": "a"} {"text": "b"}"#,
        #"{"n": 01, "text": "a"}"#, #"{"n": 1., "text": "a"}"#, #"{"n": .5, "text": "a"}"#, #"{"n": +1, "text": "a"}"#,
        #"{"n": 1e, "text": "a"}"#, #"{"n": -, "text": "a"}"#, #"{"n": nan, "text": "a"}"#, #"{"n": +Infinity, "text": "a"}"#,
        #"{"n": -NaN, "text": "a"}"#, #"{"n": Inf, "text": "a"}"#,
        #"{"n": 0x10, "text": "a"}"#, #"{"n": tru, "text": "a"}"#, #"{"n": nulls, "text": "a"}"#, #"{"n": True, "text": "a"}"#,
        #"{"text": "\x41"}"#, #"{"text": "\u12"}"#, #"{"text": "\u12G4"}"#, #"{"text": "a\"}"#, #"{"text": "\'"}"#,
        "{\"text\": \"raw\ttab\"}", "{\"text\": \"raw\nline\"}", "{\"text\": \"nul\u{0}\"}",
        "{\u{0B}\"text\": \"a\"}", "{\"text\":\u{0C}\"a\"}", "{\"text\":\u{A0}\"a\"}",
        #"{"a": [1, 2,], "text": "x"}"#, #"{"a": [1 2], "text": "x"}"#, #"{"a": {"b"}, "text": "x"}"#, #"{"a": [}, "text": "x"}"#,
        #"{"a": {"b": 1], "text": "x"}"#, #"[1, 2"#, #"{"text": "x"} // comment"#, "\u{FEFF}", "\u{FEFF}\u{FEFF}{\"text\": \"x\"}",
    ])
    func textThatIsNotJSONIsInvalid(line: String) {
        #expect(value(line) == .invalid, "\(line)")
    }

    @Test(arguments: [
        (#"{"text": "a\ud800b"}"#, #"\ud800"#), (#"{"text": "\udc00"}"#, #"\udc00"#), (#"{"text": "\uD83D"}"#, #"\uD83D"#),
        (#"{"text": "\ud83d\u0041"}"#, #"\ud83d"#), (#"{"text": "\ude00", "other": "x"}"#, #"\ude00"#),
        (#"{"text": "ok \ud83d\ude00 then \\ud800 is text, \udfff is not"}"#, #"\udfff"#),
    ])
    func aLoneSurrogateEscapeIsNamed(line: String, escape: String) {
        #expect(value(line) == .loneSurrogate(escape))
    }

    @Test func anotherFieldCanBeTheDocument() {
        #expect(value(#"{"text": "not this", "content": "this"}"#, field: "content") == .string("this"))
        #expect(value(#"{"": "empty name"}"#, field: "") == .string("empty name"))
        #expect(value(#"{"tëxt": "accented"}"#, field: "tëxt") == .string("accented"))
    }

    /// Nesting far deeper than a recursive reader's stack allows is still read.
    @Test func deepNestingIsRead() {
        let depth = 200_000
        let line = #"{"a": "# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + #", "text": "deep"}"#
        #expect(value(line) == .string("deep"))
        #expect(value(#"{"a": "# + String(repeating: "[", count: depth) + #", "text": "deep"}"#) == .invalid)
    }

    /// Mutations of valid lines (bytes deleted, inserted from JSON's alphabet, repeated), read by this reader and by
    /// Python's json module (`scripts/jsonl_field_reference.py`): the same verdict, and the same document when there is
    /// one.
    @Test func mutatedLinesAreReadAsPythonReadsThem() throws {
        let seeds = [
            #"{"text": "Hello, world.\nSecond line \"quoted\" \u00e9\ud83d\ude00", "id": 12, "score": -0.5e3}"#,
            #"{"id": "x", "meta": {"a": [1, 2, {"b": null}], "c": true, "d": false}, "text": "tab\there\\"}"#,
            #"{"url": "https:\/\/example.com", "text": "naïve café 東京 \u0041\u20ac", "n": [0, -0, 1.25E-2, []]}"#,
            "\u{FEFF}{\"text\": \"after a mark\", \"k\": {\"x\": [\"y\", {\"z\": \"\\u00FF\"}]}}",
            #"["text", {"text": "inside an array"}, 3]"#,
            #"{"text": "once", "score": NaN, "low": -Infinity, "high": Infinity, "text": "twice"}"#,
            #"{"note": "\udc00 alone is left alone here", "te\u0078t": "escaped key", "x": {"text": 1}}"#,
        ]
        let alphabet = Array(#"{}[]:,"\ \/bfnrtu0123456789aeEfFlsxNI.-+ "#.utf8) + [0x09, 0x0B, 0x0C, 0x7F, 0xC3, 0xA9, 0xC2, 0xA0]
        var random = SeededRandom(seed: 20261205)
        var lines: [[UInt8]] = []
        for round in 0..<6000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<(1 + Int(random.next() % 3)) {
                let at = Int(random.next() % UInt64(bytes.count + 1))
                switch random.next() % 3 {
                case 0: if at < bytes.count { bytes.remove(at: at) }
                case 1: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: at)
                default:
                    let length = Int(random.next() % 8)
                    bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + length)], at: at)
                }
            }
            // (lines reach the reader as valid UTF-8)
            if String(validating: bytes, as: UTF8.self) != nil { lines.append(bytes) }
        }
        lines += seeds.map { Array($0.utf8) }
        let script = TestPaths.repositoryRoot.appendingPathComponent("scripts/jsonl_field_reference.py").path
        let result = try runCommand("python3", arguments: [script, "text"], stdin: Data(lines.joined(separator: [0x0A])))
        try #require(result.status == 0, "\(result.stderrText)")
        let verdicts = try result.stdoutText.split(separator: "\n").map {
            try JSONDecoder().decode(PythonVerdict.self, from: Data($0.utf8))
        }
        try #require(verdicts.count == lines.count)
        var counts: [String: Int] = [:]
        for (line, python) in zip(lines, verdicts) {
            var reader = JSONLineField(named: "text")
            let ours = line.withUnsafeBufferPointer { reader.value(in: $0) }
            #expect(python.matches(ours), "\(String(decoding: line, as: UTF8.self)): ours \(ours), Python's \(python)")
            counts[python.string == nil ? python.verdict ?? "?" : "string", default: 0] += 1
        }
        // Enough of every verdict to mean something.
        for verdict in ["string", "invalid", "missing", "notAnObject", "loneSurrogate"] {
            #expect(counts[verdict, default: 0] >= 20, "\(counts)")
        }
    }

    /// A line as `scripts/jsonl_field_reference.py` reads it.
    private struct PythonVerdict: Decodable, CustomStringConvertible {
        let string: String?
        let verdict: String?

        func matches(_ value: JSONLineField.Value) -> Bool {
            switch value {
            case .string(let document): return string == document
            case .missing: return verdict == "missing"
            case .loneSurrogate: return verdict == "loneSurrogate"
            case .invalid: return verdict == "invalid" || verdict == "notAnObject"
            }
        }

        var description: String { string.map { "string \($0.debugDescription)" } ?? verdict ?? "?" }
    }
}
