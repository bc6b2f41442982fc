/// swift-argument-parser reads `--lr -1` as `--lr` with no value, followed by an unknown short option `-1`,
/// and so reports "Missing value for '--lr <lr>'" to a user who gave one. `gpt2` hands such a pair to the
/// parser as `--lr=-1`, which it reads as the option's value, so the option's own check says what is wrong
/// with it ("--lr must be a positive number (got -1.0)").

enum NegativeOptionValues {
    /// `arguments` with each long option (`--name`, no `=`) that is followed by a negative number joined to it
    /// as `--name=NUMBER`. Nothing after a `--` terminator is touched, and nothing else changes.
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
               next < arguments.endIndex, isNegativeNumber(arguments[next]) {
                result.append(argument + "=" + arguments[next])
                index = arguments.index(after: next)
            } else {
                result.append(argument)
                index = next
            }
        }
        return result
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
