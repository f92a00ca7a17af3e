import Foundation
import RepriseCore
import ReprisePipeline
import RepriseShards
import XCTest

/// End-to-end tests of the `reprise` binary.
final class CLITests: XCTestCase {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    static var binary: String {
        // The test bundle sits next to the products of the same build.
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [dir, dir.deletingLastPathComponent()].map { $0.appendingPathComponent("reprise").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    var root = ""
    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "reprise-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root + "/in", withIntermediateDirectories: true)
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: Self.binary), "build the binary first: swift build")
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    func launch(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Runs the binary with `args` in `root` (or its subdirectory `dir`), with `stdin` (a path, relative to
    /// `root` unless absolute) as its standard input, optionally as the unprivileged user `nobody` (through
    /// setpriv when this process is root, so that file modes apply).
    @discardableResult
    func reprise(_ args: [String], in dir: String? = nil, stdin: String? = nil, unprivileged: Bool = false) throws -> Result {
        let p = Process()
        if unprivileged && getuid() == 0 {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", Self.binary] + args
        } else {
            p.executableURL = URL(fileURLWithPath: Self.binary)
            p.arguments = args
        }
        p.currentDirectoryURL = URL(fileURLWithPath: dir.map { root + "/" + $0 } ?? root)
        if let stdin { p.standardInput = FileHandle(forReadingAtPath: stdin.hasPrefix("/") ? stdin : root + "/" + stdin) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Drain stderr on another thread so neither pipe can fill up and block the child.
        nonisolated(unsafe) var errData = Data()
        let t = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        t.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while t.isExecuting || !t.isFinished { usleep(1000) }
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    func write(_ name: String, _ text: String) {
        let path = root + "/" + name
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    func snapshot(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: root + "/" + dir) {
            out[name] = FileManager.default.contents(atPath: root + "/" + dir + "/" + name)
        }
        return out
    }

    /// Every file below `dir` (relative path → bytes), recursively.
    func tree(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let base = root + "/" + dir
        guard let e = FileManager.default.enumerator(atPath: base) else { return out }
        for case let path as String in e where !FileManager.default.isDirectory(base + "/" + path) {
            out[path] = FileManager.default.contents(atPath: base + "/" + path)
        }
        return out
    }

    /// Inputs big enough that ingest takes a noticeable time.
    func makeCorpus(files: Int, paragraphsPerFile: Int) {
        var rng = SplitMix64(seed: 9)
        let words = ["the", "of", "and", "to", "with", "that", "have", "be", "stone", "water", "field", "house",
                     "light", "road", "winter", "garden", "letter", "music", "bread", "mountain", "window", "story"]
        for f in 0..<files {
            var jsonl = ""
            for _ in 0..<paragraphsPerFile {
                var text = ""
                for s in 0..<12 {
                    let sentence = (0..<(8 + Int(rng.next() % 10))).map { _ in words[Int(rng.next() % UInt64(words.count))] }
                    text += (s == 0 ? "" : " ") + sentence.joined(separator: " ") + "."
                }
                jsonl += "{\"text\": \"\(text)\"}\n"
            }
            write("in/part\(String(format: "%03d", f)).jsonl", jsonl)
        }
    }

    func testKillAndRerunEndsWithTheSameBytesAsACleanRun() throws {
        makeCorpus(files: 6, paragraphsPerFile: 1000)
        let clean = try reprise(["ingest", "in", "-o", "clean", "--quiet"])
        XCTAssertEqual(clean.status, 0, clean.stderr)
        let expected = try tree("clean")
        XCTAssertTrue(expected.keys.contains("manifest.json"))
        let started = Date()
        _ = try reprise(["ingest", "in", "-o", "timing", "--quiet"])
        let duration = Date().timeIntervalSince(started)
        for fraction in [0.1, 0.4, 0.8] {
            let p = try launch(["ingest", "in", "-o", "killed", "--quiet"])
            usleep(useconds_t(duration * fraction * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let rerun = try reprise(["ingest", "in", "-o", "killed", "--quiet"])
            XCTAssertEqual(rerun.status, 0, rerun.stderr)
            assertSameFiles(try tree("killed"), expected, "after a kill at \(fraction) of the run")
        }
        // Kills in the middle of writing an output file and the manifest.
        for point in ["before:docs-00000.jsonl.zst@1", "before:manifest.json@1"] {
            try reprise(["ingest", "in", "-o", "killed", "--quiet"], killedAt: point, leaving: "killed")
            XCTAssertEqual(try reprise(["ingest", "in", "-o", "killed", "--quiet"]).status, 0)
            assertSameFiles(try tree("killed"), expected, "after a kill \(point)")
        }
    }

    func testStrictTurnsFailedInputsIntoAnErrorExit() throws {
        write("in/good.txt", "fine words here")
        write("in/bad.jsonl", "not json\n")
        write("loose.yaml", "quality: {enabled: false}\nrepetition: {enabled: false}\n")
        let relaxed = try reprise(["ingest", "in", "-o", "out", "--config", "loose.yaml"])
        XCTAssertEqual(relaxed.status, 0)
        XCTAssertTrue(relaxed.stderr.contains("in/bad.jsonl:1:1: not a JSON object"), relaxed.stderr)
        XCTAssertTrue(relaxed.stdout.contains("1 failed"), relaxed.stdout)
        let strict = try reprise(["ingest", "in", "-o", "out", "--strict"])
        XCTAssertEqual(strict.status, 1)
    }

    func testRunSkipsUpToDateStagesAndRebuildsOnChange() throws {
        write("in/a.txt", "Some text for the pipeline, long enough.")
        write("p.yaml", """
        work_dir: work
        stages:
          ingest:
            inputs: [in]
            config:
              quality: {enabled: false}
              repetition: {enabled: false}
        """)
        let first = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("ingest: 1 of 1 documents kept"), first.stdout)
        let second = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertTrue(second.stdout.contains("ingest: up to date"), second.stdout)
        write("in/b.txt", "Another document arrives.")
        let third = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertTrue(third.stdout.contains("ingest: 2 of 2 documents kept"), third.stdout)
        let forced = try reprise(["run", "p.yaml", "--quiet", "--force"])
        XCTAssertTrue(forced.stdout.contains("ingest: 2 of 2 documents kept"), forced.stdout)
        write("p.yaml", """
        work_dir: work
        stages:
          ingest:
            inputs: [in]
            config:
              min_chars: 30
              quality: {enabled: false}
              repetition: {enabled: false}
        """)
        let changed = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertTrue(changed.stdout.contains("ingest: 1 of 2 documents kept"), changed.stdout)
    }

    func testPipelineErrorsNameTheFileAndKey() throws {
        write("p.yaml", "work_dir: w\nstages:\n  ingest:\n    inputs: [in]\n    config:\n      dedup: {bandz: 4}\n")
        let r = try reprise(["run", "p.yaml"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("p.yaml") && r.stderr.contains("dedup.bandz"), r.stderr)
        write("q.yaml", "work_dir: w\nstages:\n  ingest:\n    inputs: [in]\n    config:\n      max_doc_bytes: lots\n")
        let q = try reprise(["run", "q.yaml"])
        XCTAssertNotEqual(q.status, 0)
        XCTAssertTrue(q.stderr.contains("error: q.yaml:6: stages.ingest.config.max_doc_bytes must be a whole number, found 'lots'"), q.stderr)
        XCTAssertFalse(q.stderr.contains("Scalar"), q.stderr)
        write("r.yaml", "work_dir: w\nstages:\n  ingest:\n    inputs: in\n")
        let r2 = try reprise(["run", "r.yaml"])
        XCTAssertTrue(r2.stderr.contains("r.yaml:4: stages.ingest.inputs must be a list, found 'in'"), r2.stderr)
        let missing = try reprise(["run", "nope.yaml"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nope.yaml"), missing.stderr)
    }

    /// Copies a few books of the embedded corpus (uncompressed ones) into in/: varied enough text that
    /// a few hundred merges exist.
    func copyEmbeddedBooks() throws {
        let kjv = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Corpora/raw/text/kjv").standardizedFileURL.path
        for book in ["08-ruth.txt", "31-obadiah.txt", "32-jonah.txt", "56-titus.txt"] {
            try FileManager.default.copyItem(atPath: kjv + "/" + book, toPath: root + "/in/" + book)
        }
    }

    func testTokenizerTrainIsDeterministicAndEncodeDecodeRoundTrips() throws {
        try copyEmbeddedBooks()
        write("extra.txt", "Café 日本語 emoji 🎉\r\n\ttabs 1234567 <|endoftext|>")
        let ingest = try reprise(["ingest", "in", "-o", "clean", "--quiet"])
        XCTAssertEqual(ingest.status, 0, ingest.stderr)
        for threads in ["1", "2"] {
            let r = try reprise(["tokenizer", "train", "clean", "extra.txt", "--vocab-size", "600", "-o", "tok\(threads)",
                                 "--threads", threads, "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let one = try snapshot("tok1"), two = try snapshot("tok2")
        XCTAssertEqual(one.keys.sorted(), ["manifest.json", "tokenizer.json", "tokenizer.tiktoken"])
        XCTAssertTrue(one == two, "same tokenizer files whatever the thread count")
        let manifest = try JSONSerialization.jsonObject(with: one["manifest.json"]!) as! [String: Any]
        XCTAssertEqual(manifest["vocab_size"] as? Int, 600)
        XCTAssertEqual((manifest["special_tokens"] as? [String: Int])?["<|mask|>"], 599)

        let enc = try reprise(["tokenizer", "encode", "--tokenizer", "tok1", "extra.txt"])
        XCTAssertEqual(enc.status, 0, enc.stderr)
        let ids = enc.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        XCTAssertFalse(ids.isEmpty)
        XCTAssertFalse(ids.contains(597), "special tokens are never produced from text")
        write("ids.txt", enc.stdout)
        let dec = try reprise(["tokenizer", "decode", "--tokenizer", "tok1", "ids.txt"])
        XCTAssertEqual(dec.status, 0, dec.stderr)
        XCTAssertEqual(Data(dec.stdout.utf8), FileManager.default.contents(atPath: root + "/extra.txt"))

        write("bad-ids.txt", "1 2 99999")
        let bad = try reprise(["tokenizer", "decode", "--tokenizer", "tok1", "bad-ids.txt"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("bad-ids.txt") && bad.stderr.contains("99999"), bad.stderr)
        let small = try reprise(["tokenizer", "train", "clean", "--vocab-size", "100", "-o", "x"])
        XCTAssertNotEqual(small.status, 0)
        XCTAssertTrue(small.stderr.contains("--vocab-size must be at least 259"), small.stderr)
        let missing = try reprise(["tokenizer", "encode", "--tokenizer", "nowhere", "extra.txt"])
        XCTAssertTrue(missing.stderr.contains("run `reprise tokenizer train"), missing.stderr)
    }

    func testRunBuildsTheTokenizerAfterIngestAndCachesIt() throws {
        try copyEmbeddedBooks()
        let pipeline = { (vocab: Int) in """
        work_dir: work
        stages:
          ingest:
            inputs: [in]
          tokenizer:
            config: {vocab_size: \(vocab), pattern: gpt2}
        """ }
        write("p.yaml", pipeline(400))
        let first = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("tokenizer: 400 tokens"), first.stdout)
        let again = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertTrue(again.stdout.contains("ingest: up to date") && again.stdout.contains("tokenizer: up to date"), again.stdout)
        write("p.yaml", pipeline(420))
        let changed = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertTrue(changed.stdout.contains("ingest: up to date") && changed.stdout.contains("tokenizer: 420 tokens"), changed.stdout)
        write("p.yaml", pipeline(420).replacingOccurrences(of: "gpt2", with: "gpt5"))
        let bad = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("p.yaml") && bad.stderr.contains("cl100k, gpt2, o200k"), bad.stderr)
    }

    func testPackIsDeterministicVerifiedAndCorruptionIsReported() throws {
        try copyEmbeddedBooks()
        XCTAssertEqual(try reprise(["ingest", "in", "-o", "docs", "--quiet", "--config", "cfg.yaml"]).status, 1,
                       "a missing config file is an error")
        write("cfg.yaml", "quality: {enabled: false}\n")
        XCTAssertEqual(try reprise(["ingest", "in", "-o", "docs", "--quiet", "--config", "cfg.yaml"]).status, 0)
        XCTAssertEqual(try reprise(["tokenizer", "train", "docs", "--vocab-size", "500", "-o", "tok", "--quiet"]).status, 0)
        for threads in ["1", "2"] {
            let r = try reprise(["pack", "docs", "--tokenizer", "tok", "-o", "shards\(threads)", "--threads", threads,
                                 "--val-fraction", "0.5", "--shard-tokens", "3000", "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let one = try snapshot("shards1")
        XCTAssertTrue(one == (try snapshot("shards2")), "same shards whatever the thread count")
        XCTAssertTrue(one.keys.contains("train-00000.shard") && one.keys.contains("val-00000.shard"), "\(one.keys.sorted())")
        let manifest = try JSONSerialization.jsonObject(with: one["manifest.json"]!) as! [String: Any]
        XCTAssertEqual(manifest["dtype"] as? String, "uint16")
        // Sequences are windows over the split's stream, across shard boundaries.
        var stream: [UInt32] = []
        for name in one.keys.sorted() where name.hasPrefix("train-") {
            let r = try ShardReader(path: root + "/shards1/" + name)
            stream += try r.tokens(in: 0..<r.tokenCount)
        }
        let seqLen = 256
        XCTAssertGreaterThan(stream.count, 2 * 3000, "several train shards")
        for index in [0, 11, 12, (stream.count - 1) / seqLen - 1] {
            XCTAssertEqual(try Packer.sequence(root + "/shards1", index: index),
                           Array(stream[(index * seqLen)..<(index * seqLen + seqLen + 1)]), "sequence \(index)")
        }
        let inspect = try reprise(["inspect", "shards1", "--sequence", "1"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("train sequence 1: 257 tokens"), inspect.stdout)
        let ok = try reprise(["verify", "shards1"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("all frames and hashes verified"), ok.stdout)
        // A shard from another dataset (packed with other settings) in place of ours.
        XCTAssertEqual(try reprise(["pack", "docs", "--tokenizer", "tok", "-o", "other", "--val-fraction", "0.1", "--quiet"]).status, 0)
        try FileManager.default.removeItem(atPath: root + "/shards2/train-00000.shard")
        try FileManager.default.copyItem(atPath: root + "/other/train-00000.shard", toPath: root + "/shards2/train-00000.shard")
        let foreign = try reprise(["verify", "shards2"])
        XCTAssertEqual(foreign.status, 1)
        XCTAssertTrue(foreign.stderr.contains("train-00000.shard: SHA-256 differs from the manifest"), foreign.stderr)
        // Flip one byte in the middle of a shard.
        let path = root + "/shards1/train-00000.shard"
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        bytes[bytes.count / 2] ^= 0x5A
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let bad = try reprise(["verify", "shards1"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("train-00000.shard"), bad.stderr)
    }

    func testBenchReadGivesEverySequenceInEachOrder() throws {
        try copyEmbeddedBooks()
        write("cfg.yaml", "quality: {enabled: false}\n")
        XCTAssertEqual(try reprise(["ingest", "in", "-o", "docs", "--quiet", "--config", "cfg.yaml"]).status, 0)
        XCTAssertEqual(try reprise(["tokenizer", "train", "docs", "--vocab-size", "500", "-o", "tok", "--quiet"]).status, 0)
        XCTAssertEqual(try reprise(["pack", "docs", "--tokenizer", "tok", "-o", "shards", "--shard-tokens", "3000",
                                    "--frame-tokens", "200", "--seq-len", "64", "--quiet"]).status, 0)
        let m = try CanonicalJSON.decode(PackManifest.self, from: root + "/shards/manifest.json")
        XCTAssertGreaterThan(m.train.shards.count, 1)
        XCTAssertEqual(m.config.frameTokens, 200)
        XCTAssertGreaterThan(try ShardReader(path: root + "/shards/" + m.train.shards[0].file).frameCount, 10)
        // The wrapping sum of every sequence's 65 tokens, read here with Packer.
        var expected: UInt64 = 0
        for i in 0..<m.train.sequences {
            for t in try Packer.sequence(root + "/shards", index: i) { expected &+= UInt64(t) }
        }
        func json(_ args: [String]) throws -> [String: Any] {
            let r = try reprise(args)
            XCTAssertEqual(r.status, 0, r.stderr)
            return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        }
        for extra in [["--order", "sequential"], ["--order", "random"], ["--order", "frame-shuffle"], ["--read-ahead", "4"]] {
            let r = try json(["bench", "read", "shards"] + extra)
            XCTAssertEqual(r["sequences"] as? Int, m.train.sequences, "\(extra)")
            XCTAssertEqual(r["tokens"] as? Int, m.train.sequences * 64, "\(extra)")
            XCTAssertEqual((r["checksum"] as? NSNumber)?.uint64Value, expected, "\(extra)")
        }
        XCTAssertEqual(try json(["bench", "read", "shards", "--order", "random", "--limit", "5"])["sequences"] as? Int, 5)
        XCTAssertEqual(try json(["bench", "zstd", "shards"])["tokens"] as? Int, m.train.tokens)
        XCTAssertFalse(try reprise(["--help"]).stdout.contains("bench"), "bench is hidden from the command list")
    }

    func testIngestAndBenchReadParquet() throws {
        // A pyarrow fixture of the ingest tests (Tools/ingest/make_parquet_fixtures.py) and pyarrow's rows.
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("RepriseIngestTests/Fixtures/parquet").path
        try FileManager.default.copyItem(atPath: fixtures + "/int_id.parquet", toPath: root + "/in/rows.parquet")
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixtures + "/expected.json"))) as! [String: Any]
        let rows = (expected["tables"] as! [String: [[String: Any]]])["int_id"]!
        write("short.yaml", "quality: {enabled: false}\nrepetition: {enabled: false}\n")  // the rows are short
        let r = try reprise(["ingest", "in", "-o", "docs", "--quiet", "--config", "short.yaml"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/docs/manifest.json"))) as! [String: Any]
        let input = (manifest["inputs"] as! [[String: Any]])[0]
        XCTAssertEqual(input["kind"] as? String, "parquet")
        XCTAssertEqual(input["documents"] as? Int, rows.count)

        let bench = try reprise(["bench", "parquet", "in/rows.parquet", "--metadata"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let out = try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(out["rows"] as? Int, rows.count)
        XCTAssertEqual(out["text_bytes"] as? Int, rows.reduce(0) { $0 + ($1["text"] as! String).utf8.count })
        let missing = try reprise(["bench", "parquet", "in/rows.parquet", "--text-field", "body"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no column \"body\""), missing.stderr)
    }

    func testKilledPackRerunEndsWithTheSameBytes() throws {
        makeCorpus(files: 4, paragraphsPerFile: 600)
        try copyEmbeddedBooks()
        XCTAssertEqual(try reprise(["ingest", "in", "-o", "docs", "--quiet"]).status, 0)
        XCTAssertEqual(try reprise(["tokenizer", "train", "docs", "--vocab-size", "700", "-o", "tok", "--quiet"]).status, 0)
        let args = ["pack", "docs", "--tokenizer", "tok", "--shard-tokens", "20000", "--quiet", "-o"]
        let started = Date()
        XCTAssertEqual(try reprise(args + ["clean"]).status, 0)
        let duration = Date().timeIntervalSince(started)
        let expected = try tree("clean")
        XCTAssertGreaterThan(expected.count, 3, "several shards")
        for fraction in [0.2, 0.5, 0.8] {
            let p = try launch(args + ["killed"])
            usleep(useconds_t(duration * fraction * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertEqual(try reprise(args + ["killed"]).status, 0)
            assertSameFiles(try tree("killed"), expected, "after a kill at \(fraction) of the run")
        }
        for point in ["before:train-00001.shard@1", "before:manifest.json@1"] {
            try reprise(args + ["killed"], killedAt: point, leaving: "killed")
            XCTAssertEqual(try reprise(args + ["killed"]).status, 0)
            assertSameFiles(try tree("killed"), expected, "after a kill \(point)")
        }
    }

    func testHelpShowsAnExample() throws {
        let r = try reprise(["ingest", "--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertNotNil(r.stdout.range(of: #"Examples?:\s+reprise ingest "#, options: .regularExpression), r.stdout)
    }

    func testRunBuildsSchedulesAndShowDisplaysMaskedText() throws {
        try copyEmbeddedBooks()
        let pipeline = { (epochs: Int, noise: String) in """
        work_dir: work
        stages:
          ingest: {inputs: [in], config: {quality: {enabled: false}}}
          tokenizer: {config: {vocab_size: 500}}
          pack: {config: {seq_len: 64, val_fraction: 0.2}}
          schedules:
            ar: {objective: ar, epochs: 2, batch_size: 4, seed: 3}
            mdlm: {objective: mdlm, epochs: \(epochs), batch_size: 4, seed: 3, noise: \(noise)}
        """ }
        write("p.yaml", pipeline(3, "cosine"))
        let first = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("schedule ar: ar, 2 epochs") && first.stdout.contains("schedule mdlm: mdlm, 3 epochs"), first.stdout)
        write("p.yaml", pipeline(4, "cosine"))
        let changed = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertTrue(changed.stdout.contains("pack: up to date") && changed.stdout.contains("schedule ar: up to date")
                      && changed.stdout.contains("schedule mdlm: mdlm, 4 epochs"), changed.stdout)
        let show = try reprise(["schedule", "show", "work/schedules/mdlm", "--epoch", "3", "--sequence", "2"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("seen 3 times before this epoch"), show.stdout)
        XCTAssertTrue(show.stdout.contains("<|mask|>") && show.stdout.contains("t = "), show.stdout)
        XCTAssertTrue(show.stdout.contains("4 epochs ×"), show.stdout)
        let verify = try reprise(["schedule", "verify", "work/schedules/mdlm", "--shards", "work/shards"])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertTrue(verify.stdout.contains("4 epoch files, validation plan, noise table: all verified"), verify.stdout)
        // Damage one epoch file: verify names it.
        let path = root + "/work/schedules/mdlm/epoch-00002.plan"
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        bytes[bytes.count - 9] ^= 1
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let bad = try reprise(["schedule", "verify", "work/schedules/mdlm"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("epoch-00002.plan"), bad.stderr)
        // Wrong settings are named.
        write("p.yaml", pipeline(4, "sqrt"))
        let wrong = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.stderr.contains("p.yaml") && wrong.stderr.contains("not a masking schedule"), wrong.stderr)
        let flag = try reprise(["schedule", "work/shards", "--objective", "ar", "--noise", "cosine", "-o", "x"])
        XCTAssertNotEqual(flag.status, 0)
        XCTAssertTrue(flag.stderr.contains("--noise must be none"), flag.stderr)
    }

    func testKilledScheduleBuildRerunEndsWithTheSameBytes() throws {
        try copyEmbeddedBooks()
        XCTAssertEqual(try reprise(["ingest", "in", "-o", "docs", "--quiet"]).status, 0)
        XCTAssertEqual(try reprise(["tokenizer", "train", "docs", "--vocab-size", "400", "-o", "tok", "--quiet"]).status, 0)
        XCTAssertEqual(try reprise(["pack", "docs", "--tokenizer", "tok", "-o", "shards", "--seq-len", "16", "--quiet"]).status, 0)
        let args = ["schedule", "shards", "--objective", "mdlm", "--epochs", "400", "--seed", "9", "--quiet", "-o"]
        let started = Date()
        XCTAssertEqual(try reprise(args + ["clean"]).status, 0)
        let duration = Date().timeIntervalSince(started)
        let expected = try tree("clean")
        XCTAssertEqual(expected.count, 403)
        for fraction in [0.3, 0.7] {
            let p = try launch(args + ["killed"])
            usleep(useconds_t(duration * fraction * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertEqual(try reprise(args + ["killed"]).status, 0)
            assertSameFiles(try tree("killed"), expected, "after a kill at \(fraction) of the run")
        }
        for point in ["before:noise.table@1", "before:epoch-00123.plan@1", "before:manifest.json@1"] {
            try reprise(args + ["killed"], killedAt: point, leaving: "killed")
            XCTAssertEqual(try reprise(args + ["killed"]).status, 0)
            assertSameFiles(try tree("killed"), expected, "after a kill \(point)")
        }
    }

    /// metrics.jsonl without the wall-clock columns (tokens_per_s, mfu).
    func metricsWithoutTiming(_ run: String) throws -> String {
        try String(contentsOfFile: root + "/" + run + "/metrics.jsonl", encoding: .utf8)
            .replacingOccurrences(of: #","tokens_per_s":[^,]*,"mfu":[^}]*"#, with: "", options: .regularExpression)
    }

    func testTrainKilledAndResumedGivesTheSameMetricsAndWeights() throws {
        try copyEmbeddedBooks()
        write("p.yaml", """
        work_dir: work
        stages:
          ingest: {inputs: [in], config: {quality: {enabled: false}}}
          tokenizer: {config: {vocab_size: 400}}
          pack: {config: {seq_len: 32, val_fraction: 0.1}}
          schedules:
            ar: {objective: ar, epochs: 2, batch_size: 8, seed: 3}
            mdlm: {objective: mdlm, epochs: 2, batch_size: 8, seed: 3, val_draws: 2}
        """)
        XCTAssertEqual(try reprise(["run", "p.yaml", "--quiet"]).status, 0)
        write("m.json", #"{"preset": "tiny", "dim": 32, "layers": 2, "heads": 2, "context": 32}"#)
        let trainArgs = { (plan: String) in
            ["train", "--shards", "work/shards", "--schedule", "work/schedules/" + plan, "--model", "m.json",
             "--checkpoint-every", "7", "--eval-every", "20", "--eval-sequences", "16", "--threads", "2", "--quiet", "-o"]
        }
        let args = trainArgs("ar")
        let started = Date()
        let clean = try reprise(args + ["clean"])
        XCTAssertEqual(clean.status, 0, clean.stderr)
        XCTAssertTrue(clean.stdout.contains("trained"), clean.stdout)
        let duration = Date().timeIntervalSince(started)
        let expected = try metricsWithoutTiming("clean")
        XCTAssertGreaterThan(expected.split(separator: "\n").count, 20)
        for (i, fraction) in [0.3, 0.6, 0.85].enumerated() {
            let p = try launch(args + ["killed"] + (i > 0 ? ["--resume"] : []))
            usleep(useconds_t(duration * fraction * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        let resumed = try reprise(args + ["killed", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try metricsWithoutTiming("killed"), expected)
        let final = try tree("clean/checkpoints"), again = try tree("killed/checkpoints")
        XCTAssertEqual(final.count, 6, "two checkpoints of three files")
        XCTAssertTrue(final == again, "the last checkpoints hold the same bytes")
        let summary = try String(contentsOfFile: root + "/killed/summary.json", encoding: .utf8)
        XCTAssertEqual(summary, try String(contentsOfFile: root + "/clean/summary.json", encoding: .utf8))
        assertSameFiles(try runFiles("killed"), try runFiles("clean"), "the run killed at random moments")
        // Kills inside the checkpoint writes of an AR and an mdlm run.
        try assertKillsInCheckpointWritesEndAsACleanRun(trainArgs("ar"), clean: "clean", killed: "hooked")
        XCTAssertEqual(try reprise(trainArgs("mdlm") + ["clean-mdlm"]).status, 0)
        try assertKillsInCheckpointWritesEndAsACleanRun(trainArgs("mdlm"), clean: "clean-mdlm", killed: "hooked-mdlm")
        // eval, sample and export read the run.
        let eval = try reprise(["eval", "clean", "--sequences", "8"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("validation loss") && eval.stdout.contains("bits/byte"), eval.stdout)
        write("t.txt", "And Ruth said, Intreat me not to leave thee.")
        let scored = try reprise(["eval", "clean", "--text", "t.txt"])
        XCTAssertTrue(scored.stdout.contains("tokens scored, total NLL"), scored.stdout + scored.stderr)
        let sample = try reprise(["sample", "clean", "--prompt", "And Ruth", "--max-tokens", "8", "--seed", "1"])
        XCTAssertEqual(sample.status, 0, sample.stderr)
        XCTAssertTrue(sample.stdout.hasPrefix("And Ruth"), sample.stdout)
        XCTAssertEqual(try reprise(["sample", "clean", "--prompt", "And Ruth", "--max-tokens", "8", "--seed", "1"]).stdout, sample.stdout)
        let export = try reprise(["export", "clean", "--format", "hf", "-o", "hf"])
        XCTAssertEqual(export.status, 0, export.stderr)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/hf/config.json"))) as! [String: Any]
        XCTAssertEqual(config["model_type"] as? String, "llama")
        XCTAssertEqual(config["hidden_size"] as? Int, 32)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/hf/tokenizer.json"))
        try reprise(["export", "clean", "--format", "hf", "-o", "hf2"], killedAt: "before:model.safetensors@1", leaving: "hf2")
        XCTAssertEqual(try reprise(["export", "clean", "--format", "hf", "-o", "hf2"]).status, 0)
        assertSameFiles(try tree("hf2"), try tree("hf"), "an export killed and run again")
        // Running a finished run again without --resume is refused; shards of another dataset are named.
        let again2 = try reprise(args + ["clean"])
        XCTAssertEqual(again2.status, 1)
        XCTAssertTrue(again2.stderr.contains("--resume"), again2.stderr)
    }

    func testRunTrainsAndStatusReportsEachStage() throws {
        try copyEmbeddedBooks()
        write("m.json", #"{"preset": "tiny", "dim": 32, "layers": 1, "heads": 2, "context": 32}"#)
        let pipeline = { (lr: String) in """
        work_dir: work
        stages:
          ingest: {inputs: [in], config: {quality: {enabled: false}}}
          tokenizer: {config: {vocab_size: 300}}
          pack: {config: {seq_len: 32, val_fraction: 0.1}}
          schedules:
            ar: {objective: ar, epochs: 1, batch_size: 8, seed: 3}
            mdlm: {objective: mdlm, epochs: 1, batch_size: 8, seed: 3, val_draws: 2}
          train:
            mdlm: {schedule: mdlm, model: m.json, config: {eval_sequences: 8, steps: 12}}
            ar: {schedule: ar, model: m.json, config: {lr: \(lr), eval_sequences: 8, steps: 12}}
        """ }
        write("p.yaml", pipeline("0.003"))
        let before = try reprise(["status", "p.yaml"])
        XCTAssertEqual(before.status, 0, before.stderr)
        XCTAssertTrue(before.stdout.contains("ingest         missing") && before.stdout.contains("train mdlm     waits for ingest"), before.stdout)
        // Runs are listed and trained in the order the file gives them, not by name.
        func position(_ s: String, _ of: String) -> Int { s.range(of: of).map { s.distance(from: s.startIndex, to: $0.lowerBound) } ?? -1 }
        XCTAssertLessThan(position(before.stdout, "train mdlm"), position(before.stdout, "train ar "), before.stdout)
        let first = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertLessThan(position(first.stdout, "train mdlm:"), position(first.stdout, "train ar:"), first.stdout)
        XCTAssertGreaterThanOrEqual(position(first.stdout, "train mdlm:"), 0, first.stdout)
        XCTAssertTrue(first.stdout.contains("train ar: 12 steps") && first.stdout.contains("train mdlm: 12 steps")
                      && first.stdout.contains("validation bound"), first.stdout)
        let after = try reprise(["status", "p.yaml"])
        XCTAssertEqual(after.stdout.components(separatedBy: "up to date").count - 1, 7, after.stdout)
        write("p.yaml", pipeline("0.002"))
        XCTAssertTrue(try reprise(["status", "p.yaml"]).stdout.contains("train ar       stale"), "a changed learning rate")
        let mdlmMetrics = try String(contentsOfFile: root + "/work/runs/mdlm/metrics.jsonl", encoding: .utf8)
        let again = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertTrue(again.stdout.contains("train ar: 12 steps") && again.stdout.contains("train mdlm: up to date"), again.stdout)
        XCTAssertEqual(try String(contentsOfFile: root + "/work/runs/mdlm/metrics.jsonl", encoding: .utf8), mdlmMetrics)
        write("p.yaml", pipeline("0.002").replacingOccurrences(of: "schedule: mdlm", with: "schedule: dlm"))
        let bad = try reprise(["run", "p.yaml"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("stages.train.mdlm.schedule: 'dlm' is not a plan"), bad.stderr)
    }

    func testKilledRunOfTheWholeChainEndsWithTheSameOutputs() throws {
        try copyEmbeddedBooks()
        write("m.json", #"{"preset": "tiny", "dim": 32, "layers": 1, "heads": 2, "context": 32}"#)
        write("p.yaml", """
        work_dir: work
        stages:
          ingest: {inputs: [in]}
          tokenizer: {config: {vocab_size: 300}}
          pack: {config: {seq_len: 32, val_fraction: 0.1}}
          schedules:
            ar: {objective: ar, epochs: 2, batch_size: 8, seed: 3}
            mdlm: {objective: mdlm, epochs: 2, batch_size: 8, seed: 3, val_draws: 2}
          train:
            ar: {schedule: ar, model: m.json, config: {eval_sequences: 8, checkpoint_every: 5}}
            mdlm: {schedule: mdlm, model: m.json, config: {eval_sequences: 8, checkpoint_every: 5}}
          report: {output: report.html}
        """)
        let started = Date()
        XCTAssertEqual(try reprise(["run", "p.yaml", "--quiet"]).status, 0)
        let duration = Date().timeIntervalSince(started)
        // Every output but the wall-clock parts: the report and the tokens_per_s / mfu columns.
        func outputs() throws -> [String: Data] {
            var t = try tree("work")
            t["report.html"] = nil
            for run in ["ar", "mdlm"] {
                let m = try metricsWithoutTiming("work/runs/\(run)")
                t["runs/\(run)/metrics.jsonl"] = Data(m.utf8)
            }
            return t
        }
        let expected = try outputs()
        XCTAssertGreaterThan(expected.count, 20)
        try FileManager.default.moveItem(atPath: root + "/work", toPath: root + "/clean")
        // Kills at exact points, each run going on from where the last one stopped: in the tokenizer's files,
        // in the AR run's checkpoint writes, before its summary, in the mdlm run's first checkpoint.
        let points = ["before:tokenizer.tiktoken@1", "before:optimizer.safetensors@2", "before:state.json@1",
                      "after:checkpoint.json@1", "before:summary.json@1", "before:state.json@1"]
        for point in points {
            try reprise(["run", "p.yaml", "--quiet"], killedAt: point, leaving: point.hasPrefix("before:") ? "work" : nil)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/work/runs/mdlm/run.json"), "the last kill was in the mdlm run")
        // Then kills at moments of the time a whole run takes, and one while the report is written.
        for fraction in [0.15, 0.45, 0.75] {
            let p = try launch(["run", "p.yaml", "--quiet"])
            usleep(useconds_t(duration * fraction * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        try reprise(["run", "p.yaml", "--quiet"], killedAt: "before:report.html@1", leaving: "work")
        let finish = try reprise(["run", "p.yaml", "--quiet"])
        XCTAssertEqual(finish.status, 0, finish.stderr)
        assertSameFiles(try outputs(), expected, "the pipeline after kills and a rerun")
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/work/report.html"))
    }
}
