import RepriseShards
import XCTest

final class PackSplitTests: XCTestCase {
    func testValidationSplitIsStableAndNearItsFraction() {
        let ids = (0..<20_000).map { "corpus/file\($0 / 100).jsonl:\($0 % 100)" }
        let val = ids.filter { Packer.isValidation(id: $0, fraction: 0.1) }
        XCTAssertEqual(Double(val.count) / Double(ids.count), 0.1, accuracy: 0.01)
        // A document's split depends on its id alone: the same answer in any order or corpus.
        XCTAssertEqual(Set(val), Set(ids.reversed().filter { Packer.isValidation(id: $0, fraction: 0.1) }))
        // A larger fraction only adds documents to validation.
        let more = Set(ids.filter { Packer.isValidation(id: $0, fraction: 0.2) })
        XCTAssertTrue(Set(val).isSubset(of: more))
        XCTAssertFalse(ids.contains { Packer.isValidation(id: $0, fraction: 0) })
    }
}
