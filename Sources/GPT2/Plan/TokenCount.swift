/// Parses token counts as people write them: `10B`, `500M`, `12k`, `1e9`, `524288` (decimal units).
public enum TokenCount {
    public static func parse(_ text: String) throws -> Int {
        let trimmed = String(text.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
        let units: [Character: Double] = ["k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "b": 1e9, "B": 1e9, "g": 1e9, "G": 1e9, "t": 1e12, "T": 1e12]
        var number = Substring(trimmed), scale = 1.0
        if let last = number.last, let unit = units[last] {
            number = number.dropLast()
            scale = unit
        }
        guard let value = DecimalNumber.parse(number), value.isFinite else {
            throw ConfigError("cannot read '\(text)' as a token count; write e.g. 10B, 500M, 12k or 1e9")
        }
        guard value > 0 else { throw ConfigError("a token count must be positive (got '\(text)')") }
        guard value * scale < 9e18 else { throw ConfigError("token count '\(text)' is beyond any run (it must be below 9e18)") }
        let count = (value * scale).rounded()
        guard count >= 1 else { throw ConfigError("token count '\(text)' is less than one token") }
        return Int(count)
    }

    /// `10.00B`, `1.50M`, `524.3k`, `786`: a token count short enough for a table.
    public static func format(_ count: Int) -> String {
        let value = Double(count)
        if value >= 1e9 { return formatFixed(value / 1e9, digits: 2) + "B" }
        if value >= 1e6 { return formatFixed(value / 1e6, digits: 2) + "M" }
        if value >= 1e4 { return formatFixed(value / 1e3, digits: 1) + "k" }
        return String(count)
    }
}
