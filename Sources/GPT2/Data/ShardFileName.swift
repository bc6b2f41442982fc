/// The file names `gpt2 prepare` gives its shards, `NAME_SPLIT_NNNNNN.bin` with SPLIT `train` or `val`, by which
/// training finds its two splits in a folder: made, matched and taken apart here alone.

public enum ShardFileName {
    /// The splits a prepared folder holds.
    public static let splits = ["train", "val"]

    /// `NAME_split_000042.bin`: shard `index` of `split` of corpus `name`.
    public static func make(name: String, split: String, index: Int) -> String {
        "\(name)_\(split)_\(zeroPadded(index, width: 6)).bin"
    }

    /// The shell pattern of every shard of `split` in a folder, whatever its corpus: `*_split_*.bin`.
    public static func pattern(split: String) -> String { "*_\(split)_*.bin" }

    /// Whether `file` is a shard file name of corpus `name`, in either split.
    public static func isShard(_ file: String, of name: String) -> Bool {
        file.hasSuffix(".bin") && splits.contains { file.hasPrefix("\(name)_\($0)_") }
    }

    /// The corpus name a shard file name starts with (what comes before `_train_` or `_val_`); nil for another file.
    public static func corpusName(of file: String) -> String? {
        splits.lazy.compactMap { file.ranges(of: "_\($0)_").first.map { String(file[..<$0.lowerBound]) } }.first
    }

    /// Why `name` cannot start shard file names (nil when it can): it must be a plain file-name prefix, and must not
    /// hold a split's marker, which would make its shards look like another split's.
    public static func problem(withName name: String) -> String? {
        guard name.isEmpty || name.hasPrefix(".") || name.contains("/") || splits.contains(where: { name.contains("_\($0)_") })
        else { return nil }
        return "must be a file-name prefix: not empty, no '/', no leading '.', and no "
            + splits.map { "'_\($0)_'" }.joined(separator: " or ")
            + " (the shards are \(make(name: "NAME", split: "train", index: 0)), \(make(name: "NAME", split: "val", index: 0)))"
    }
}
