/// The progress line's time left: `m:ss` under an hour, `h:mm:ss` from there, each field in its own range.

import Testing
@testable import GPT2

@Suite struct ProgressBarTests {
    /// 65 s is 1 min 5 s; 3,725 s is 1 h 2 min 5 s (3,600 + 120 + 5); 59.6 s rounds to 1:00.
    @Test func durationsSplitIntoHoursMinutesAndSeconds() {
        #expect(ProgressBar.duration(65) == "1:05")
        #expect(ProgressBar.duration(59.6) == "1:00")
        #expect(ProgressBar.duration(3725) == "1:02:05")
    }
}
