import Foundation
import RepriseCore
import RepriseShards
import XCTest

final class ShardTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "reprise-shards-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Documents of pseudo-random lengths with skewed token ids (so they compress a little, like text).
    private func documents(count: Int, maxToken: UInt32, seed: UInt64) -> [[UInt32]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            let n = 1 + Int(rng.next() % 900)
            return (0..<n).map { _ in
                let r = rng.next()
                return UInt32(truncatingIfNeeded: (r >> 8) % (r % 4 == 0 ? UInt64(maxToken) + 1 : 300))
            }
        }
    }

    private func write(_ docs: [[UInt32]], dtype: ShardDType, frameTokens: Int, name: String = "a.shard") throws -> ShardSummary {
        let w = try ShardWriter(path: dir + "/" + name, dtype: dtype, frameTokens: frameTokens)
        for d in docs { try w.appendDocument(d) }
        return try w.finish()
    }

    private func expectError(_ body: () throws -> Void, containing parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
        } catch {
            for p in parts {
                XCTAssertTrue(error.oneLine.contains(p), "error \"\(error.oneLine)\" lacks \"\(p)\"", file: file, line: line)
            }
        }
    }

    private func roundTrip(dtype: ShardDType) throws {
        let docs = documents(count: 60, maxToken: dtype.maxToken, seed: 11)
        let all = docs.flatMap { $0 }
        let summary = try write(docs, dtype: dtype, frameTokens: 1000)
        let path = dir + "/a.shard"
        XCTAssertEqual(summary.tokenCount, all.count)
        XCTAssertEqual(summary.frameCount, (all.count + 999) / 1000)
        XCTAssertEqual(summary.documentCount, docs.count)
        XCTAssertEqual(summary.byteSize, try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        XCTAssertEqual(summary.sha256, try Hashing.sha256Hex(file: path))

        let r = try ShardReader(path: path)
        XCTAssertEqual(r.dtype, dtype)
        XCTAssertEqual(r.version, 1)
        XCTAssertEqual(r.frameTokens, 1000)
        XCTAssertEqual(r.tokenCount, all.count)
        XCTAssertEqual(try r.tokens(in: 0..<all.count), all)
        XCTAssertEqual(try ShardReader.verify(path: path), summary)
        let dirty = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        XCTAssertEqual(dirty, ["a.shard"], "no temporary files left behind")
    }

    func testRoundTripUInt16() throws { try roundTrip(dtype: .uint16) }
    func testRoundTripUInt32() throws { try roundTrip(dtype: .uint32) }

    func testUInt16RejectsLargeTokenIds() throws {
        let w = try ShardWriter(path: dir + "/big.shard", dtype: .uint16, frameTokens: 16)
        expectError({ try w.append([1, 2, 70_000]) }, containing: ["70000", "position 2", "uint32"])
        XCTAssertEqual(ShardDType.forVocabulary(size: 65_536), .uint16)
        XCTAssertEqual(ShardDType.forVocabulary(size: 65_537), .uint32)
    }

    func testRandomAccessAcrossFrameBoundaries() throws {
        let docs = documents(count: 40, maxToken: 50_000, seed: 3)
        let all = docs.flatMap { $0 }
        _ = try write(docs, dtype: .uint16, frameTokens: 257)
        let r = try ShardReader(path: dir + "/a.shard")
        XCTAssertEqual(r.frames.count, (all.count + 256) / 257)
        // Ranges inside one frame, ending or starting on a boundary, and spanning several frames.
        var ranges: [Range<Int>] = [0..<0, 0..<1, 0..<257, 256..<258, 257..<514, 100..<900, (all.count - 1)..<all.count, 5..<5]
        var rng = SplitMix64(seed: 99)
        for _ in 0..<200 {
            let a = Int(rng.next() % UInt64(all.count))
            let b = a + Int(rng.next() % UInt64(min(2000, all.count - a) + 1))
            ranges.append(a..<b)
        }
        for range in ranges {
            XCTAssertEqual(try r.tokens(in: range), Array(all[range]), "range \(range)")
        }
        for i in r.frames.indices {
            XCTAssertEqual(try r.tokens(inFrame: i), Array(all[r.frames[i].tokenRange]))
        }
        expectError({ _ = try r.tokens(in: 0..<(all.count + 1)) }, containing: ["a.shard", "outside"])
    }

    func testDocumentBoundaries() throws {
        let path = dir + "/docs.shard"
        let w = try ShardWriter(path: path, dtype: .uint32, frameTokens: 4)
        try w.appendDocument([1, 2, 3])
        w.startDocument()          // an empty document leaves no start
        try w.appendDocument([4, 5, 6, 7, 8])
        try w.append([9])          // continues the same document
        try w.appendDocument([10])
        let s = try w.finish()
        XCTAssertEqual(s.documentCount, 3)
        let r = try ShardReader(path: path)
        XCTAssertEqual(r.documentStarts, [0, 3, 9])
        XCTAssertEqual(try r.tokens(in: 0..<10), Array(1...10))
        XCTAssertEqual(r.frames.map(\.tokenCount), [4, 4, 2])
    }

    func testEmptyShard() throws {
        let s = try write([], dtype: .uint16, frameTokens: 8)
        XCTAssertEqual(s.tokenCount, 0)
        let r = try ShardReader(path: dir + "/a.shard")
        XCTAssertEqual(r.frames.count, 0)
        XCTAssertEqual(try r.tokens(in: 0..<0), [])
    }

    func testZstdCLIDecodesTheRawTokenArray() throws {
        let zstd = "/usr/bin/zstd"
        guard FileManager.default.isExecutableFile(atPath: zstd) else { throw XCTSkip("no \(zstd)") }
        for dtype in ShardDType.allCases {
            let docs = documents(count: 30, maxToken: dtype.maxToken, seed: 5)
            let all = docs.flatMap { $0 }
            _ = try write(docs, dtype: dtype, frameTokens: 500, name: "\(dtype.name).shard")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: zstd)
            p.arguments = ["-dc", dir + "/\(dtype.name).shard"]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let out = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
            var raw: [UInt8] = []
            for t in all {
                if dtype == .uint16 {
                    raw += [UInt8(t & 0xFF), UInt8(t >> 8)]
                } else {
                    raw += [UInt8(t & 0xFF), UInt8((t >> 8) & 0xFF), UInt8((t >> 16) & 0xFF), UInt8(t >> 24)]
                }
            }
            XCTAssertEqual([UInt8](out), raw, dtype.name)

            let t = Process()  // `zstd -t` checks every frame's checksum and skips the metadata frames
            t.executableURL = URL(fileURLWithPath: zstd)
            t.arguments = ["-q", "-t", dir + "/\(dtype.name).shard"]
            try t.run()
            t.waitUntilExit()
            XCTAssertEqual(t.terminationStatus, 0)
        }
    }

    func testFlippedByteInTokenFrameIsAnErrorNamingTheFrame() throws {
        let docs = documents(count: 40, maxToken: 60_000, seed: 8)
        _ = try write(docs, dtype: .uint16, frameTokens: 1000)
        let path = dir + "/a.shard"
        let frames = try ShardReader(path: path).frames
        XCTAssertGreaterThan(frames.count, 3)
        let target = 2
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[frames[target].offset + frames[target].compressedSize / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let r = try ShardReader(path: path)  // header and index are intact
        XCTAssertNoThrow(try r.tokens(in: frames[1].tokenRange))
        XCTAssertNoThrow(try r.tokens(in: frames[3].tokenRange))
        expectError({ _ = try r.tokens(in: frames[target].tokenRange) }, containing: ["a.shard", "frame 2 "])
        expectError({ _ = try r.tokens(in: 0..<r.tokenCount) }, containing: ["a.shard", "frame 2 "])
        expectError({ try ShardReader.verify(path: path) }, containing: ["a.shard", "frame 2 "])
    }

    func testFlippedByteInIndexIsAnError() throws {
        _ = try write(documents(count: 20, maxToken: 60_000, seed: 2), dtype: .uint16, frameTokens: 1000)
        let path = dir + "/a.shard"
        let r = try ShardReader(path: path)
        let indexAt = r.frames.last!.offset + r.frames.last!.compressedSize
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[indexAt + 40] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        expectError({ _ = try ShardReader(path: path) }, containing: ["a.shard", "index", "SHA-256"])
    }

    func testTruncatedFileIsAnErrorNamingTheFrame() throws {
        _ = try write(documents(count: 40, maxToken: 60_000, seed: 9), dtype: .uint16, frameTokens: 1000)
        let path = dir + "/a.shard"
        let frames = try ShardReader(path: path).frames
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // Cut inside frame 3.
        try Data(bytes[0..<(frames[3].offset + 10)]).write(to: URL(fileURLWithPath: path))
        expectError({ _ = try ShardReader(path: path) }, containing: ["a.shard", "truncated", "frame 3"])
        // Cut right after frame 3: the index and trailer are gone.
        try Data(bytes[0..<(frames[3].offset + frames[3].compressedSize)]).write(to: URL(fileURLWithPath: path))
        expectError({ _ = try ShardReader(path: path) }, containing: ["a.shard", "truncated", "frame 4"])
        // Cut to less than a header.
        try Data(bytes[0..<10]).write(to: URL(fileURLWithPath: path))
        expectError({ _ = try ShardReader(path: path) }, containing: ["a.shard", "truncated"])
    }

    func testNotAShardAndFutureVersionAreErrors() throws {
        let path = dir + "/x.shard"
        try Data((0..<100).map { UInt8($0) }).write(to: URL(fileURLWithPath: path))
        expectError({ _ = try ShardReader(path: path) }, containing: ["x.shard", "not a Reprise shard"])

        _ = try write([[1, 2, 3]], dtype: .uint16, frameTokens: 8)
        let good = dir + "/a.shard"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        bytes[16] = 9  // version field of the header payload
        try Data(bytes).write(to: URL(fileURLWithPath: good))
        expectError({ _ = try ShardReader(path: good) }, containing: ["a.shard", "version 9"])
    }

    func testSameInputGivesSameBytes() throws {
        let docs = documents(count: 50, maxToken: 65_535, seed: 21)
        let a = try write(docs, dtype: .uint16, frameTokens: 700, name: "one.shard")
        let b = try write(docs, dtype: .uint16, frameTokens: 700, name: "two.shard")
        XCTAssertEqual(a.sha256, b.sha256)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/one.shard")),
                       try Data(contentsOf: URL(fileURLWithPath: dir + "/two.shard")))
        // Appending in different chunkings gives the same file too.
        let w = try ShardWriter(path: dir + "/three.shard", dtype: .uint16, frameTokens: 700)
        for d in docs {
            w.startDocument()
            for t in d { try w.append([t]) }
        }
        XCTAssertEqual(try w.finish().sha256, a.sha256)
    }

    func testAbandonedWriterLeavesNoFile() throws {
        do {
            let w = try ShardWriter(path: dir + "/gone.shard", dtype: .uint16, frameTokens: 8)
            try w.append(Array(0..<100))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }
}

/// The dataset manifest's totals are checked against each other and against the shards' own indexes.
final class DatasetManifestTests: XCTestCase {
    func testInconsistentTotalsAndShardCountsAreRefused() throws {
        let dir = NSTemporaryDirectory() + "reprise-dataset-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var split = SplitSummary()
        for i in 0..<2 {
            let w = try ShardWriter(path: dir + "/train-0000\(i).shard", dtype: .uint16, frameTokens: 64)
            for d in 0..<3 { try w.appendDocument((0..<(50 + 10 * d)).map { UInt32($0 % 90) }) }
            let r = try w.finish()
            split.shards.append(ShardEntry(file: "train-0000\(i).shard", tokens: r.tokenCount, documents: 3, bytes: r.byteSize, sha256: r.sha256))
            split.tokens += r.tokenCount
            split.documents += 3
        }
        var config = PackConfig()
        config.seqLen = 16
        split.sequences = (split.tokens - 1) / 16
        let m = PackManifest(config: config, configHash: "c", inputHash: "i", ingestManifestSha256: "x", tokenizerSha256: "t",
                             docsDir: "docs", tokenizerDir: "tok", vocabSize: 100, dtype: "uint16", endOfTextId: 99,
                             train: split, val: SplitSummary())
        XCTAssertEqual(m.inconsistencies, [])
        XCTAssertNoThrow(try m.checkShards(dir))

        var raised = m
        raised.train.sequences += 7
        XCTAssertEqual(raised.inconsistencies, ["train.sequences is \(m.train.sequences + 7), (tokens - 1) / seq_len = \(m.train.sequences)"])
        raised = m
        raised.train.tokens += 16
        XCTAssertEqual(raised.inconsistencies.first, "train.tokens is \(m.train.tokens + 16), the sum over its shards = \(m.train.tokens)")
        raised = m
        raised.dtype = "uint32"
        XCTAssertEqual(raised.inconsistencies, ["dtype is uint32, for vocab_size 100 = uint16"])
        try AtomicFileWriter.write(try CanonicalJSON.encode(raised), to: dir + "/manifest.json")
        XCTAssertThrowsError(try PackManifest.load(dir)) { XCTAssertTrue($0.oneLine.contains("\(dir)/manifest.json: dtype is uint32"), $0.oneLine) }

        // Raised consistently in the manifest: only the shard's index tells.
        raised = m
        raised.train.shards[1].tokens += 100
        raised.train.tokens += 100
        raised.train.sequences = (raised.train.tokens - 1) / 16
        XCTAssertEqual(raised.inconsistencies, [])
        XCTAssertThrowsError(try raised.dataset(dir, split: "train")) {
            XCTAssertTrue($0.oneLine.contains("\(dir)/train-00001.shard: \(m.train.shards[1].tokens) tokens, the manifest says \(m.train.shards[1].tokens + 100)"), $0.oneLine)
        }
    }
}
