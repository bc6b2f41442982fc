/// `RUN/metrics.jsonl`: one JSON object per line, each with its `step` — a row per optimizer step (`loss`, `lr`,
/// `grad_norm`, `tokens_per_s`, `mfu` given a peak FLOP/s, and `device_memory_bytes` on a GPU), a row per validation
/// (`val_loss`) and a row per HellaSwag evaluation (`hellaswag_acc`, `hellaswag_acc_norm`, `hellaswag_items`, the
/// items scored: a mirror's copy may be part of the set): what `Trainer` records.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public final class MetricsLog {
    /// The log's name in a run folder.
    public static let fileName = "metrics.jsonl"

    public let path: String
    private let fd: Int32

    /// Opens `path` for appending. With `truncatingAfter` (a resume), rows of later steps are dropped first,
    /// so the file holds each step once, as are lines that are no whole row (the torn or zero-filled tail a crash or
    /// power cut can leave), which the rows appended after them would otherwise keep in the middle of the file; other
    /// lines (a note added by hand) are dropped too, and said. Steps without a row are said too.
    public init(path: String, truncatingAfter step: Int? = nil) throws {
        self.path = path
        if let step {
            var logged = Set<Int>()
            if FileSystem.isFile(path) {
                let text = String(decoding: try ByteFile.contents(ofFile: path), as: UTF8.self)
                let lines = text.split(separator: "\n")
                let kept = lines.filter { line in
                    guard line.hasSuffix("}"), let rowStep = MetricsLog.step(of: line) else { return false }
                    return rowStep <= step
                }
                let body = kept.map { $0 + "\n" }.joined()
                try AtomicFile.write(path) { sink in try sink.write(Array(body.utf8)) }
                logged = Set(kept.filter { $0.contains("\"loss\":") }.compactMap { MetricsLog.step(of: $0) })
                let foreign = lines.filter { line in !line.hasPrefix("{\"step\":") && !line.allSatisfy { $0 == "\0" || $0.isWhitespace } }
                if !foreign.isEmpty {
                    Console.log("note: dropped \(formatCount(foreign.count, "line")) of \(path) that \(foreign.count == 1 ? "is" : "are") no "
                                + "step's row (the first: \(foreign[0].prefix(60))): a resume keeps the file to rows; keep notes elsewhere")
                }
            }
            if let missing = Self.missingSteps(logged: logged, through: step) {
                Console.log("note: \(path) has no rows of \(missing) (cut short, removed, or not this run's file): the run goes "
                            + "on from its checkpoint, and those rows stay missing")
            }
        }
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw FileError.system("open", path) }
    }

    deinit { close(fd) }

    /// Appends one row; `fields` keep their order. Non-finite numbers are written as null. A row that cannot be
    /// written whole (a full disk) is cut back off, so that the file stays one JSON object per line, and throws.
    public func append(_ fields: [(String, Double)]) throws {
        let body = fields.map { key, value in
            "\"\(key)\":" + (value.isFinite ? jsonNumber(value) : "null")
        }.joined(separator: ",")
        let line = Array(("{" + body + "}\n").utf8)
        let start = lseek(fd, 0, SEEK_END)
        if let failure = line.withUnsafeBytes({ ByteFile.writeFully($0, to: fd) }) {
            if start >= 0 { _ = ftruncate(fd, start) }
            throw FileError("cannot append a row to \(path): \(String(cString: strerror(failure)))")
        }
    }

    /// Makes the rows appended so far durable (fsync), so that a checkpoint saved after this call never outlives the
    /// rows of the steps it holds: without it a power cut could keep the checkpoint and lose those rows.
    public func synchronize() throws {
        guard fsync(fd) == 0 else { throw FileError.system("fsync", path) }
    }

    /// The steps 1…`last` without a row in `logged`, said in a few words ("steps 19–30", "12 steps from 3 to 30"), or nil.
    /// Worked out from the rows there are, not by listing 1…`last` (a checkpoint's step may be anything up to Int.max).
    static func missingSteps(logged: Set<Int>, through last: Int) -> String? {
        guard last >= 1 else { return nil }
        let count = last - logged.count(where: { (1...last).contains($0) })
        guard count > 0 else { return nil }
        var (first, final) = (1, last)
        while logged.contains(first) { first += 1 }
        while logged.contains(final) { final -= 1 }
        if count == 1 { return "step \(first)" }
        if final - first + 1 == count { return "steps \(first)–\(final)" }
        return "\(count) steps from \(first) to \(final)"
    }

    /// The `step` of a row, read from its leading `{"step":N`.
    static func step(of line: Substring) -> Int? {
        guard line.hasPrefix("{\"step\":") else { return nil }
        return Int(line.dropFirst(8).prefix { $0.isNumber })
    }

    private func jsonNumber(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int(value)) }
        return String(describing: value)
    }
}
