import Foundation
import RepriseCore
import XCTest

final class ProgressTests: XCTestCase {
    func testFastWorkShowsARateSlowWorkSecondsPerItem() {
        let fast = Progress.line(label: "ingest", items: 500, itemName: "docs", bytes: 0, elapsed: 10,
                                 totalBytes: nil, totalItems: nil, detail: "")
        XCTAssertEqual(fast, "ingest: 500 docs, 50 docs/s, 10s elapsed")
        let slow = Progress.line(label: "train", items: 4, itemName: "steps", bytes: 0, elapsed: 130,
                                 totalBytes: nil, totalItems: 10, detail: "loss 3.1000")
        XCTAssertEqual(slow, "train: 4 steps, 32.5 s/step, 2m10s elapsed, 40%, ETA 3m15s, loss 3.1000")
    }

    func testLinesAreClampedToTheTerminalWidth() {
        let line = String(repeating: "x", count: 200)
        let clamped = Progress.clamp(line, width: 80)
        XCTAssertEqual(clamped.count, 79)
        XCTAssertTrue(clamped.hasSuffix("…"))
        XCTAssertEqual(Progress.clamp("short", width: 80), "short")
    }

    func testTimestampsAreUTC() {
        XCTAssertEqual(Progress.timestamp(Date(timeIntervalSince1970: 1_796_400_000)), "2026-12-04T16:00:00Z")
    }
}
