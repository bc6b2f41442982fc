/// The progress line's time left: `m:ss` under an hour, `h:mm:ss` from there, each field in its own range; the line
/// of work of unknown size.

import Testing
@testable import GPT2

@Suite struct ProgressBarTests {
    /// 65 s is 1 min 5 s; 3,725 s is 1 h 2 min 5 s (3,600 + 120 + 5); 59.6 s rounds to 1:00.
    @Test func durationsSplitIntoHoursMinutesAndSeconds() {
        #expect(ProgressBar.duration(65) == "1:05")
        #expect(ProgressBar.duration(59.6) == "1:00")
        #expect(ProgressBar.duration(3725) == "1:02:05")
    }

    /// Work of unknown size (a stream) has no fraction or time left: what is done, the rate (812.5 MB in 20 s: 40.625,
    /// shown 40.6) and the time so far.
    @Test func anOpenEndedLineSaysWhatIsDoneAndTheRate() {
        #expect(ProgressBar.openEndedLine(label: "tokenising", done: 812.5, unit: "MB", elapsed: 20, detail: "9 tokens")
                == "tokenising 812.5 MB  40.6 MB/s  0:20  9 tokens")
        #expect(ProgressBar.openEndedLine(label: "x", done: 0, unit: "MB", elapsed: 0, detail: "") == "x 0.0 MB  0.0 MB/s  0:00")
    }
}
