import Foundation
import RepriseCore
@testable import RepriseSchedules
import RepriseShards
import XCTest

/// A schedule's manifest is checked against what can be recomputed from its config and its dataset.
extension ScheduleTests {
    func testEditedLedgerAndPlanShapeAreRefused() throws {
        let shards = try makeShards()
        let out = dir + "/plan"
        let built = try ScheduleBuilder.build(shards: shards, config: mdlm(), output: out, threads: 1, quiet: true)
        XCTAssertEqual(built.inconsistencies, [])
        XCTAssertNoThrow(try Schedule(out).check(shards: shards))
        func edited(_ edit: (inout ScheduleManifest) -> Void) throws {
            var m = built
            edit(&m)
            try AtomicFileWriter.write(try CanonicalJSON.encode(m), to: out + "/manifest.json")
        }
        let path = out + "/manifest.json"
        let steps = built.ledger.steps
        try edited { $0.ledger.steps = steps * 10 }
        XCTAssertThrowsError(try Schedule(out)) {
            XCTAssertTrue($0.oneLine.hasPrefix("\(path): ledger.steps is \(steps * 10), epochs × batches_per_epoch = \(steps)"), $0.oneLine)
        }
        try edited { $0.ledger.batchesPerEpoch += 1; $0.ledger.steps += 3 }
        XCTAssertThrowsError(try Schedule(out)) { XCTAssertTrue($0.oneLine.contains("ledger.batches_per_epoch is"), $0.oneLine) }
        try edited { $0.ledger.totalTokens += 16 }
        XCTAssertThrowsError(try Schedule(out)) { XCTAssertTrue($0.oneLine.contains("ledger.total_tokens is"), $0.oneLine) }
        try edited { $0.ledger.shortBatches = nil }
        XCTAssertThrowsError(try Schedule(out)) { XCTAssertTrue($0.oneLine.contains("ledger.short_batches is absent"), $0.oneLine) }

        // Consistent in itself, but not what the dataset gives.
        try edited { $0.blockSequences += 1 }
        XCTAssertNoThrow(try Schedule(out))
        XCTAssertThrowsError(try Schedule(out).check(shards: shards)) {
            XCTAssertTrue($0.oneLine.contains("\(path): block_sequences is \(built.blockSequences + 1), the dataset's frame_tokens / seq_len = \(built.blockSequences)"), $0.oneLine)
        }
        try edited { $0.valSequences -= 1 }
        XCTAssertThrowsError(try Schedule(out).check(shards: shards)) { XCTAssertTrue($0.oneLine.contains("val_sequences is"), $0.oneLine) }
    }
}
