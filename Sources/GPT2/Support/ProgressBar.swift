/// A progress line on stderr for long work: fraction done, rate and ETA. On a terminal it redraws in place
/// (at most 10 times a second); otherwise it prints a plain line every ten percent. Work of unknown size (a stream)
/// shows what is done and the rate, and off a terminal a line a minute.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public final class ProgressBar {
    private let label: String
    /// nil: the work's size is not known.
    private let total: Int?
    private let unit: String
    private let unitScale: Double
    private let interactive: Bool
    private let start: Double
    private var lastDraw = -1.0
    private var lastDecile = -1

    /// A bar for `total` units of work (nil: not known); the rate is shown in `unit`s of `unitScale` work units
    /// (e.g. "MB", 1e6).
    public init(_ label: String, total: Int?, unit: String, unitScale: Double = 1) {
        self.label = label
        self.total = total.map { max($0, 1) }
        self.unit = unit
        self.unitScale = unitScale
        interactive = Console.isInteractive
        start = Self.now()
    }

    /// Reports that `done` units are complete; `detail` is appended (e.g. a token count).
    public func update(_ done: Int, detail: String = "") {
        let now = Self.now()
        guard let total else {
            let sinceLine = now - (lastDraw < 0 ? start : lastDraw)
            guard sinceLine >= (interactive ? 0.1 : Self.openEndedLineSeconds) else { return }
            lastDraw = now
            let text = Self.openEndedLine(label: label, done: Double(done) / unitScale, unit: unit, elapsed: now - start, detail: detail)
            Console.log(interactive ? "\r" + text + "\u{1B}[K" : text, terminator: interactive ? "" : "\n")
            return
        }
        let fraction = min(1, Double(done) / Double(total))
        if interactive {
            guard now - lastDraw >= 0.1 || done >= total else { return }
            lastDraw = now
            Console.log("\r" + line(done: done, of: total, fraction: fraction, elapsed: now - start, detail: detail) + "\u{1B}[K",
                        terminator: "")
        } else {
            let decile = Int(fraction * 10)
            guard decile > lastDecile else { return }
            lastDecile = decile
            Console.log(line(done: done, of: total, fraction: fraction, elapsed: now - start, detail: detail))
        }
    }

    /// Ends the bar's line on a terminal.
    public func finish() {
        if interactive && lastDraw >= 0 { Console.log("") }
    }

    /// Seconds between the plain lines of work of unknown size.
    static let openEndedLineSeconds = 60.0

    /// `tokenising 812.5 MB  41.2 MB/s  3:17  detail`: `done` in units, after `elapsed` seconds.
    static func openEndedLine(label: String, done: Double, unit: String, elapsed: Double, detail: String) -> String {
        let rate = elapsed > 0 ? done / elapsed : 0
        var text = "\(label) \(formatFixed(done, digits: 1)) \(unit)  \(formatFixed(rate, digits: 1)) \(unit)/s  \(duration(elapsed))"
        if !detail.isEmpty { text += "  " + detail }
        return text
    }

    private func line(done: Int, of total: Int, fraction: Double, elapsed: Double, detail: String) -> String {
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let shownRate = rate / unitScale
        var text = "\(label) \(bar) \(formatFixed(fraction * 100, digits: 1))%  \(formatFixed(shownRate, digits: 1)) \(unit)/s"
        if fraction < 1 && rate > 0 { text += "  ETA \(Self.duration(remaining))" }
        if !detail.isEmpty { text += "  " + detail }
        return text
    }

    /// `h:mm:ss` or `m:ss`.
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let (hours, minutes, secs) = (total / 3600, (total / 60) % 60, total % 60)
        let (mm, ss) = (zeroPadded(minutes, width: 2), zeroPadded(secs, width: 2))
        return hours > 0 ? "\(hours):\(mm):\(ss)" : "\(minutes):\(ss)"
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}
