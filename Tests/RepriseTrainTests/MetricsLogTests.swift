import Foundation
import RepriseTrain
import XCTest

final class MetricsLogTests: XCTestCase {
    /// Values read back from metrics.jsonl are the Doubles that were written, to the last bit (a resumed
    /// run's summary takes its final training loss from there), and keys are matched whole.
    func testValuesReadBackExactly() throws {
        let run = NSTemporaryDirectory() + "metrics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: run) }
        var rng = SystemRandomNumberGenerator()
        var written: [Double] = [0.42337137457742613, 5e-324, 1.7976931348623157e308, 123456789.123456789, -0.0]
        written += (0..<2000).map { _ in Double(bitPattern: rng.next() >> 2) }
        let log = try MetricsLog(run: run, keepThrough: 0)
        for (i, v) in written.enumerated() {
            log.write([("step", i + 1), ("val_loss", v * 2), ("loss", v), ("estimator", "exact_k")])
        }
        log.write([("step", written.count + 1), ("loss", Double.nan)])
        let read = MetricsLog.values("loss", run: run)
        XCTAssertEqual(read.count, written.count, "the NaN line is written as null and skipped")
        XCTAssertEqual(read.map(\.step), Array(1...written.count))
        for (r, w) in zip(read, written) { XCTAssertEqual(r.value.bitPattern, w.bitPattern, "\(w)") }
        XCTAssertEqual(MetricsLog.lastValue("loss", run: run)?.bitPattern, written.last!.bitPattern)
        XCTAssertEqual(MetricsLog.lastValue("val_loss", run: run), written.last! * 2)
        XCTAssertNil(MetricsLog.lastValue("oss", run: run))
    }
}
