/// swift-argument-parser reads `--lr -1` as `--lr` with no value, followed by an unknown short option `-1`,
/// and so reports "Missing value for '--lr <lr>'" to a user who gave one; so too `--prompt "- Hello"`. `gpt2` hands
/// such a pair to the parser as `--lr=-1`, which it reads as the option's value, so the option's own check says what is
/// wrong with it ("--lr must be a positive number (got -1.0)"), and a prompt that starts with a dash is taken.

enum DashedOptionValues {
    /// `arguments` with each long option (`--name`, no `=`) that is followed by a value starting with a dash joined
    /// to it as `--name=VALUE`: a negative number, or anything else that names no option of gpt2's (which has no short
    /// options but -h). Left apart: `-` (standard input), `-h`, and `--` followed by a letter (`--prompt --tokens 5`
    /// still lacks its prompt). Nothing after a `--` terminator is touched, and nothing else changes.
    static func attached(_ arguments: [String]) -> [String] {
        var result: [String] = []
        result.reserveCapacity(arguments.count)
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" {
                result += arguments[index...]
                break
            }
            let next = arguments.index(after: index)
            if argument.hasPrefix("--"), argument.count > 2, !argument.contains("="),
               next < arguments.endIndex, isDashedValue(arguments[next]) {
                result.append(argument + "=" + arguments[next])
                index = arguments.index(after: next)
            } else {
                result.append(argument)
                index = next
            }
        }
        return result
    }

    /// Whether `text`, after an option, is that option's value, though it starts with a dash (see `attached`).
    static func isDashedValue(_ text: String) -> Bool {
        guard text.hasPrefix("-"), text != "-", text != "-h" else { return false }
        if isNegativeNumber(text) { return true }
        let afterDashes = text.dropFirst(2)
        return !(text.hasPrefix("--") && (afterDashes.first?.isLetter ?? true))   // (`--` alone is the terminator)
    }

    /// A minus sign, then digits with at most one point, then an optional exponent: "-1", "-0.5", "-.5", "-3e-4"; or
    /// then a word Swift reads as a number: "-inf", "-infinity", "-nan" (in any case).
    static func isNegativeNumber(_ text: String) -> Bool {
        guard text.hasPrefix("-") else { return false }
        if ["inf", "infinity", "nan"].contains(text.dropFirst().lowercased()) { return true }
        var mantissa = Substring(text.dropFirst())
        if let e = mantissa.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            var exponent = mantissa[mantissa.index(after: e)...]
            if exponent.first == "-" || exponent.first == "+" { exponent = exponent.dropFirst() }
            guard !exponent.isEmpty, exponent.allSatisfy(\.isASCIIDigit) else { return false }
            mantissa = mantissa[..<e]
        }
        let digits = mantissa.filter { $0 != "." }
        return !digits.isEmpty && digits.allSatisfy(\.isASCIIDigit) && mantissa.count - digits.count <= 1
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
