/// The value of an option held as a 32-bit float (`--lr`, `--clip`, `--temperature`): the number typed, refused when a
/// Float cannot hold it, rather than rounded to 0 or to infinity. Parsed as swift-argument-parser does, `--clip 1e-50`
/// became 0 and switched clipping off, and `--lr 1e39` was refused as "(got inf)", a value nobody typed. Hexadecimal
/// (`--weight-decay 0x10` was 16) is refused, as every other number option refuses it.

import ArgumentParser
import GPT2

enum FloatOptionValue {
    /// `text` as a Float (NaN and infinities as typed, for the option's own check to refuse).
    static func parse(_ text: String) throws -> Float {
        let wide = try decimal(text)
        let value = Float(wide)
        if wide.isFinite && value.isInfinite {
            throw ValidationError("\(text) is beyond what a 32-bit float holds (up to ±3.4e38)")
        }
        if wide != 0 && wide.magnitude < Double(Float.leastNormalMagnitude) {
            throw ValidationError("\(text) is nearer 0 than a 32-bit float holds at full precision (1.2e-38)")
        }
        return value
    }

    /// `text` as a Double, written in decimal (hexadecimal, which `Double` also reads, is refused).
    static func decimal(_ text: String) throws -> Double {
        guard let value = DecimalNumber.parse(text) else { throw ValidationError("'\(text)' is not a decimal number") }
        return value
    }
}
