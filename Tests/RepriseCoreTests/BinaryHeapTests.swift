import XCTest
@testable import RepriseCore

private struct Item: HeapOrdered, Equatable {
    var key: Int, tag: Int
    func before(_ other: Item) -> Bool { key < other.key || (key == other.key && tag < other.tag) }
}

final class BinaryHeapTests: XCTestCase {
    /// Random pushes, pops and top replacements give what a sorted array gives.
    func testPopsInOrderAgainstASortedArray() {
        var rng = SplitMix64(seed: 11)
        for round in 0..<50 {
            let start = (0..<rng.below(40)).map { Item(key: rng.below(20), tag: $0) }
            var heap = BinaryHeap(start), model = start.sorted { $0.before($1) }
            XCTAssertEqual(heap.count, model.count)
            for step in 0..<300 {
                let tag = 1000 + step
                switch rng.below(3) {
                case 0:
                    let e = Item(key: rng.below(20), tag: tag)
                    heap.push(e)
                    model.append(e); model.sort { $0.before($1) }
                case 1:
                    XCTAssertEqual(heap.pop(), model.isEmpty ? nil : model.removeFirst(), "round \(round) step \(step)")
                default:
                    guard !model.isEmpty else { continue }
                    let e = Item(key: rng.below(20), tag: tag)
                    heap.replaceTop(e)
                    model[0] = e; model.sort { $0.before($1) }
                }
                XCTAssertEqual(heap.top, model.first)
                XCTAssertEqual(heap.count, model.count)
            }
        }
        // drain merges sorted sources: every element once, in order.
        let sources = (0..<7).map { s in (0..<rng.below(30)).map { Item(key: rng.below(100), tag: s * 100 + $0) }.sorted { $0.before($1) } }
        var next = [Int](repeating: 1, count: sources.count)
        var merge = BinaryHeap(sources.compactMap(\.first))
        var merged: [Item] = []
        merge.drain({ merged.append($0) }) { top in
            let s = top.tag / 100
            defer { next[s] += 1 }
            return next[s] < sources[s].count ? sources[s][next[s]] : nil
        }
        XCTAssertEqual(merged, sources.flatMap { $0 }.sorted { $0.before($1) })
        XCTAssertTrue(merge.isEmpty)
        var empty = BinaryHeap<Item>()
        XCTAssertNil(empty.pop())
        XCTAssertTrue(empty.isEmpty)
    }
}
