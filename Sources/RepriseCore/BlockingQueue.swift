import Foundation

/// A bounded FIFO between one producer thread and one consumer: `put` waits while full, `take` waits while
/// empty and returns nil once the producer has called `close()` and the queue is drained.
public final class BlockingQueue<Element>: @unchecked Sendable {
    /// Taken slots are set to nil at once: a slot kept the taken item alive until the array was compacted,
    /// up to 64 items (64 batches of 16 MiB of documents for ingest's reader: 300 MB of a round-1 task's
    /// 400 MB peak on a 1 GB corpus).
    private var items: [Element?] = []
    private var head = 0
    private var closed = false
    private let capacity: Int
    private let cond = NSCondition()

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    public func put(_ item: Element) {
        cond.lock(); defer { cond.unlock() }
        while items.count - head >= capacity && !closed { cond.wait() }
        if closed { return }
        items.append(item)
        cond.broadcast()
    }

    public func take() -> Element? {
        cond.lock(); defer { cond.unlock() }
        while items.count == head && !closed { cond.wait() }
        if items.count == head { return nil }
        let item = items[head]
        items[head] = nil
        head += 1
        if head > 64 && head * 2 > items.count { items.removeFirst(head); head = 0 }
        cond.broadcast()
        return item
    }

    /// True once `close()` was called (by either side).
    public var isClosed: Bool { cond.lock(); defer { cond.unlock() }; return closed }

    /// No more items will be put; wakes any waiting consumer.
    public func close() {
        cond.lock(); closed = true; cond.broadcast(); cond.unlock()
    }
}

/// Runs `body(i)` for i in 0..<count on up to `threads` threads; indices are handed out in order from a
/// shared counter, so uneven work balances itself. With one thread it is a plain loop.
public func parallelFor(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    if threads <= 1 || count <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    let counter = SharedCounter()
    withoutActuallyEscaping(body) { body in
        // The caller guarantees that body(i) for different i touch disjoint state.
        let task = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: min(threads, count)) { _ in
            while true {
                let i = counter.next()
                if i >= count { return }
                task.value(i)
            }
        }
    }
}

/// A value handed across threads whose safety the code around it guarantees (documented at each use).
public struct UncheckedSendable<T>: @unchecked Sendable {
    public var value: T
    public init(_ value: T) { self.value = value }
}

final class SharedCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int { lock.lock(); defer { lock.unlock() }; let v = value; value += 1; return v }
}

/// Number of threads to use by default: the machine's active cores.
public var defaultThreadCount: Int { ProcessInfo.processInfo.activeProcessorCount }
