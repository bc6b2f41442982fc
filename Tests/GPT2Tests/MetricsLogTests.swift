/// metrics.jsonl: every row is a JSON object with its fields in order, non-finite numbers become null,
/// and reopening for a resume drops the rows of later steps so each step appears once.

import Foundation
@testable import GPT2
import GPT2TestSupport
import Testing

@Suite struct MetricsLogTests {
    private func rows(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasSuffix("\n"), "every row ends its line")
        return try text.split(separator: "\n").map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    @Test func rowsAreJSONWithNullForNonFinite() throws {
        let directory = try TestPaths.temporaryDirectory("metrics")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("metrics.jsonl").path
        let log = try MetricsLog(path: path)
        try log.append([("step", 1), ("loss", 10.875), ("lr", 6e-4), ("grad_norm", .nan), ("tokens_per_s", 1e20)])
        try log.append([("step", 2), ("loss", .infinity), ("mfu", -.infinity), ("tiny", 1.5e-300)])
        try log.append([("step", 2), ("val_loss", 3.25)])
        let parsed = try rows(path)
        #expect(parsed.count == 3)
        #expect(parsed[0]["step"] as? Int == 1)
        #expect(parsed[0]["loss"] as? Double == 10.875)
        #expect(abs((parsed[0]["lr"] as? Double ?? 0) - 6e-4) < 1e-18)
        #expect(parsed[0]["grad_norm"] is NSNull)
        #expect(parsed[0]["tokens_per_s"] as? Double == 1e20)
        #expect(parsed[1]["loss"] is NSNull && parsed[1]["mfu"] is NSNull)
        #expect(parsed[1]["tiny"] as? Double ?? 0 > 0)
        #expect(parsed[2]["val_loss"] as? Double == 3.25)
        let firstLine = try String(contentsOfFile: path, encoding: .utf8).prefix { $0 != "\n" }
        #expect(firstLine.hasPrefix("{\"step\":1,\"loss\":"), "fields keep their order: \(firstLine)")
    }

    @Test func reopeningForResumeDropsLaterSteps() throws {
        let directory = try TestPaths.temporaryDirectory("metrics")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("metrics.jsonl").path
        do {
            let log = try MetricsLog(path: path)
            for step in 1...5 { try log.append([("step", Double(step)), ("loss", 10 - Double(step))]) }
            try log.append([("step", 3), ("val_loss", 7.5)])  // an evaluation row of step 3, written after step 5's row
        }
        let resumed = try MetricsLog(path: path, truncatingAfter: 3)
        try resumed.append([("step", 4), ("loss", 1)])
        let steps = try rows(path).map { $0["step"] as? Int }
        #expect(steps == [1, 2, 3, 3, 4])
        #expect(try rows(path).last?["loss"] as? Double == 1)
        // without truncation, reopening appends
        _ = try MetricsLog(path: path)
        #expect(try rows(path).count == 5)
    }

    /// A resume says which steps before its checkpoint have no row (a file cut short, or a checkpoint resumed in a
    /// new run folder), briefly; nothing when every step has one.
    @Test func theStepsWithoutARowAreSaidBriefly() {
        #expect(MetricsLog.missingSteps(logged: Set(1...30), through: 30) == nil)
        #expect(MetricsLog.missingSteps(logged: Set(1...18), through: 30) == "steps 19–30")
        #expect(MetricsLog.missingSteps(logged: Set(1...29), through: 30) == "step 30")
        #expect(MetricsLog.missingSteps(logged: Set(1...30).subtracting([3, 7, 30]), through: 30) == "3 steps from 3 to 30")
        #expect(MetricsLog.missingSteps(logged: [], through: 0) == nil)
        // from the rows there are, at any step: a checkpoint edited to step 10^12 made a list of every step, and died
        // allocating 34 GB; near Int.max it never ended
        #expect(MetricsLog.missingSteps(logged: [], through: 1_000_000_000_000) == "steps 1–1000000000000")
        #expect(MetricsLog.missingSteps(logged: Set(1...3).union([9]), through: Int.max) == "\(Int.max - 4) steps from 4 to \(Int.max)")
    }

    /// A crash or power cut can leave the file's tail torn (`{"step":1` of step 12's row, its step cut short) or
    /// zero-filled, and the checkpoint a resume starts from may be of a later step than that tail claims: such lines
    /// are no rows, and were kept, so that the resumed run's rows came after a line no JSON reader can parse.
    @Test func reopeningForResumeDropsTornLines() throws {
        let directory = try TestPaths.temporaryDirectory("metrics")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("metrics.jsonl").path
        for tail in ["{\"step\":1", "{\"step\":3,\"val_lo", String(repeating: "\0", count: 40), "\0\0\0\0\n"] {
            do {
                let log = try MetricsLog(path: path, truncatingAfter: 0)
                for step in 1...3 { try log.append([("step", Double(step)), ("loss", 10 - Double(step))]) }
            }
            let handle = try #require(FileHandle(forWritingAtPath: path))
            handle.seekToEndOfFile()
            handle.write(Data(tail.utf8))
            handle.closeFile()
            let resumed = try MetricsLog(path: path, truncatingAfter: 3)
            try resumed.append([("step", 4), ("loss", 6)])
            #expect(try rows(path).map { $0["step"] as? Int } == [1, 2, 3, 4], "after a tail \(tail.debugDescription)")
        }
    }
}
