/// What to do with a `gpt2 prepare` input that is not UTF-8 text, from what its first bytes say it is: UTF-16 text
/// (with a byte-order mark, or ASCII with every other byte NUL), a compressed file or archive, a Parquet file.
/// The generic advice for invalid UTF-8 (Latin-1 text, the commonest case) suggested `iconv -f latin1`, which turns
/// any of these into a corpus of mojibake without a word.

enum NonTextAdvice {
    /// How many of a file's first bytes `advice` looks at.
    static let leadingByteCount = 8

    /// One clause for the error line: what the file looks like and how to make UTF-8 text of it; for a file the bytes
    /// do not identify, `otherwise`.
    static func advice(leadingBytes bytes: [UInt8], otherwise: String) -> String {
        func starts(_ signature: [UInt8]) -> Bool { bytes.starts(with: signature) }
        if starts([0xFF, 0xFE]) || starts([0xFE, 0xFF]) {
            return "it starts with a UTF-16 byte-order mark; convert it with `iconv -f utf-16 -t utf-8`"
        }
        // (`streamer` writes the text to standard output, for `gpt2 prepare -`)
        let compressed: [(signature: [UInt8], kind: String, tool: String, streamer: String)] = [
            ([0x1F, 0x8B], "gzip-compressed", "gunzip", "zcat"),
            ([0x28, 0xB5, 0x2F, 0xFD], "zstd-compressed", "unzstd", "zstdcat"),
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz-compressed", "unxz", "xzcat"),
            (Array("BZh".utf8), "bzip2-compressed", "bunzip2", "bzcat"),
            ([0x50, 0x4B, 0x03, 0x04], "a zip archive", "unzip", "unzip -p"),
        ]
        if let known = compressed.first(where: { starts($0.signature) }) {
            return "it is \(known.kind); \(known.tool == "unzip" ? "extract" : "decompress") it first (`\(known.tool)`, or "
                + "`\(known.streamer)` into `gpt2 prepare -`)"
        }
        if starts(Array("PAR1".utf8)) {
            return "it is a Parquet file; write its text column out as JSON Lines (one {\"text\": …} object per line) first"
        }
        // ASCII in UTF-16 without a byte-order mark: the high byte of every character is 0
        if bytes.count >= 4, bytes[0] != 0, bytes[1] == 0, bytes[2] != 0, bytes[3] == 0 {
            return "it looks like UTF-16 (little-endian) text; convert it with `iconv -f utf-16le -t utf-8`"
        }
        if bytes.count >= 4, bytes[0] == 0, bytes[1] != 0, bytes[2] == 0, bytes[3] != 0 {
            return "it looks like UTF-16 (big-endian) text; convert it with `iconv -f utf-16be -t utf-8`"
        }
        return otherwise
    }
}
