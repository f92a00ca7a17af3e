import Foundation
@testable import RepriseCore
import XCTest

final class BlockingQueueTests: XCTestCase {
    private final class Item {}

    /// An item taken from the queue is no longer held by it: the consumer's reference is the last one.
    func testTakenItemsAreReleased() {
        let queue = BlockingQueue<Item>(capacity: 3)
        var watched: [() -> Item?] = []
        for _ in 0..<10 {
            let item = Item()
            weak var weakItem = item
            watched.append { weakItem }
            queue.put(item)
            XCTAssertTrue(queue.take() === item)
        }
        for (i, w) in watched.enumerated() { XCTAssertNil(w(), "item \(i) is still held by the queue") }
        queue.put(Item())
        queue.close()
        XCTAssertNotNil(queue.take(), "items put before close are still taken")
        XCTAssertNil(queue.take())
    }
}
