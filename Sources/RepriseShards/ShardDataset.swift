import Foundation
import RepriseCore

/// The shards of one split read as one token stream cut into fixed windows: sequence `i` is tokens
/// [i·seqLen, (i+1)·seqLen + 1) of the stream (one extra token for shifted AR targets; the diffusion
/// objective uses the first seqLen). Frames are decompressed on demand and the last one is kept, so reading
/// sequences in order decompresses each frame once.
///
/// One instance is for one thread; `stream` reads ahead on a background thread of its own.
public final class ShardDataset {
    public let seqLen: Int
    public let tokenCount: Int
    public var sequenceCount: Int { max(0, (tokenCount - 1) / seqLen) }
    private let readers: [ShardReader]
    /// Global index of each shard's first token.
    private let shardStarts: [Int]
    private var cached: (shard: Int, frame: Int, tokens: [UInt32])?

    public init(paths: [String], seqLen: Int) throws {
        precondition(seqLen >= 1)
        self.seqLen = seqLen
        readers = try paths.map { try ShardReader(path: $0) }
        var starts: [Int] = []
        var total = 0
        for r in readers { starts.append(total); total += r.tokenCount }
        shardStarts = starts
        tokenCount = total
    }

    /// The sequence's seqLen + 1 tokens.
    public func sequence(_ index: Int) throws -> [UInt32] {
        guard index >= 0 && index < sequenceCount else {
            throw RepriseError("sequence \(index) is out of range (0..<\(sequenceCount))")
        }
        var out: [UInt32] = []
        out.reserveCapacity(seqLen + 1)
        var position = index * seqLen
        let end = position + seqLen + 1
        // The shard holding `position`: the last one starting at or before it.
        var shard = shardStarts.lastIndex(where: { $0 <= position })!
        while position < end {
            while position - shardStarts[shard] >= readers[shard].tokenCount { shard += 1 }
            let reader = readers[shard]
            let local = position - shardStarts[shard]
            let frameIndex = local / reader.frameTokens
            let frame = reader.frames[frameIndex]
            let tokens: [UInt32]
            if let c = cached, c.shard == shard, c.frame == frameIndex { tokens = c.tokens } else {
                tokens = try reader.tokens(inFrame: frameIndex)
                cached = (shard, frameIndex, tokens)
            }
            let from = local - frame.firstToken
            let take = min(tokens.count - from, end - position)
            out += tokens[from..<(from + take)]
            position += take
        }
        return out
    }

    /// Rank `rank` of `world`'s share of `count` items: disjoint, equal-size contiguous ranges; the last
    /// count % world items are left out so that every rank takes the same number of steps.
    public static func partition(count: Int, rank: Int, world: Int) -> Range<Int> {
        precondition(world >= 1 && rank >= 0 && rank < world)
        let share = count / world
        return (rank * share)..<((rank + 1) * share)
    }

    /// Reads the given sequences in order on a background thread, up to `readAhead` ahead of the consumer.
    /// Errors (a corrupt frame) arrive in order, in place of the sequence that could not be read.
    public func stream(_ indices: [Int], readAhead: Int = 64) -> SequenceStream {
        SequenceStream(dataset: self, indices: indices, readAhead: readAhead)
    }
}

/// Sequences read ahead on a background thread; iterate with `next()`.
public final class SequenceStream: @unchecked Sendable {
    private let queue: BlockingQueue<Result<[UInt32], Error>>
    private let thread: Thread

    init(dataset: ShardDataset, indices: [Int], readAhead: Int) {
        let queue = BlockingQueue<Result<[UInt32], Error>>(capacity: readAhead)
        self.queue = queue
        // The dataset is used by this thread only from here on.
        let shared = UncheckedSendable(dataset)
        thread = Thread {
            for i in indices {
                do { queue.put(.success(try shared.value.sequence(i))) } catch {
                    queue.put(.failure(error))
                    break
                }
            }
            queue.close()
        }
        thread.start()
    }

    /// Stops the background thread (also done when the stream is released).
    public func cancel() { queue.close() }
    /// True once the background thread has ended.
    public var isFinished: Bool { thread.isFinished }
    deinit { queue.close() }

    /// The next sequence, nil at the end; throws the reading error of a damaged shard.
    public func next() throws -> [UInt32]? {
        guard let item = queue.take() else { return nil }
        return try item.get()
    }
}
