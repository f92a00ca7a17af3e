import Foundation
import RepriseCore
import RepriseShards
import XCTest

final class ShardDatasetTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "reprise-dataset-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Three shards with small frames; returns their paths and the whole token stream.
    func makeShards() throws -> ([String], [UInt32]) {
        var rng = SplitMix64(seed: 5)
        var stream: [UInt32] = []
        var paths: [String] = []
        for (s, size) in [1000, 37, 2500].enumerated() {
            let path = dir + "/train-\(s).shard"
            let w = try ShardWriter(path: path, dtype: .uint16, frameTokens: 100)
            let tokens = (0..<size).map { _ in UInt32(rng.next() % 60000) }
            try w.appendDocument(tokens)
            _ = try w.finish()
            stream += tokens
            paths.append(path)
        }
        return (paths, stream)
    }

    func testSequencesAreWindowsOverTheStreamAcrossShardsAndFrames() throws {
        let (paths, stream) = try makeShards()
        let ds = try ShardDataset(paths: paths, seqLen: 64)
        XCTAssertEqual(ds.sequenceCount, (stream.count - 1) / 64)
        for i in 0..<ds.sequenceCount {
            XCTAssertEqual(try ds.sequence(i), Array(stream[(i * 64)..<(i * 64 + 65)]), "sequence \(i)")
        }
        // Random order gives the same sequences (the frame cache is only a cache).
        var rng = SplitMix64(seed: 1)
        for _ in 0..<50 {
            let i = Int(rng.next() % UInt64(ds.sequenceCount))
            XCTAssertEqual(try ds.sequence(i), Array(stream[(i * 64)..<(i * 64 + 65)]))
        }
        XCTAssertThrowsError(try ds.sequence(ds.sequenceCount))
    }

    func testPartitionsAreDisjointEqualAndCoverAllButTheRemainder() {
        for (count, world) in [(100, 3), (7, 7), (5, 8), (1000, 4)] {
            let parts = (0..<world).map { ShardDataset.partition(count: count, rank: $0, world: world) }
            XCTAssertEqual(Set(parts.map(\.count)).count, 1, "equal shares")
            XCTAssertEqual(parts.reduce(0) { $0 + $1.count }, count - count % world)
            for (a, b) in zip(parts, parts.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
        }
    }

    func testStreamReadsAheadInOrderAndReportsDamage() throws {
        let (paths, stream) = try makeShards()
        let order = Array((0..<55).reversed())
        let s = try ShardDataset(paths: paths, seqLen: 64).stream(order, readAhead: 4)
        var got: [[UInt32]] = []
        while let seq = try s.next() { got.append(seq) }
        XCTAssertEqual(got, order.map { Array(stream[($0 * 64)..<($0 * 64 + 65)]) })

        // Damage a token frame of the last shard: reading that far is an error naming the shard.
        var bytes = [UInt8](FileManager.default.contents(atPath: paths[2])!)
        bytes[bytes.count / 2] ^= 0xFF
        _ = FileManager.default.createFile(atPath: paths[2], contents: Data(bytes))
        let damaged = try ShardDataset(paths: paths, seqLen: 64).stream(Array(0..<55))
        var failure: Error?
        do { while try damaged.next() != nil {} } catch { failure = error }
        XCTAssertNotNil(failure)
        XCTAssertTrue(failure?.oneLine.contains("train-2.shard") ?? false, failure?.oneLine ?? "")
    }

    func testCancelledStreamEndsItsThread() throws {
        let (paths, _) = try makeShards()
        let s = try ShardDataset(paths: paths, seqLen: 8).stream(Array(0..<400), readAhead: 2)
        XCTAssertNotNil(try s.next())
        usleep(50_000)
        XCTAssertFalse(s.isFinished, "the reader waits on a full queue")
        s.cancel()
        let deadline = Date().addingTimeInterval(5)
        while !s.isFinished && Date() < deadline { usleep(1000) }
        XCTAssertTrue(s.isFinished, "the producer thread must end instead of waiting on a full queue")
    }
}
