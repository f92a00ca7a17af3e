/// What a `BinaryHeap` orders by: `before` is a strict weak order, and the heap's top is an element that
/// no other comes before.
public protocol HeapOrdered {
    func before(_ other: Self) -> Bool
}

/// A binary heap on contiguous storage: `push` and `pop` in O(log n), the top at index 0. BPE training keeps
/// its pair counts in one (the highest count first); the k-way merges of sorted runs keep each run's head in
/// one (the smallest first, `replaceTop` moving a run to its next record with one sift).
public struct BinaryHeap<Element: HeapOrdered> {
    @usableFromInline var items: ContiguousArray<Element> = []

    @inlinable public init() {}

    /// A heap of `elements` (built bottom-up in O(n)).
    @inlinable public init(_ elements: some Sequence<Element>) {
        items = ContiguousArray(elements)
        var i = items.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }

    @inlinable public var count: Int { items.count }
    @inlinable public var isEmpty: Bool { items.isEmpty }
    @inlinable public var top: Element? { items.first }

    @inlinable public mutating func reserveCapacity(_ n: Int) { items.reserveCapacity(n) }

    @inlinable public mutating func push(_ e: Element) {
        items.append(e)
        items.withUnsafeMutableBufferPointer { h in
            var i = h.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                if !e.before(h[parent]) { break }
                h[i] = h[parent]
                i = parent
            }
            h[i] = e
        }
    }

    /// Removes and returns the top, nil when the heap is empty.
    @inlinable public mutating func pop() -> Element? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            siftDown(0)
        }
        return top
    }

    /// Replaces the top by `e` and restores the order (a pop and a push in one sift). The heap must not be
    /// empty.
    @inlinable public mutating func replaceTop(_ e: Element) {
        items[0] = e
        siftDown(0)
    }

    /// A k-way merge: hands every element to `body` in order, top first; after each, `refill` gives the next
    /// element of the top's source (nil when that source is exhausted), which takes the top's place.
    @inlinable public mutating func drain(_ body: (Element) throws -> Void, refill: (Element) throws -> Element?) rethrows {
        while let top = items.first {
            try body(top)
            if let next = try refill(top) {
                replaceTop(next)
            } else {
                _ = pop()
            }
        }
    }

    @inlinable mutating func siftDown(_ start: Int) {
        items.withUnsafeMutableBufferPointer { h in
            let n = h.count, e = h[start]
            var i = start
            while true {
                var c = 2 * i + 1
                if c >= n { break }
                if c + 1 < n && h[c + 1].before(h[c]) { c += 1 }
                if !h[c].before(e) { break }
                h[i] = h[c]
                i = c
            }
            h[i] = e
        }
    }
}
