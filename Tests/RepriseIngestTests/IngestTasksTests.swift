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
}
