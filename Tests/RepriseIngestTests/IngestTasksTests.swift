import Foundation
import RepriseCore
@testable import RepriseIngest
import XCTest

/// Ingest split into tasks and merged writes the bytes of one ingest over all inputs.
final class IngestTasksTests: XCTestCase {
    /// Every input kind, duplicates and near duplicates in files that fall to other tasks, filter drops, a
    /// failing file and an empty one.
    private func corpus(_ s: Scratch) throws {
        for i in 0..<9 { s.write("a/doc\(i).txt", englishParagraphs(3, seed: UInt64(i))) }
        s.write("b/copy-of-doc1.txt", englishParagraphs(3, seed: 1))
        var near = englishParagraphs(3, seed: 2)
        near.replaceSubrange(near.range(of: " the ")!, with: " a ")
        s.write("b/near-doc2.txt", near)
        s.write("b/short.txt", "Too short.")
        s.write("b/empty.txt", "")
        var jsonl = ""
        for i in 0..<25 {
            var rec: [UInt8] = []
            JSONBytes.appendString(englishParagraphs(2, seed: 100 + UInt64(i % 20)), to: &rec)
            jsonl += "{\"text\": \(String(decoding: rec, as: UTF8.self)), \"n\": \(i), \"reason\": \"meta\"}\n"
        }
        jsonl += "broken line\n"
        s.write("c/data.jsonl", jsonl)
        s.write("c/copy.jsonl.zst", try ZstdEncoder.compress(Array(jsonl.utf8)))
        s.write("c/page.html", "<html><head><title>T</title></head><body><p>" + englishParagraphs(2, seed: 999) + "</p></body></html>")
        s.write("c/wiki.xml", "<mediawiki><page><title>A</title><ns>0</ns><revision><text>" + englishParagraphs(2, seed: 7)
                + "</text></revision></page><page><title>B</title><ns>0</ns><revision><text>#REDIRECT [[A]]</text></revision></page></mediawiki>")
    }

    func testTasksAndMergeWriteTheBytesOfOneRun() throws {
        let s = Scratch()
        try corpus(s)
        var config = IngestConfig()
        config.docsPerFile = 7
        config.minChars = 20
        let single = try s.ingest(output: "single", config: config)
        XCTAssertGreaterThan(single.counts.dropped["exact_duplicate"] ?? 0, 20)
        XCTAssertEqual(single.counts.dropped["near_duplicate"], 1)
        XCTAssertGreaterThan(single.outputs.count, 3)
        let expected = try s.snapshot("single")

        let list = try InputFiles.expand([s.inputDir])
        let paths = list.files, missing = list.missing
        for n in [1, 2, 3, 5] {
            var shares: [IngestShare] = [], dirs: [String] = []
            var counted = 0
            // Tasks in reverse order: nothing depends on the order they run in.
            for t in (0..<n).reversed() {
                let dir = s.root + "/tasks\(n)/\(t)"
                var o = Ingest.Options()
                o.quiet = true
                o.threads = 2
                let files = IngestTasks.files(ofTask: t, tasks: n, inputCount: paths.count).map { ($0, paths[$0]) }
                shares.insert(try IngestTasks.runShare(files: files, dir: dir, config: config, options: o) { _ in counted += 1 }, at: 0)
                dirs.insert(dir, at: 0)
            }
            let merged = try IngestTasks.merge(shares: shares, dirs: dirs, inputCount: paths.count, missing: missing,
                                               output: s.root + "/merged\(n)", config: config, quiet: true)
            XCTAssertEqual(merged, single, "\(n) tasks")
            XCTAssertTrue(try s.snapshot("merged\(n)") == expected, "\(n) tasks: the bytes differ from one run")
            // The documents passed to the counter are those that reach deduplication: kept plus duplicates.
            XCTAssertEqual(counted, single.counts.kept + single.counts.dropped["exact_duplicate"]! + single.counts.dropped["near_duplicate"]!)
            var duplicates = 0
            try IngestTasks.forEachDuplicate(s.root + "/merged\(n)") { _ in duplicates += 1 }
            XCTAssertEqual(duplicates, counted - single.counts.kept)
        }
    }

    func testADamagedShareIsNamed() throws {
        let s = Scratch()
        try corpus(s)
        let list = try InputFiles.expand([s.inputDir])
        let paths = list.files, missing = list.missing
        var o = Ingest.Options()
        o.quiet = true
        let files = IngestTasks.files(ofTask: 0, tasks: 1, inputCount: paths.count).map { ($0, paths[$0]) }
        let share = try IngestTasks.runShare(files: files, dir: s.root + "/t", config: Scratch.permissive, options: o)
        let path = s.root + "/t/" + IngestTasks.candidatesFile
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        bytes[bytes.count / 2] ^= 0x40
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        XCTAssertThrowsError(try IngestTasks.merge(shares: [share], dirs: [s.root + "/t"], inputCount: paths.count, missing: missing,
                                                   output: s.root + "/m", config: Scratch.permissive, quiet: true)) { e in
            XCTAssertTrue(e.oneLine.contains(IngestTasks.candidatesFile), e.oneLine)
        }
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes.prefix(bytes.count - 10)))
        XCTAssertThrowsError(try IngestTasks.merge(shares: [share], dirs: [s.root + "/t"], inputCount: paths.count, missing: missing,
                                                   output: s.root + "/m", config: Scratch.permissive, quiet: true)) { e in
            XCTAssertTrue(e.oneLine.contains("rerun the task"), e.oneLine)
        }
    }

    // MARK: Disk deduplication

    /// Runs the tasks with bucket files, the bucket round and the merge with component deduplication, as a
    /// partitioned run in disk mode does.
    private func diskRun(_ inputs: [String], root: String, config: IngestConfig, tasks n: Int, buckets: Int) throws -> IngestManifest {
        try diskRunDetailed(inputs, root: root, config: config, tasks: n, buckets: buckets).manifest
    }

    /// `diskRun` with the sort and merge sizes of rounds 1 and 2; also returns the merge's deduplicator and
    /// the link files.
    private func diskRunDetailed(_ inputs: [String], root: String, config: IngestConfig, tasks n: Int, buckets: Int,
                                 roundOneSort: Int = DiskDedup.defaultSortRecords, fanIn: Int = DiskDedup.defaultFanIn,
                                 roundTwoSort: Int = DiskDedup.defaultSortRecords, messageBytes: Int = DiskDedup.defaultMessageBytes)
        throws -> (manifest: IngestManifest, dedup: DiskDedup.LinkDeduplicator, linkFiles: [String]) {
        let list = try InputFiles.expand(inputs)
        var shares: [IngestShare] = [], dirs: [String] = []
        for t in 0..<n {
            let dir = root + "/tasks/\(t)"
            var o = Ingest.Options()
            o.quiet = true
            let files = IngestTasks.files(ofTask: t, tasks: n, inputCount: list.files.count).map { ($0, list.files[$0]) }
            shares.append(try IngestTasks.runShare(files: files, dir: dir, config: config, options: o, dedupBuckets: buckets,
                                                   dedupSortRecords: roundOneSort))
            dirs.append(dir)
        }
        var edgeFiles: [String] = []
        for t in (0..<n).reversed() {
            let path = root + "/links-\(t)/links.bin"
            _ = try DiskDedup.findLinks(dirs: dirs, buckets: Array(stride(from: t, to: buckets, by: n)), output: path,
                                        fanIn: fanIn, sortRecords: roundTwoSort)
            edgeFiles.append(path)
        }
        let dedup = try DiskDedup.LinkDeduplicator(linkFiles: edgeFiles, config: config.dedup, scratch: root + "/merge-scratch",
                                                   messageBytes: messageBytes, fanIn: fanIn)
        let manifest = try IngestTasks.merge(shares: shares, dirs: dirs, inputCount: list.files.count, missing: list.missing,
                                             output: root + "/merged", config: config, dedup: dedup, quiet: true)
        return (manifest, dedup, edgeFiles.reversed())
    }

    /// The mixed corpus with small output files, ingested in one process into "single": the config, its
    /// manifest and decisions.
    private func mixedCorpusInOneRun(_ s: Scratch) throws -> (config: IngestConfig, single: IngestManifest, expected: (kept: [String], dropped: [String])) {
        try corpus(s)
        var config = IngestConfig()
        config.docsPerFile = 7
        config.minChars = 20
        let single = try s.ingest([s.inputDir], output: "single", config: config)
        return (config, single, try decisions(s, "single"))
    }

    /// The partitioned run under `name` (its manifest `manifest`, its output in NAME/merged) decided and wrote
    /// what the one-process run in "single" did.
    private func assertSameAsOneRun(_ s: Scratch, _ name: String, _ manifest: IngestManifest, single: IngestManifest,
                                    expected: (kept: [String], dropped: [String])) throws {
        XCTAssertEqual(manifest, single, name)
        let got = try decisions(s, name + "/merged")
        XCTAssertEqual(got.kept, expected.kept, name + ": kept ids")
        XCTAssertEqual(got.dropped, expected.dropped, name + ": duplicate_of")
        XCTAssertTrue(try s.snapshot(name + "/merged") == s.snapshot("single"), name + ": bytes differ")
    }

    /// (id, reason, duplicate_of) of every excluded record, and the kept ids, in order.
    private func decisions(_ s: Scratch, _ output: String) throws -> (kept: [String], dropped: [String]) {
        let kept = try s.records(output).map { $0["id"] as! String }
        let dropped = try s.records(output, prefix: "excluded").map {
            "\($0["id"] as! String) \($0["reason"] as! String) \($0["duplicate_of"] as? String ?? "-")"
        }
        return (kept, dropped)
    }

    private func assertDiskMatchesMemory(_ s: Scratch, inputs: [String], config: IngestConfig, taskCounts: [Int],
                                         buckets: [Int], file: StaticString = #filePath, line: UInt = #line) throws {
        let single = try s.ingest(inputs, output: "single", config: config)
        let expected = try s.snapshot("single")
        let expectedDecisions = try decisions(s, "single")
        for n in taskCounts {
            for b in buckets {
                let out = "disk-\(n)-\(b)"
                let merged = try diskRun(inputs, root: s.root + "/" + out, config: config, tasks: n, buckets: b)
                XCTAssertEqual(merged, single, "\(n) tasks, \(b) buckets", file: file, line: line)
                let got = try decisions(s, out + "/merged")
                XCTAssertEqual(got.kept, expectedDecisions.kept, "\(n) tasks, \(b) buckets: kept ids", file: file, line: line)
                XCTAssertEqual(got.dropped, expectedDecisions.dropped, "\(n) tasks, \(b) buckets: duplicate_of", file: file, line: line)
                XCTAssertTrue(try s.snapshot(out + "/merged") == expected, "\(n) tasks, \(b) buckets: bytes differ", file: file, line: line)
            }
        }
    }

    /// Replaces `count` words of `text` (chosen by `seed`) with words no other text has.
    private func mutate(_ text: String, _ count: Int, seed: UInt64) -> String {
        var words = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        var rng = SplitMix64(seed: seed)
        for k in 0..<count { words[Int(rng.next() % UInt64(words.count))] = "zq\(seed)x\(k)" }
        return words.joined(separator: " ")
    }

    /// Planted near duplicates: chains (each text a few words off the one before it, so neighbours are near
    /// duplicates and the ends are not), clusters of variants of one text, exact copies of kept and of
    /// dropped texts, spread over many files so that every group crosses task boundaries.
    func testDiskDedupDecidesAsMemoryOnPlantedNearDuplicates() throws {
        let s = Scratch()
        var docs: [String] = []
        for c in 0..<6 {
            var t = englishParagraphs(4, seed: 500 + UInt64(c))
            docs.append(t)
            for step in 0..<6 {
                t = mutate(t, 3 + c % 3, seed: UInt64(c * 100 + step))
                docs.append(t)
            }
        }
        for c in 0..<5 {
            let base = englishParagraphs(4, seed: 700 + UInt64(c))
            docs.append(base)
            for v in 0..<8 { docs.append(mutate(base, 1 + v % 4, seed: UInt64(9000 + c * 10 + v))) }
        }
        for c in 0..<20 { docs.append(englishParagraphs(3, seed: 2000 + UInt64(c))) }
        let copies = (0..<12).map { docs[($0 * 13) % docs.count] }
        docs += copies
        // Deterministic shuffle, then 16 JSONL files.
        var rng = SplitMix64(seed: 42)
        for i in stride(from: docs.count - 1, to: 0, by: -1) { docs.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        for f in 0..<16 {
            var jsonl = ""
            for (i, d) in docs.enumerated() where i % 16 == f {
                var rec: [UInt8] = []
                JSONBytes.appendString(d, to: &rec)
                jsonl += "{\"id\": \"d\(i)\", \"text\": \(String(decoding: rec, as: UTF8.self))}\n"
            }
            s.write(String(format: "f%02d.jsonl", f), jsonl)
        }
        var config = IngestConfig()
        config.docsPerFile = 9
        let single = try s.ingest(output: "probe", config: config)
        XCTAssertGreaterThan(single.counts.dropped["near_duplicate"] ?? 0, 30)
        XCTAssertGreaterThan(single.counts.dropped["exact_duplicate"] ?? 0, 3)
        // Some chain end survives: the in-order rule compares with kept documents only.
        XCTAssertGreaterThan(single.counts.kept, 20 + 11)
        try assertDiskMatchesMemory(s, inputs: [s.inputDir], config: config, taskCounts: [1, 2, 3, 4], buckets: [1, 5])
        var noExact = config
        noExact.dedup.exact = false
        try assertDiskMatchesMemory(s, inputs: [s.inputDir], config: noExact, taskCounts: [3], buckets: [4])
    }

    /// Chains of near duplicates that each cross one file boundary (the last documents of file f, the first
    /// of file f + 1, which another task reads): the merge decides as memory mode does while holding the
    /// keys of about one chain at a time, not of every chain.
    func testTheMergeHoldsOnlyTheKeysStillOpen() throws {
        let s = Scratch()
        let files = 16, filler = 6
        var texts = [[String]](repeating: [], count: files)
        for f in 0..<files {
            for i in 0..<filler { texts[f].append(englishParagraphs(3, seed: 5000 + UInt64(f * 100 + i))) }
        }
        for f in 0..<(files - 1) {
            var t = englishParagraphs(4, seed: 8000 + UInt64(f))
            var chain: [String] = []
            for step in 0..<4 {
                chain.append(t)
                t = mutate(t, 2, seed: UInt64(60_000 + f * 10 + step))
            }
            texts[f] += chain[0..<2]
            texts[f + 1].insert(contentsOf: chain[2..<4], at: 0)
        }
        for f in 0..<files {
            var jsonl = ""
            for (i, d) in texts[f].enumerated() {
                var rec: [UInt8] = []
                JSONBytes.appendString(d, to: &rec)
                jsonl += "{\"id\": \"f\(f)-\(i)\", \"text\": \(String(decoding: rec, as: UTF8.self))}\n"
            }
            s.write(String(format: "f%02d.jsonl", f), jsonl)
        }
        var config = IngestConfig()
        config.docsPerFile = 11
        let single = try s.ingest([s.inputDir], output: "single", config: config)
        XCTAssertGreaterThanOrEqual(single.counts.dropped["near_duplicate"] ?? 0, 30, "most chain members are near duplicates")
        let expected = try decisions(s, "single")
        for n in [2, 4] {
            let run = try diskRunDetailed([s.inputDir], root: s.root + "/disk\(n)", config: config, tasks: n, buckets: 3)
            try assertSameAsOneRun(s, "disk\(n)", run.manifest, single: single, expected: expected)
            // Fillers share no key; a chain member a few words off its neighbour almost always shares a band.
            XCTAssertLessThanOrEqual(run.dedup.linked, 4 * (files - 1), "\(n) tasks: no filler shares a key")
            XCTAssertGreaterThanOrEqual(run.dedup.linked, 3 * (files - 1), "\(n) tasks: chain members share keys")
            XCTAssertEqual(run.dedup.open, 0, "every key closed at its last document")
            // 15 chains of up to 11 shared keys each; a chain's keys are open only while the merge is inside it.
            XCTAssertGreaterThan(run.dedup.sharedKeys, 8 * (files - 1))
            XCTAssertGreaterThan(run.dedup.peakOpen, 0)
            XCTAssertLessThanOrEqual(run.dedup.peakOpen, 11, "\(n) tasks: at most one chain's keys open at once (\(run.dedup.sharedKeys) shared keys)")
            XCTAssertEqual(run.dedup.spilledRuns, 0, "the default memory holds every message")
            XCTAssertFalse(FileManager.default.fileExists(atPath: s.root + "/disk\(n)/merge-scratch"), "scratch directory removed")
        }
    }

    /// The merge with room for one message in memory: every message goes to a scratch run, more runs than the
    /// fan-in are merged into one, and the decisions and bytes are those of memory mode; memory holds at most
    /// one message (its bytes) at a time.
    func testTheMergeSpillsMessagesAndDecidesTheSame() throws {
        let s = Scratch()
        let (config, single, expected) = try mixedCorpusInOneRun(s)
        XCTAssertGreaterThan((single.counts.dropped["near_duplicate"] ?? 0) + (single.counts.dropped["exact_duplicate"] ?? 0), 3)
        for n in [1, 3] {
            let run = try diskRunDetailed([s.inputDir], root: s.root + "/spill\(n)", config: config, tasks: n, buckets: 2,
                                          fanIn: 2, messageBytes: 1)
            try assertSameAsOneRun(s, "spill\(n)", run.manifest, single: single, expected: expected)
            XCTAssertGreaterThan(run.dedup.spilledRuns, 4, "\(n) tasks: every message spilled, runs compacted")
            XCTAssertLessThan(run.dedup.peakMessageBytes, 4096, "\(n) tasks: one message in memory at a time")
            XCTAssertEqual(run.dedup.open, 0)
            XCTAssertFalse(FileManager.default.fileExists(atPath: s.root + "/spill\(n)/merge-scratch"), "scratch directory removed")
        }
    }

    /// Round 1 sorting a handful of records at a time leaves many sorted runs in every bucket file; round 2
    /// merging two at a time (several passes through scratch files) and spilling its links every few records
    /// writes the same link files as with the default sizes, and the merge decides as memory mode does.
    func testRoundTwoMergesMoreRunsThanItsFanIn() throws {
        let s = Scratch()
        let (config, single, expected) = try mixedCorpusInOneRun(s)
        let plain = try diskRunDetailed([s.inputDir], root: s.root + "/plain", config: config, tasks: 3, buckets: 2)
        let small = try diskRunDetailed([s.inputDir], root: s.root + "/small", config: config, tasks: 3, buckets: 2,
                                        roundOneSort: 3, fanIn: 2, roundTwoSort: 5)
        // The bucket files of the small run hold many more runs than the fan-in.
        let runs = try (0..<3).map { try DiskDedup.sortedRuns(s.root + "/small/tasks/\($0)/" + DiskDedup.bucketFile(1)).count }
        XCTAssertGreaterThan(runs.reduce(0, +), 8, "\(runs)")
        XCTAssertEqual(try DiskDedup.sortedRuns(s.root + "/plain/tasks/0/" + DiskDedup.bucketFile(1)).count, 1)
        XCTAssertEqual(small.linkFiles.count, 3)
        for (a, b) in zip(plain.linkFiles, small.linkFiles) {
            XCTAssertEqual(FileManager.default.contents(atPath: a), FileManager.default.contents(atPath: b), b)
            let dir = (b as NSString).deletingLastPathComponent
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["links.bin"], "scratch files are removed")
        }
        XCTAssertGreaterThan(small.dedup.linked, 0)
        for (name, run) in [("plain", plain), ("small", small)] {
            try assertSameAsOneRun(s, name, run.manifest, single: single, expected: expected)
        }
    }

    /// A round-1 writer of 2,000 bucket files holds none of them open between its sorts (the usual limit is
    /// 1,024 open files), and every record lands in its bucket's file.
    func testBucketFilesAreNotHeldOpen() throws {
        let s = Scratch()
        func descriptors() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count }
        var config = DedupConfig()
        config.minhash = false
        let before = try descriptors()
        let writer = try DiskDedup.BucketWriter(dir: s.root + "/b", buckets: 2000, config: config, sortRecords: 100)
        for i in 0..<1000 { try writer.add(DedupKeys(exact: Key128(hi: UInt64(i) &* 0x9E37_79B9_7F4A_7C15, lo: UInt64(i))), position: UInt64(i)) }
        XCTAssertLessThanOrEqual(try descriptors(), before + 2, "2,000 bucket files, none held open")
        try writer.finish()
        let total = try (0..<2000).reduce(0) { $0 + (try DiskDedup.recordCount(s.root + "/b/" + DiskDedup.bucketFile($1), BucketRecord.self)) }
        XCTAssertEqual(total, 1000)
    }

    /// Runs merged with a small fan-in come out in order, whatever their number and lengths.
    func testRunMergeOrdersAnyNumberOfRuns() throws {
        let s = Scratch()
        var rng = SplitMix64(seed: 9)
        var all: [LinkRecord] = []
        var runs: [DiskDedup.Run] = []
        for r in 0..<23 {
            var run = (0..<Int(rng.next() % 40)).map { _ in
                LinkRecord(position: rng.next() % 500, kind: UInt16(rng.next() % 3), next: rng.next() % 2 == 0 ? LinkRecord.none : 500 + rng.next() % 500)
            }
            run.sort()
            all += run
            var bytes = [UInt8](repeating: 0, count: run.count * LinkRecord.size)
            bytes.withUnsafeMutableBytes { b in for (i, l) in run.enumerated() { l.store(to: b.baseAddress! + i * LinkRecord.size) } }
            let path = s.root + "/run-\(r).bin"
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            runs.append(DiskDedup.Run(path: path, offset: 0, count: run.count))
        }
        for fanIn in [2, 3, 64] {
            var got: [LinkRecord] = []
            try DiskDedup.mergeRuns(runs, fanIn: fanIn, scratch: s.root + "/scratch") { (l: LinkRecord) in got.append(l) }
            XCTAssertEqual(got, all.sorted(), "fan-in \(fanIn)")
            XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: s.root).contains { $0.hasPrefix("scratch") }, "fan-in \(fanIn): scratch files removed")
        }
        // A run out of order is an error naming the file, never a silent misorder.
        let bad = [LinkRecord(position: 5, kind: 0, next: 9), LinkRecord(position: 2, kind: 0, next: 9)]
        var bytes = [UInt8](repeating: 0, count: 2 * LinkRecord.size)
        bytes.withUnsafeMutableBytes { b in for (i, l) in bad.enumerated() { l.store(to: b.baseAddress! + i * LinkRecord.size) } }
        XCTAssertTrue(FileManager.default.createFile(atPath: s.root + "/bad.bin", contents: Data(bytes)))
        XCTAssertThrowsError(try DiskDedup.mergeRuns(runs + [DiskDedup.Run(path: s.root + "/bad.bin", offset: 0, count: 2)], fanIn: 64,
                                                     scratch: s.root + "/scratch") { (_: LinkRecord) in }) { e in
            XCTAssertTrue(e.oneLine.contains("bad.bin") && e.oneLine.contains("out of order"), e.oneLine)
        }
    }

    /// A link file cut short, or with links out of document order, is an error naming it, never other
    /// decisions.
    func testADamagedLinkFileIsNamed() throws {
        let s = Scratch()
        try corpus(s)
        var config = IngestConfig()
        config.minChars = 20
        let run = try diskRunDetailed([s.inputDir], root: s.root + "/d", config: config, tasks: 1, buckets: 2)
        let path = run.linkFiles[0]
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        let size = LinkRecord.size
        XCTAssertGreaterThanOrEqual(bytes.count, 2 * size)
        XCTAssertEqual(bytes.count % size, 0)
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes.prefix(bytes.count - 3)))
        XCTAssertThrowsError(try DiskDedup.LinkDeduplicator(linkFiles: [path], config: config.dedup, scratch: s.root + "/ms")) { e in
            XCTAssertTrue(e.oneLine.contains(path) && e.oneLine.contains("truncated"), e.oneLine)
        }
        // The last link first: out of document order.
        let swapped = Array(bytes.suffix(size)) + Array(bytes.dropLast(size))
        _ = FileManager.default.createFile(atPath: path, contents: Data(swapped))
        let list = try InputFiles.expand([s.inputDir])
        var o = Ingest.Options()
        o.quiet = true
        let share = try IngestTasks.runShare(files: list.files.enumerated().map { ($0.offset, $0.element) }, dir: s.root + "/t",
                                             config: config, options: o)
        XCTAssertThrowsError(try IngestTasks.merge(shares: [share], dirs: [s.root + "/t"], inputCount: list.files.count, missing: list.missing,
                                                   output: s.root + "/m", config: config,
                                                   dedup: try DiskDedup.LinkDeduplicator(linkFiles: [path], config: config.dedup, scratch: s.root + "/ms"),
                                                   quiet: true)) { e in
            XCTAssertTrue(e.oneLine.contains(path) && e.oneLine.contains("order"), e.oneLine)
        }
    }

    func testDiskDedupDecidesAsMemoryOnTheMixedCorpus() throws {
        let s = Scratch()
        try corpus(s)
        var config = IngestConfig()
        config.docsPerFile = 7
        config.minChars = 20
        try assertDiskMatchesMemory(s, inputs: [s.inputDir], config: config, taskCounts: [1, 2, 5], buckets: [1, 3])
    }

    func testDiskDedupDecidesAsMemoryOnTheEmbeddedCorpus() throws {
        let s = Scratch()
        let raw = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Corpora/raw").standardizedFileURL.path
        var config = IngestConfig()
        config.docsPerFile = 500
        try assertDiskMatchesMemory(s, inputs: [raw], config: config, taskCounts: [1, 3], buckets: [2])
    }

    func testDedupModeIsNotPartOfTheConfigHash() throws {
        var a = IngestConfig()
        var b = a
        b.dedup.mode = .disk
        b.dedup.buckets = 12
        XCTAssertEqual(try CanonicalJSON.hash(a), try CanonicalJSON.hash(b))
        a.dedup.threshold = 0.7
        XCTAssertNotEqual(try CanonicalJSON.hash(a), try CanonicalJSON.hash(b))
        XCTAssertFalse(DiskDedup.usesDisk(IngestConfig().dedup, inputBytes: 1 << 30))
        XCTAssertTrue(DiskDedup.usesDisk(IngestConfig().dedup, inputBytes: DiskDedup.autoBytes))
        XCTAssertTrue(DiskDedup.usesDisk(b.dedup, inputBytes: 10))
        XCTAssertEqual(DiskDedup.bucketCount(IngestConfig().dedup, inputBytes: 3 * DiskDedup.bytesPerBucket + 1), 4)
    }

    func testADamagedBucketFileIsNamed() throws {
        let s = Scratch()
        try corpus(s)
        let list = try InputFiles.expand([s.inputDir])
        var o = Ingest.Options()
        o.quiet = true
        var config = IngestConfig()
        config.minChars = 20
        _ = try IngestTasks.runShare(files: list.files.enumerated().map { ($0.offset, $0.element) }, dir: s.root + "/t",
                                     config: config, options: o, dedupBuckets: 2)
        let path = s.root + "/t/" + DiskDedup.bucketFile(1)
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        XCTAssertEqual(bytes.count % 26, 0)
        XCTAssertGreaterThan(bytes.count, 0)
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes.prefix(bytes.count - 3)))
        XCTAssertThrowsError(try DiskDedup.findLinks(dirs: [s.root + "/t"], buckets: [0, 1], output: s.root + "/edges.bin.zst")) { e in
            XCTAssertTrue(e.oneLine.contains(path) && e.oneLine.contains("truncated"), e.oneLine)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.root + "/edges.bin.zst"), "no edges file after a failure")
    }
}
