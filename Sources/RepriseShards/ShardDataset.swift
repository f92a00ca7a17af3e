import Foundation
import RepriseCore

/// The shards of one split read as one token stream cut into fixed windows: sequence `i` is tokens
/// [i·seqLen, (i+1)·seqLen + 1) of the stream (one extra token for shifted AR targets; the diffusion
/// objective uses the first seqLen). Frames are decompressed on demand and the `cacheFrames` most recently
/// used ones are kept, so reading sequences in order, or shuffled within a window of that many frames,
/// decompresses each frame once.
///
/// One instance is for one thread; `stream` reads ahead on a background thread of its own.
public final class ShardDataset {
    public let seqLen: Int
    public let tokenCount: Int
    public var sequenceCount: Int { max(0, (tokenCount - 1) / seqLen) }
    /// Tokens of each shard, in order, as their indexes give them.
    public var shardTokenCounts: [Int] { readers.map(\.tokenCount) }
    private let readers: [ShardReader]
    /// Global index of each shard's first token.
    private let shardStarts: [Int]
    public let cacheFrames: Int
    /// Decompressed frames, most recently used last.
    private var cache: [(shard: Int, frame: Int, tokens: [UInt32])] = []
    /// Frames decompressed so far (a measure of how well the read order fits the cache).
    public private(set) var framesDecompressed = 0
    /// The first seqLen + 1 tokens of every frame decompressed so far. With frames a multiple of seqLen long,
    /// the last sequence of a frame needs one token of the next frame; when that frame was read before,
    /// the head answers without decompressing it again (in a shuffled order this halves the second reads).
    private var heads: [Int: [UInt32]] = [:]

    public init(paths: [String], seqLen: Int, cacheFrames: Int = 2) throws {
        precondition(seqLen >= 1 && cacheFrames >= 1)
        self.seqLen = seqLen
        self.cacheFrames = cacheFrames
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
            let from = local - frame.firstToken
            if from == 0, end - position <= seqLen + 1, let head = heads[shard << 32 | frameIndex],
               head.count >= end - position || head.count == frame.tokenCount {
                let take = min(head.count, end - position)
                out += head[0..<take]
                position += take
                continue
            }
            let tokens = try frameTokens(shard: shard, frame: frameIndex)
            let take = min(tokens.count - from, end - position)
            out += tokens[from..<(from + take)]
            position += take
        }
        return out
    }

    private func frameTokens(shard: Int, frame: Int) throws -> [UInt32] {
        if let i = cache.lastIndex(where: { $0.shard == shard && $0.frame == frame }) {
            let hit = cache[i]
            if i != cache.count - 1 { cache.remove(at: i); cache.append(hit) }
            return hit.tokens
        }
        // The evicted frame's array is reused (allocating 256 KiB per frame cost more than decompressing it).
        var tokens: [UInt32] = cache.count == cacheFrames ? cache.removeFirst().tokens : []
        try readers[shard].tokens(inFrame: frame, into: &tokens)
        framesDecompressed += 1
        heads[shard << 32 | frame] = Array(tokens.prefix(seqLen + 1))
        cache.append((shard, frame, tokens))
        return tokens
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
