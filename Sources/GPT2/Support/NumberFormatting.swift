/// Numbers as the logs, tables and messages print them, without Foundation's String(format:): counts with their
/// noun, fixed and scientific decimals, durations, bytes; and a Duration in seconds.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// `1 thread`, `2 threads`: a count and its noun, plural (`plural`, else the noun and "s") unless the count is one.
public func formatCount(_ count: Int, _ noun: String, plural: String? = nil) -> String {
    "\(count) " + (count == 1 ? noun : plural ?? noun + "s")
}

/// Formats `value` with `digits` decimals, without Foundation's String(format:).
public func formatFixed(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return String(describing: value) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    guard rounded < 9e18 else { return String(describing: value) }   // beyond an Int: "1e+300"
    let sign = value < 0 && rounded != 0 ? "-" : ""
    let whole = Int(rounded / scale)
    guard digits > 0 else { return sign + String(whole) }
    let fraction = Int(rounded - Double(whole) * scale)
    var fractionText = String(fraction)
    while fractionText.count < digits { fractionText = "0" + fractionText }
    return sign + String(whole) + "." + fractionText
}

/// Formats `value` as `6.00e-04`.
public func formatScientific(_ value: Double, digits: Int = 2) -> String {
    guard value != 0, value.isFinite else { return value == 0 ? "0" : String(describing: value) }
    var exponent = Int(log10(abs(value)).rounded(.down))
    var mantissa = value / pow(10, Double(exponent))
    if (abs(mantissa) * pow(10, Double(digits))).rounded() >= 10 * pow(10, Double(digits)) {
        mantissa /= 10
        exponent += 1
    }
    let sign = exponent < 0 ? "-" : "+"
    let magnitude = abs(exponent) < 10 ? "0" + String(abs(exponent)) : String(abs(exponent))
    return formatFixed(mantissa, digits: digits) + "e" + sign + magnitude
}

/// Formats seconds as `45s`, `12m05s`, `3h07m` (below 100 hours), `4d06h` (below a year), or in years: `3.2 years`,
/// `5,120 years`, `2.8 billion years`.
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let year = 365.25 * 86400
    guard seconds < year else { return formatYears(seconds / year) }
    let total = Int(seconds.rounded())
    if total < 60 { return String(total) + "s" }
    if total < 3600 { return String(total / 60) + "m" + zeroPadded(total % 60, width: 2) + "s" }
    if total < 100 * 3600 { return String(total / 3600) + "h" + zeroPadded(total % 3600 / 60, width: 2) + "m" }
    return String(total / 86400) + "d" + zeroPadded(total % 86400 / 3600, width: 2) + "h"
}

/// `3.2 years` below ten, `5,120 years` below a million, then `2.8 million years` … `over a trillion years`.
private func formatYears(_ years: Double) -> String {
    if years < 10 { return formatFixed(years, digits: 1) + " years" }
    if years < 1e6 { return grouped(Int(years.rounded())) + " years" }
    for (scale, name) in [(1e6, "million"), (1e9, "billion")] where years < scale * 1000 {
        return formatFixed(years / scale, digits: 1) + " \(name) years"
    }
    return "over a trillion years"
}

/// A peak or rate of arithmetic: `230.4 GFLOP/s` below a TFLOP/s, `989.4 TFLOP/s` from there.
public func formatFLOPRate(_ flopsPerSecond: Double) -> String {
    flopsPerSecond >= 1e12 ? formatFixed(flopsPerSecond / 1e12, digits: 1) + " TFLOP/s" : formatFixed(flopsPerSecond / 1e9, digits: 1) + " GFLOP/s"
}

/// `1,234,567`: an integer with its thousands grouped.
public func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
        out.append(digit)
    }
    return (value < 0 ? "-" : "") + out
}

/// Bytes in binary units: `512 B`, `3.2 KiB`, `820.1 MiB`, `9.61 GiB`.
public func formatBytes(_ bytes: Int) -> String {
    let value = Double(bytes)
    if abs(bytes) < 1024 { return "\(bytes) B" }
    if abs(value) < 1024 * 1024 { return formatFixed(value / 1024, digits: 1) + " KiB" }
    if abs(value) < 1024 * 1024 * 1024 { return formatFixed(value / 1048576, digits: 1) + " MiB" }
    return formatFixed(value / 1073741824, digits: 2) + " GiB"
}

extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) * 1e-18
    }
}

/// `value` in decimal, left-padded with zeros to `width` digits: `zeroPadded(7, width: 2)` is `07`.
public func zeroPadded(_ value: Int, width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
