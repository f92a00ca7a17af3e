import RepriseTokenizer
import XCTest

final class SpecialTokensTests: XCTestCase {
    func testDefaultsAreDistinctAndIncludeTheMaskToken() {
        XCTAssertEqual(Set(SpecialTokens.defaults).count, SpecialTokens.defaults.count)
        XCTAssertTrue(SpecialTokens.defaults.contains("<|mask|>"))
        XCTAssertEqual(SpecialTokens.defaults.first, "<|endoftext|>")
    }
}
