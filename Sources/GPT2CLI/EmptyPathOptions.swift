/// An empty path (`--out ""`, `--data=`) is refused before parsing: joined with a file name it named the
/// filesystem root (`--out ""` wrote `/ckpt_1`, and `--overwrite` would have cleared `/`), and nowhere is it what
/// a user meant.

enum EmptyPathOptions {
    /// The options whose value is a file or folder, in every subcommand that has them.
    static let names: Set<String> = ["--out", "--data", "--checkpoint", "--init-from", "--resume", "--mirror", "--vocab-dir", "--work"]

    /// The first of `names` given an empty value in `arguments` (as `--out ""` or `--out=`), if any; nothing after
    /// a `--` terminator counts.
    static func firstEmpty(in arguments: [String]) -> String? {
        for (index, argument) in arguments.enumerated() {
            if argument == "--" { return nil }
            if argument.hasSuffix("="), names.contains(String(argument.dropLast())) { return String(argument.dropLast()) }
            if names.contains(argument), index + 1 < arguments.count, arguments[index + 1].isEmpty { return argument }
        }
        return nil
    }
}
