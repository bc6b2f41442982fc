/// The file names `gpt2 prepare` gives its shards, `NAME_SPLIT_NNNNNN.bin` with SPLIT `train` or `val`, by which
/// training finds its two splits in a folder: made, matched and taken apart here alone.

public enum ShardFileName {
    /// The splits a prepared folder holds.
    public static let splits = ["train", "val"]

    /// `NAME_split_000042.bin`: shard `index` of `split` of corpus `name`.
    public static func make(name: String, split: String, index: Int) -> String {
        "\(name)_\(split)_\(zeroPadded(index, width: 6)).bin"
    }

    /// The shell pattern of every shard of `split` in a folder, whatever its corpus: `*_split_*.bin`. It also matches
    /// another split's shards of a corpus whose name ends in the split's (`wiki_train_val_000000.bin`): keep only the
    /// files whose `parse` names `split`.
    public static func pattern(split: String) -> String { "*_\(split)_*.bin" }

    /// The corpus name and split of a shard file name, read from the right: `.bin`, the index's digits, then the split's
    /// marker, so that `wiki_train_val_000000.bin` is corpus `wiki_train`'s val shard (`wiki_train.txt` prepared) and
    /// `a_val_train_000000.bin` no shard of corpus `a`. Nil for any other file.
    public static func parse(_ file: String) -> (name: String, split: String)? {
        let bytes = Array(file.utf8), suffix = Array(".bin".utf8)
        guard bytes.count > suffix.count, bytes.suffix(suffix.count).elementsEqual(suffix) else { return nil }
        let digitsEnd = bytes.count - suffix.count
        var digitsStart = digitsEnd
        while digitsStart > 0, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[digitsStart - 1]) { digitsStart -= 1 }
        guard digitsStart < digitsEnd else { return nil }
        for split in splits {
            let marker = Array("_\(split)_".utf8)
            guard digitsStart > marker.count, bytes[(digitsStart - marker.count)..<digitsStart].elementsEqual(marker) else { continue }
            return (String(decoding: bytes[..<(digitsStart - marker.count)], as: UTF8.self), split)
        }
        return nil
    }

    /// Whether `file` is a shard file name of corpus `name`, in either split.
    public static func isShard(_ file: String, of name: String) -> Bool { parse(file)?.name == name }

    /// The corpus name of a shard file name; nil for another file.
    public static func corpusName(of file: String) -> String? { parse(file)?.name }

    /// The longest corpus name: its files (`NAME_train_000000.bin`, `NAME.prepare-unfinished`, their temporaries) stay
    /// within the 255 bytes of a file name.
    public static let maximumNameBytes = 200

    /// Why `name` cannot start shard file names (nil when it can): it must be a plain file-name prefix, and must not
    /// hold a split's marker, which would make its shards look like another split's.
    public static func problem(withName name: String) -> String? {
        if name.utf8.count > maximumNameBytes {
            return "is \(name.utf8.count) bytes long: at most \(maximumNameBytes), since a file name ends at 255 and the shards' "
                + "and their temporaries' add to it"
        }
        guard name.isEmpty || name.hasPrefix(".") || name.contains("/") || splits.contains(where: { name.contains("_\($0)_") })
        else { return nil }
        return "must be a file-name prefix: not empty, no '/', no leading '.', and no "
            + splits.map { "'_\($0)_'" }.joined(separator: " or ")
            + " (the shards are \(make(name: "NAME", split: "train", index: 0)), \(make(name: "NAME", split: "val", index: 0)))"
    }
}
