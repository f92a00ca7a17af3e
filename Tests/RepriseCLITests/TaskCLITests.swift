import Foundation
import RepriseCore
import ReprisePipeline
import XCTest

/// Data preparation split into tasks that run as separate processes of the real binary.
extension CLITests {
    /// Runs the binary with extra environment variables (SLURM's), waiting for it.
    @discardableResult
    func reprise(_ args: [String], environment: [String: String]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        p.standardOutput = out
        let errPath = root + "/stderr-\(UInt32.random(in: 0...UInt32.max)).txt"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { unlink(errPath) }
        p.standardError = FileHandle(forWritingAtPath: errPath)
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let err = FileManager.default.contents(atPath: errPath) ?? Data()
        return Result(status: p.terminationStatus, stdout: String(decoding: data, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    func testTasksAndMergeEndWithTheOutputsOfOneRun() throws {
        // Inputs: 12 files; file k belongs to task k mod 3. zz-copy.txt (task 0) repeats 32-jonah.txt (task 2),
        // zz-near.txt (task 2) nearly repeats 31-obadiah.txt (task 1), so deduplication crosses tasks.
        makeCorpus(files: 4, paragraphsPerFile: 150)
        try copyEmbeddedBooks()
        let jonah = try String(contentsOfFile: root + "/in/32-jonah.txt", encoding: .utf8)
        write("in/zz-copy.txt", jonah)
        let obadiah = try String(contentsOfFile: root + "/in/31-obadiah.txt", encoding: .utf8)
        write("in/zz-near.txt", obadiah.replacingOccurrences(of: "Edom", with: "Moab", options: [], range: obadiah.range(of: "Edom")))
        write("in/zz-bad.jsonl", "{\"text\": \"fine and long enough to keep, with the words of a line\"}\nnot json\n")
        write("in/zz-empty.txt", "")
        write("p.yaml", """
        work_dir: work
        stages:
          ingest:
            inputs: [in]
            config: {quality: {enabled: false}, repetition: {enabled: false}, min_chars: 60, docs_per_file: 100}
          tokenizer: {config: {vocab_size: 600, max_doc_chars: 5000}}
          pack: {config: {seq_len: 64, val_fraction: 0.2, shard_tokens: 6000}}
          schedules:
            ar: {objective: ar, epochs: 2, batch_size: 4, seed: 3}
        """)

        // One process.
        let single = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(single.status, 0, single.stderr)
        try FileManager.default.moveItem(atPath: root + "/work", toPath: root + "/single")
        let ingest = try JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: root + "/single/ingest/manifest.json")!) as! [String: Any]
        let dropped = (ingest["counts"] as! [String: Any])["dropped"] as! [String: Int]
        XCTAssertEqual(dropped["exact_duplicate"], 1, "\(dropped)")
        XCTAssertEqual(dropped["near_duplicate"], 1, "\(dropped)")
        XCTAssertNotNil(dropped["too_short"], "\(dropped)")
        XCTAssertGreaterThan(try tree("single/shards").keys.filter { $0.hasPrefix("train-") }.count, 2, "several train shards")

        // Round 1: tasks 2 and 0 at the same time, as separate processes; the merge names the missing task 1.
        let procs = try [2, 0].map { try launch(["run", "p.yaml", "--task", "\($0)", "--tasks", "3", "--quiet"]) }
        for p in procs { p.waitUntilExit(); XCTAssertEqual(p.terminationStatus, 0) }
        let early = try reprise(["run", "p.yaml", "--merge", "--quiet"])
        XCTAssertEqual(early.status, 1)
        XCTAssertTrue(early.stderr.contains("1 of 3 ingest shares missing or stale: task 1 (00001-of-00003) has not finished"), early.stderr)
        XCTAssertEqual(early.stderr.split(separator: "\n").count, 1, "one line: \(early.stderr)")

        // Task 1 from SLURM's variables (array 1-3: ids start at 1), killed at several points and rerun.
        let slurm = ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "3"]
        let started = Date()
        let first = try reprise(["run", "p.yaml", "--quiet"], environment: slurm)
        let duration = Date().timeIntervalSince(started)
        XCTAssertEqual(first.status, 0)
        XCTAssertTrue(first.stdout.contains("task 1 of 3: ingest share: 4 of 12 input files"), first.stdout)
        XCTAssertTrue(first.stdout.contains("task 1 of 3: pack share: waits for the merged ingest output and tokenizer"), first.stdout)
        let share = try tree("work/tasks/00001-of-00003")
        XCTAssertEqual(share.keys.sorted(), ["ingest/candidates.bin.zst", "ingest/manifest.json", "ingest/pretokens.bin.zst"])
        for fraction in [0.2, 0.5, 0.8] {
            let p = try launch(["run", "p.yaml", "--task", "1", "--tasks", "3", "--force", "--quiet"])
            usleep(useconds_t(duration * fraction * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertEqual(try reprise(["run", "p.yaml", "--task", "1", "--tasks", "3", "--quiet"]).status, 0)
            XCTAssertTrue(try tree("work/tasks/00001-of-00003") == share, "after a kill at \(fraction) of the task the bytes differ")
        }
        for point in ["before:candidates.bin.zst@1", "before:pretokens.bin.zst@1"] {
            try reprise(["run", "p.yaml", "--task", "1", "--tasks", "3", "--force", "--quiet"], killedAt: point, leaving: "work/tasks")
            XCTAssertEqual(try reprise(["run", "p.yaml", "--task", "1", "--tasks", "3", "--quiet"]).status, 0)
            assertSameFiles(try tree("work/tasks/00001-of-00003"), share, "task 1 after a kill \(point)")
        }
        let again = try reprise(["run", "p.yaml", "--task", "1", "--tasks", "3", "--quiet"])
        XCTAssertTrue(again.stdout.contains("task 1 of 3: ingest share: up to date"), again.stdout)

        // Merge: the documents and the tokenizer of one run, also after a merge killed in the tokenizer's files.
        try reprise(["run", "p.yaml", "--merge", "--quiet"], killedAt: "before:tokenizer.tiktoken@1", leaving: "work/tokenizer")
        let merge1 = try reprise(["run", "p.yaml", "--merge", "--quiet"])
        XCTAssertEqual(merge1.status, 0, merge1.stderr)
        XCTAssertTrue(merge1.stdout.contains("merge: pack: waits for the tasks' pack shares: run the 3 tasks again"), merge1.stdout)
        XCTAssertTrue(try tree("work/ingest") == (try tree("single/ingest")), "merged ingest output differs from one run")
        assertSameFiles(try tree("work/tokenizer"), try tree("single/tokenizer"), "merged tokenizer")

        // Round 2: tasks 0 and 2 encode; the merge names task 1, then task 1 runs and the merge packs.
        for t in [2, 0] {
            let r = try reprise(["run", "p.yaml", "--task", "\(t)", "--tasks", "3", "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("task \(t) of 3: ingest share: up to date") && r.stdout.contains("task \(t) of 3: pack share: documents"), r.stdout)
        }
        let partial = try reprise(["run", "p.yaml", "--merge", "--quiet"])
        XCTAssertEqual(partial.status, 1)
        XCTAssertTrue(partial.stderr.contains("1 of 3 pack shares missing or stale: task 1 (00001-of-00003) has not encoded its pack share"), partial.stderr)
        XCTAssertEqual(try reprise(["run", "p.yaml", "--quiet"], environment: slurm).status, 0)
        try reprise(["run", "p.yaml", "--merge", "--quiet"], killedAt: "before:train-00001.shard@1", leaving: "work/shards")
        let merge2 = try reprise(["run", "p.yaml", "--merge", "--quiet"])
        XCTAssertEqual(merge2.status, 0, merge2.stderr)
        XCTAssertTrue(merge2.stdout.contains("merge: ingest: up to date") && merge2.stdout.contains("merge: schedule ar: ar, 2 epochs of"), merge2.stdout)
        assertSameFiles(try tree("work/shards"), try tree("single/shards"), "merged shards")
        assertSameFiles(try tree("work/schedules"), try tree("single/schedules"), "schedules")

        // The ordinary run finds everything up to date; a changed config makes the merge name stale shares.
        let whole = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertTrue(["ingest", "tokenizer", "pack", "schedule ar"].allSatisfy { whole.stdout.contains("\($0): up to date") }, whole.stdout)
        let p = try String(contentsOfFile: root + "/p.yaml", encoding: .utf8)
        write("p.yaml", p.replacingOccurrences(of: "min_chars: 60", with: "min_chars: 70"))
        let stale = try reprise(["run", "p.yaml", "--merge", "--quiet"])
        XCTAssertEqual(stale.status, 1)
        XCTAssertTrue(stale.stderr.contains("3 of 3 ingest shares missing or stale: task 0 (00000-of-00003) is stale: it was built with another ingest config"), stale.stderr)
    }

    /// `dedup.mode: disk`: the tasks write bucket files, run again for the bucket round, and the merge
    /// decides from the links; the outputs are those of one run (which deduplicates in memory).
    func testDiskDedupTasksEndWithTheOutputsOfOneRun() throws {
        makeCorpus(files: 4, paragraphsPerFile: 150)
        try copyEmbeddedBooks()
        let jonah = try String(contentsOfFile: root + "/in/32-jonah.txt", encoding: .utf8)
        write("in/zz-copy.txt", jonah)
        let obadiah = try String(contentsOfFile: root + "/in/31-obadiah.txt", encoding: .utf8)
        write("in/zz-near.txt", obadiah.replacingOccurrences(of: "Edom", with: "Moab", options: [], range: obadiah.range(of: "Edom")))
        let pipeline = """
        work_dir: work
        stages:
          ingest:
            inputs: [in]
            config: {quality: {enabled: false}, repetition: {enabled: false}, min_chars: 60, docs_per_file: 100, dedup: {mode: MODE, buckets: 4}}
          tokenizer: {config: {vocab_size: 600, max_doc_chars: 5000, max_pre_tokens: 700}}
          pack: {config: {seq_len: 64, val_fraction: 0.2, shard_tokens: 6000}}
          schedules:
            ar: {objective: ar, epochs: 2, batch_size: 4, seed: 3}
        """
        write("p.yaml", pipeline.replacingOccurrences(of: "MODE", with: "memory"))
        XCTAssertEqual(try reprise(["run", "p.yaml", "--quiet"]).status, 0)
        // max_pre_tokens bites: the tokenizer trained on at most 700 of the corpus's distinct pre-tokens.
        let trainedOn = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/work/tokenizer/manifest.json"))) as? [String: Any])
        let distinct = try XCTUnwrap(trainedOn["distinct_pre_tokens"] as? Int)
        XCTAssertLessThanOrEqual(distinct, 700)
        XCTAssertGreaterThan(distinct, 300)
        let all = try reprise(["tokenizer", "train", "work/ingest", "--vocab-size", "600", "--max-doc-chars", "5000", "-o", "unlimited", "--quiet"])
        XCTAssertEqual(all.status, 0, all.stderr)
        let unlimited = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/unlimited/manifest.json"))) as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(unlimited["distinct_pre_tokens"] as? Int), 700, "the corpus has more distinct pre-tokens than the limit")
        try FileManager.default.moveItem(atPath: root + "/work", toPath: root + "/single")
        write("p.yaml", pipeline.replacingOccurrences(of: "MODE", with: "disk"))

        // The tasks' pre-token counts in 3 partitions, summed partition by partition by the merge.
        let env = ["REPRISE_PRETOKEN_PARTITIONS": "3"]
        let task = { (t: Int) in try self.reprise(["run", "p.yaml", "--task", "\(t)", "--tasks", "3", "--quiet"], environment: env) }
        let first = try task(0)
        XCTAssertEqual(first.status, 0)
        XCTAssertTrue(first.stdout.contains("task 0 of 3: dedup buckets: waits for all 3 ingest shares"), first.stdout)
        XCTAssertEqual(try tree("work/tasks/00000-of-00003").keys.filter { $0.contains("dedup-bucket-") }.count, 4)
        XCTAssertEqual(try tree("work/tasks/00000-of-00003").keys.filter { $0.contains("pretokens-") }.count, 3)
        for t in [1, 2] { XCTAssertEqual(try task(t).status, 0) }
        let early = try reprise(["run", "p.yaml", "--merge", "--quiet"], environment: env)
        XCTAssertEqual(early.status, 1)
        // Task 2, the last of round 1, found all shares and ran its buckets at once.
        XCTAssertTrue(early.stderr.contains("2 of 3 bucket rounds missing or stale: task 0 (00000-of-00003) has not run its dedup buckets"), early.stderr)
        for t in [2, 0, 1] {
            let r = try task(t)
            XCTAssertTrue(r.stdout.contains("task \(t) of 3: ingest share: up to date"), r.stdout)
            XCTAssertTrue(r.stdout.contains(t == 2 ? "task 2 of 3: dedup buckets: up to date" : "task \(t) of 3: dedup buckets: "), r.stdout)
        }
        let merge1 = try reprise(["run", "p.yaml", "--merge", "--quiet"], environment: env)
        XCTAssertEqual(merge1.status, 0, merge1.stderr)
        XCTAssertTrue(merge1.stdout.contains("; disk deduplication: "), merge1.stdout)
        XCTAssertTrue(try tree("work/ingest") == (try tree("single/ingest")), "merged ingest output differs from one run")
        XCTAssertTrue(try tree("work/tokenizer") == (try tree("single/tokenizer")), "merged tokenizer differs from one run")
        for t in 0..<3 {
            let r = try task(t)
            XCTAssertTrue(r.stdout.contains("task \(t) of 3: dedup buckets: up to date") && r.stdout.contains("pack share: documents"), r.stdout)
        }
        XCTAssertEqual(try reprise(["run", "p.yaml", "--merge", "--quiet"], environment: env).status, 0)
        XCTAssertTrue(try tree("work/shards") == (try tree("single/shards")), "merged shards differ from one run")
        XCTAssertTrue(try tree("work/schedules") == (try tree("single/schedules")), "schedules differ from one run")

        // Back to memory mode: the shares were built for disk buckets and are named stale.
        write("p.yaml", pipeline.replacingOccurrences(of: "MODE", with: "memory"))
        let stale = try reprise(["run", "p.yaml", "--merge", "--quiet"], environment: env)
        XCTAssertEqual(stale.status, 1)
        XCTAssertTrue(stale.stderr.contains("it was built for disk deduplication with 4 buckets, the config asks for deduplication in memory"), stale.stderr)
    }

    /// A bucket round of the previous format (version 1: edges between documents) is named stale by the
    /// merge, with both versions; running the task again rebuilds it and the merge then matches one run.
    func testAnOlderDedupRoundIsNamedStale() throws {
        makeCorpus(files: 4, paragraphsPerFile: 60)
        try copyEmbeddedBooks()
        let jonah = try String(contentsOfFile: root + "/in/32-jonah.txt", encoding: .utf8)
        write("in/zz-copy.txt", jonah)
        let pipeline = """
        work_dir: work
        stages:
          ingest:
            inputs: [in]
            config: {quality: {enabled: false}, repetition: {enabled: false}, min_chars: 60, dedup: {mode: MODE, buckets: 3}}
        """
        write("p.yaml", pipeline.replacingOccurrences(of: "MODE", with: "memory"))
        XCTAssertEqual(try reprise(["run", "p.yaml", "--quiet"]).status, 0)
        try FileManager.default.moveItem(atPath: root + "/work", toPath: root + "/single")
        write("p.yaml", pipeline.replacingOccurrences(of: "MODE", with: "disk"))
        let task = { (t: Int) in try self.reprise(["run", "p.yaml", "--task", "\(t)", "--tasks", "2", "--quiet"]) }
        for t in [0, 1, 0] { XCTAssertEqual(try task(t).status, 0) }
        write("work/tasks/00000-of-00002/dedup/manifest.json", """
        {"buckets":3,"edges":{"bytes":9,"documents":0,"file":"dedup-edges.bin.zst","sha256":"00"},"format":"reprise.task.dedup","records":0,"shares_hash":"00","task":0,"tasks":2,"version":1}
        """)
        let stale = try reprise(["run", "p.yaml", "--merge", "--quiet"])
        XCTAssertEqual(stale.status, 1)
        XCTAssertTrue(stale.stderr.contains("task 0 (00000-of-00002)'s dedup buckets are stale: ") &&
                      stale.stderr.contains("is reprise.task.dedup version 1, this build reads version 3"), stale.stderr)
        let rerun = try task(0)
        XCTAssertTrue(rerun.stdout.contains("task 0 of 2: dedup buckets: 2 of 3 buckets"), rerun.stdout)
        let merge = try reprise(["run", "p.yaml", "--merge", "--quiet"])
        XCTAssertEqual(merge.status, 0, merge.stderr)
        XCTAssertTrue(merge.stdout.contains("entries in flight") && merge.stdout.contains("runs spilled"), merge.stdout)
        XCTAssertTrue(try tree("work/ingest") == (try tree("single/ingest")), "merged ingest output differs from one run")
    }

    func testTaskOutOfRangeIsAUsageError() throws {
        let r = try reprise(["run", "p.yaml", "--task", "5", "--tasks", "2"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("--task 5 is out of range"), r.stderr)
    }
}
