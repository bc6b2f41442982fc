/// The command words of a command line (`gpt2 eval hellaswag …`, `gpt2 help eval`), checked before parsing: a
/// mistyped one is refused as such, with the nearest command's name. Left to the parser, `gpt2 trian --steps 3`
/// said "Unknown option '--steps'" (the words fell to the root command, which has no options) and `gpt2 help trian`
/// printed the general help with exit status 0.

import ArgumentParser

enum CommandNames {
    /// Why the leading words of `arguments` (up to the first option) do not name a command under `root`, or nil
    /// when they do. A group's default subcommand is taken to have no positional arguments (true of ours), so a
    /// word under a group must name one of its subcommands; below a leaf command the words are its arguments.
    static func problem(in arguments: [String], root: ParsableCommand.Type) -> String? {
        var words = arguments.prefix { !$0.hasPrefix("-") }[...]
        if words.first == "help" { words = words.dropFirst() }
        var path = [root.configuration.commandName ?? "gpt2"]
        var commands = root.configuration.subcommands
        for word in words {
            guard !commands.isEmpty else { return nil }   // a leaf's own arguments
            guard let command = commands.first(where: { $0.configuration.commandName == word }) else {
                let names = commands.compactMap { $0.configuration.commandName }
                let nearest = names.map { (name: $0, distance: editDistance($0, word)) }.min { $0.distance < $1.distance }
                let parent = path.joined(separator: " ")
                // the nearest name here, or failing that a command of that name one level down (`gpt2 hellaswag`)
                let nested = commands.first { group in group.configuration.subcommands.contains { $0.configuration.commandName == word } }
                let guess = nearest.flatMap { $0.distance <= max(1, word.count / 3) ? " (did you mean '\($0.name)'?)" : nil }
                    ?? nested.map { " (did you mean '\(parent) \($0.configuration.commandName ?? "") \(word)'?)" } ?? ""
                let place = path.count == 1 ? "a \(parent) command" : "a command of '\(parent)'"
                return "'\(word)' is not \(place)\(guess); the commands are \(names.joined(separator: ", ")) (see '\(parent) --help')"
            }
            path.append(word)
            commands = command.configuration.subcommands
        }
        return nil
    }

    /// The optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two neighbours each
    /// count 1 (so `trian` is 1 from `train`).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        // rows[i][j]: the distance between a's first i characters and b's first j
        var rows = [Array(0...b.count)]
        for i in stride(from: 1, through: a.count, by: 1) {
            var row = [i]
            for j in stride(from: 1, through: b.count, by: 1) {
                var best = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { best = min(best, rows[i - 2][j - 2] + 1) }
                row.append(best)
            }
            rows.append(row)
        }
        return rows[a.count][b.count]
    }
}
