import Foundation
import RepriseCore
import RepriseTokenizer
import XCTest

final class PreTokenCountsFileTests: XCTestCase {
    let split: PreTokenSplitter = { let p = PreTokenizer(.cl100k); return { p.split($0, $1) } }()

    func docs(_ texts: [String]) -> [[UInt8]] { texts.map { Array($0.utf8) } }

    func testCountsRoundTripAndSumsOfPartsTrainTheSameTokenizer() throws {
        let corpus = (0..<200).map { "Document \($0): the quick brown fox \($0 % 7) jumps over the lazy dog, ünïcödé \($0 % 3) 日本語." }
        let whole = PreTokenCounter()
        whole.add(documents: docs(corpus), threads: 2, split: split)

        let dir = NSTemporaryDirectory() + "reprise-counts-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Three tasks count every third document; their files summed give the whole counts.
        let sum = PreTokenCounter()
        for t in 0..<3 {
            let part = PreTokenCounter()
            part.add(documents: docs(corpus.enumerated().filter { $0.offset % 3 == t }.map(\.element)), threads: 1, split: split)
            let path = dir + "/\(t).bin.zst"
            let first = try part.write(to: path)
            XCTAssertEqual(try part.write(to: path).sha256, first.sha256, "same counts, same bytes")
            let back = try PreTokenCounter.read(path: path)
            XCTAssertTrue(back.entries().elementsEqual(part.entries(), by: { $0.bytes == $1.bytes && $0.count == $1.count }))
            sum.merge(back)
        }
        XCTAssertTrue(sum.entries().elementsEqual(whole.entries(), by: { $0.bytes == $1.bytes && $0.count == $1.count }))
        XCTAssertEqual(sum.totalCount, whole.totalCount)

        // Taking out the documents dropped later leaves the counts of the others, zeros removed.
        let dropped = PreTokenCounter()
        dropped.add(documents: docs(Array(corpus[150...])), threads: 1, split: split)
        let kept = PreTokenCounter()
        kept.add(documents: docs(Array(corpus[..<150])), threads: 1, split: split)
        let left = try sum.subtracting(dropped)
        XCTAssertTrue(left.entries().elementsEqual(kept.entries(), by: { $0.bytes == $1.bytes && $0.count == $1.count }))
        XCTAssertEqual(left.distinctCount, kept.distinctCount)
        XCTAssertEqual(left.totalCount, kept.totalCount)
        let a = try BPETrainer.train(counts: left, vocabSize: 400, specialTokens: ["<|endoftext|>"])
        let b = try BPETrainer.train(counts: kept, vocabSize: 400, specialTokens: ["<|endoftext|>"])
        XCTAssertEqual(a.merges, b.merges)
        XCTAssertThrowsError(try dropped.subtracting(sum))

        // Damage is named.
        let path = dir + "/0.bin.zst"
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes.prefix(bytes.count - 5)))
        XCTAssertThrowsError(try PreTokenCounter.read(path: path)) { XCTAssertTrue($0.oneLine.contains(path), $0.oneLine) }
    }

    /// `max_pre_tokens`: the threshold keeps the most frequent pre-tokens, never more than the limit, pieces
    /// of equal count together; the threshold from the histograms of partitions is the whole's.
    func testThresholdKeepsTheMostFrequentPreTokens() throws {
        XCTAssertEqual(PreTokenCounter.threshold(histogram: [1: 10, 2: 4, 5: 1], limit: 100), 1, "everything fits")
        XCTAssertEqual(PreTokenCounter.threshold(histogram: [1: 10, 2: 4, 5: 1], limit: 5), 2, "counts 5 and 2: 5 pieces")
        XCTAssertEqual(PreTokenCounter.threshold(histogram: [1: 10, 2: 4, 5: 1], limit: 4), 3, "the 4 of count 2 go together: only count 5 stays")
        XCTAssertEqual(PreTokenCounter.threshold(histogram: [3: 2], limit: 1), 4, "nothing fits: nothing kept")
        let corpus = (0..<300).map { "Text \($0) of the threshold test, word\($0 % 17) and more \($0 % 5) \($0 * 7919)." }
        let whole = PreTokenCounter()
        whole.add(documents: docs(corpus), threads: 2, split: split)
        var histogram: [UInt64: Int] = [:]
        whole.addCountHistogram(into: &histogram)
        XCTAssertEqual(histogram.values.reduce(0, +), whole.distinctCount)
        let limit = whole.distinctCount / 3
        let t = PreTokenCounter.threshold(histogram: histogram, limit: limit)
        let kept = whole.keeping(minCount: t)
        XCTAssertLessThanOrEqual(kept.distinctCount, limit)
        XCTAssertGreaterThan(kept.distinctCount, 0)
        for e in whole.entries() {
            XCTAssertEqual(kept.count(of: e.bytes), e.count >= t ? e.count : 0)
        }
        var parts: [UInt64: Int] = [:]
        for p in 0..<4 { whole.partition(p, of: 4).addCountHistogram(into: &parts) }
        XCTAssertEqual(parts, histogram)
    }

    /// Counts split into partitions by a hash of the pre-token: every task puts a pre-token into the file of
    /// the same number, so summing partition by partition gives the whole counts, and partition 0 of 1 is
    /// the file `write(to:)` writes.
    func testPartitionedCountsSumToTheWhole() throws {
        let corpus = (0..<300).map { "Text \($0) of the partition test, word\($0 % 17) and more \($0 % 5) ünïcödé 日本語 \($0 * 7919)." }
        let whole = PreTokenCounter()
        whole.add(documents: docs(corpus), threads: 1, split: split)
        let dir = NSTemporaryDirectory() + "reprise-partitions-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let single = try whole.write(to: dir + "/one.bin.zst")
        let oneOfOne = try whole.write(partitions: 1, paths: [dir + "/one-of-one.bin.zst"])
        XCTAssertEqual(oneOfOne[0].sha256, single.sha256)
        let partitions = 4
        var paths: [[String]] = []
        for t in 0..<3 {
            let part = PreTokenCounter()
            part.add(documents: docs(corpus.enumerated().filter { $0.offset % 3 == t }.map(\.element)), threads: 1, split: split)
            let names = (0..<partitions).map { dir + "/t\(t)-p\($0).bin.zst" }
            let written = try part.write(partitions: partitions, paths: names)
            XCTAssertEqual(written.reduce(0) { $0 + $1.entries }, part.distinctCount)
            XCTAssertTrue(written.allSatisfy { $0.entries > 0 }, "every partition gets pre-tokens")
            paths.append(names)
        }
        let total = PreTokenCounter()
        var seen = Set<[UInt8]>()
        for p in 0..<partitions {
            let sum = PreTokenCounter()
            for t in 0..<3 { sum.merge(try PreTokenCounter.read(path: paths[t][p])) }
            // A pre-token lies in one partition only.
            for e in sum.entries() { XCTAssertTrue(seen.insert(e.bytes).inserted) }
            XCTAssertTrue(sum.entries().elementsEqual(whole.partition(p, of: partitions).entries(), by: { $0.bytes == $1.bytes && $0.count == $1.count }))
            total.merge(sum)
        }
        XCTAssertTrue(total.entries().elementsEqual(whole.entries(), by: { $0.bytes == $1.bytes && $0.count == $1.count }))
        XCTAssertEqual(total.totalCount, whole.totalCount)
    }
}
