/// Numbers as the command line takes them: in decimal only. Swift's `Double(String)` also reads hexadecimal
/// ("0x10" is 16, "0x1p-10" is 1/1024), which nobody means by `--weight-decay 0x10`.
public enum DecimalNumber {
    /// `text` as a Double when it is written in decimal (digits, at most what `Double` reads of a point, an exponent
    /// and signs) or is `inf`, `infinity` or `nan` (any case, signed), for an option's own range check to name; else nil.
    public static func parse(_ text: some StringProtocol) -> Double? {
        let whole = Substring(text)
        let unsigned = whole.first == "-" || whole.first == "+" ? whole.dropFirst() : whole
        let isWord = ["inf", "infinity", "nan"].contains(unsigned.lowercased())
        guard isWord || (!unsigned.isEmpty && unsigned.allSatisfy({ $0.isASCII && ($0.isNumber || ".eE+-".contains($0)) })) else {
            return nil
        }
        return Double(whole)
    }
}
