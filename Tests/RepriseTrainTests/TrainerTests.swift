import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules
import RepriseShards
@testable import RepriseTrain
import XCTest

final class LearningRateTests: XCTestCase {
    func testWarmupThenCosineToTheFloor() {
        var c = TrainConfig()
        c.lr = 1e-3; c.warmup = 10; c.minLRRatio = 0.1
        XCTAssertEqual(c.learningRate(step: 0, total: 100), 1e-4, accuracy: 1e-12)
        XCTAssertEqual(c.learningRate(step: 9, total: 100), 1e-3, accuracy: 1e-12)
        XCTAssertEqual(c.learningRate(step: 10, total: 100), 1e-3, accuracy: 1e-12)
        XCTAssertEqual(c.learningRate(step: 99, total: 100), 1e-4, accuracy: 1e-12)
        let mid = c.learningRate(step: 10 + 89 / 2, total: 100)
        XCTAssertEqual(mid, 1e-4 + 0.9e-3 * 0.5 * (1 + cos(Double.pi * Double(44) / 89)), accuracy: 1e-12)
        for s in 10..<99 { XCTAssertGreaterThanOrEqual(c.learningRate(step: s, total: 100), c.learningRate(step: s + 1, total: 100)) }
        c.warmup = -1
        XCTAssertEqual(c.warmupSteps(total: 1000), 50)
        XCTAssertEqual(c.warmupSteps(total: 10), 1)
    }

    func testWarmupStableDecay() {
        var c = TrainConfig()
        c.lr = 1; c.warmup = 5; c.lrSchedule = .wsd; c.decayFraction = 0.2; c.minLRRatio = 0
        XCTAssertEqual(c.learningRate(step: 50, total: 100), 1)
        XCTAssertEqual(c.learningRate(step: 79, total: 100), 1)
        XCTAssertEqual(c.learningRate(step: 80, total: 100), 1 - 1.0 / 20, accuracy: 1e-12)
        XCTAssertEqual(c.learningRate(step: 99, total: 100), 0, accuracy: 1e-12)
    }

    func testConfigChecks() {
        var c = TrainConfig()
        c.lr = 0
        XCTAssertThrowsError(try c.validate())
        let bad = #"{"lr": 0.001, "warmpu": 3}"#
        XCTAssertThrowsError(try JSONDecoder().decode(TrainConfig.self, from: Data(bad.utf8))) {
            XCTAssertTrue("\($0)".contains("warmpu"), "\($0)")
        }
    }
}

final class TrainerTests: XCTestCase {
    var dir = ""
    let vocab = 48, maskId = 47, seqLen = 16
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "reprise-train-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/shards", withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A learnable dataset: runs of an arithmetic sequence mod 40 with a random start and step per document
    /// (step 0 with `constant`: each document repeats one token, which a bidirectional model reads off any
    /// unmasked neighbour).
    func makeShards(seed: UInt64 = 5, constant: Bool = false) throws -> String {
        let shards = dir + "/shards"
        var rng = SplitMix64(seed: seed)
        func split(_ prefix: String, docs: Int) throws -> SplitSummary {
            var s = SplitSummary()
            let name = "\(prefix)-00000.shard"
            let w = try ShardWriter(path: shards + "/" + name, dtype: .uint16, frameTokens: 128)
            for _ in 0..<docs {
                let start = rng.next() % 40, step = constant ? 0 : 1 + rng.next() % 3
                try w.appendDocument((0..<40).map { UInt32((start + UInt64($0) * step) % 40) } + [46])
            }
            let r = try w.finish()
            s.shards = [ShardEntry(file: name, tokens: r.tokenCount, documents: docs, bytes: r.byteSize, sha256: r.sha256)]
            s.tokens = r.tokenCount
            s.documents = docs
            s.sequences = (s.tokens - 1) / seqLen
            return s
        }
        var config = PackConfig()
        config.seqLen = seqLen
        config.frameTokens = 128
        let m = PackManifest(config: config, configHash: "c", inputHash: "i\(seed)", ingestManifestSha256: "x",
                             tokenizerSha256: "tok", docsDir: "docs", tokenizerDir: "tok", vocabSize: vocab,
                             dtype: "uint16", endOfTextId: 46, train: try split("train", docs: 60), val: try split("val", docs: 8))
        try AtomicFileWriter.write(try CanonicalJSON.encode(m), to: shards + "/manifest.json")
        return shards
    }

    func schedule(_ objective: Objective, epochs: Int = 2, name: String, shortFraction: Double? = nil) throws -> String {
        var c = ScheduleConfig()
        c.objective = objective; c.epochs = epochs; c.batchSize = 8; c.seed = 3; c.valDraws = 2
        c.shortFraction = shortFraction
        c.eps = 0.05  // weights of at most 1/eps = 20 keep the loss of these short runs readable
        try ScheduleBuilder.build(shards: dir + "/shards", config: c, output: dir + "/" + name, threads: 1, quiet: true)
        return dir + "/" + name
    }

    func job(_ schedule: String, output: String, lr: Double = 1e-2) -> TrainJob {
        let model = ModelConfig(vocabSize: vocab, dim: 32, layers: 2, heads: 2, context: seqLen)
        var config = TrainConfig()
        config.lr = lr; config.evalEvery = 10; config.checkpointEvery = 5
        var j = TrainJob(shards: dir + "/shards", schedule: schedule, tokenizerDir: "tok", tokenizerSha256: "tok",
                         tokens: TokenInfo(vocabSize: vocab, maskId: maskId, endOfTextId: 46,
                                           byteLengths: [Int32](repeating: 1, count: vocab)),
                         model: model, config: config, output: output)
        j.threads = 2; j.quiet = true; j.measurePeak = false
        return j
    }

    /// metrics.jsonl without the wall-clock columns.
    func metrics(_ run: String) throws -> [String] {
        let text = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        return text.split(separator: "\n").map { line in
            line.replacingOccurrences(of: #","tokens_per_s":[^,]*,"mfu":[^}]*"#, with: "", options: .regularExpression)
        }
    }

    func testARTrainingLearnsAndResumesBitForBit() throws {
        _ = try makeShards()
        let plan = try schedule(.ar, epochs: 3, name: "ar")
        let full = try Trainer.run(job(plan, output: dir + "/full"))
        let lines = try metrics(dir + "/full")
        XCTAssertEqual(full.steps, try Schedule(plan).steps)
        XCTAssertFalse(full.valIsBound)
        let first = lines.first { $0.contains("\"loss\"") }!
        XCTAssertTrue(first.hasPrefix(#"{"step":1,"epoch":"#), first)
        // The loss falls well below the uniform log(48) = 3.87.
        XCTAssertLessThan(full.finalTrainLoss, 2.5)
        XCTAssertLessThan(full.valLoss, 2.5)
        XCTAssertEqual(lines.filter { $0.contains("val_loss\"") }.count, full.steps / 10 + (full.steps % 10 == 0 ? 0 : 1))
        // AR's number is exact: no Monte-Carlo error, only the spread over validation sequences.
        XCTAssertEqual(full.valLossStderr, 0)
        XCTAssertGreaterThan(full.valLossStderrSequences ?? 0, 0)
        XCTAssertNil(full.valDraws)

        let killed = dir + "/killed"
        try assertKilledRunResumesBitForBit(plan: plan, full: full, fullRun: dir + "/full", killed: killed)
        // Without --resume an existing run is not overwritten; with other settings it cannot be resumed.
        XCTAssertThrowsError(try Trainer.run(job(plan, output: killed))) { XCTAssertTrue("\($0)".contains("--resume"), "\($0)") }
        var other = job(plan, output: killed, lr: 5e-3)
        other.resume = true
        XCTAssertThrowsError(try Trainer.run(other)) { XCTAssertTrue("\($0)".contains("other settings"), "\($0)") }
    }

    /// Every file below `run` (relative path → bytes), metrics.jsonl without its wall-clock columns.
    func files(_ run: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let fm = FileManager.default
        for case let path as String in fm.enumerator(atPath: run)! where !fm.isDirectory(run + "/" + path) {
            out[path] = path == "metrics.jsonl" ? Data(try metrics(run).joined(separator: "\n").utf8) : fm.contents(atPath: run + "/" + path)
        }
        return out
    }

    func assertSameFiles(_ got: [String: Data], _ expected: [String: Data], _ context: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.keys.sorted(), expected.keys.sorted(), context, file: file, line: line)
        let differ = expected.keys.filter { got[$0] != nil && got[$0] != expected[$0] }.sorted()
        XCTAssertTrue(differ.isEmpty, "\(context): files that differ: \(differ)", file: file, line: line)
    }

    /// The id of a process that has exited and been waited for: what a killed writer's id is to its successor.
    func deadPid() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    /// A run killed at points of its checkpoint writes and resumed ends with the files of the run that was
    /// not interrupted (the same metrics, summary and weights), and no others. The killed states are made
    /// from the finished run's files as a killed process leaves them:
    /// - after its second-to-last checkpoint, in the last one's save: the weights written, the optimizer state
    ///   still under its temporary name, no state.json; metrics written past the pointer; the pointer's and
    ///   the metrics' temporary files; and an older checkpoint that deleting old checkpoints left half-removed;
    /// - after the last checkpoint's pointer was written, before the older checkpoints were deleted;
    /// - between run.json and config.json, before any step.
    func assertKilledRunResumesBitForBit(plan: String, full: RunSummary, fullRun: String, killed: String,
                                         configure: (inout TrainJob) -> Void = { _ in }) throws {
        let fm = FileManager.default
        let expected = try files(fullRun)
        let dead = try deadPid()
        var resume = job(plan, output: killed)
        configure(&resume)
        resume.resume = true
        try fm.copyItem(atPath: fullRun, toPath: killed)
        let ckpts = try fm.contentsOfDirectory(atPath: killed + "/checkpoints").sorted()
        XCTAssertEqual(ckpts.count, 2, "the last two checkpoints are kept")
        let kept = ckpts[0], keptStep = Int(kept.dropFirst(5))!
        XCTAssertLessThan(keptStep, full.steps)
        let last = killed + "/checkpoints/" + ckpts[1]
        try fm.removeItem(atPath: last + "/state.json")
        try fm.moveItem(atPath: last + "/optimizer.safetensors", toPath: last + "/optimizer.safetensors.tmp-\(dead)")
        let older = killed + "/checkpoints/" + Checkpoints.name(keptStep - 1)
        try fm.createDirectory(atPath: older, withIntermediateDirectories: true)
        try fm.copyItem(atPath: killed + "/checkpoints/" + kept + "/optimizer.safetensors", toPath: older + "/optimizer.safetensors")
        let pointer = #"{"latest": "\#(kept)", "step": \#(keptStep)}"#
        try AtomicFileWriter.write(Array(pointer.utf8), to: killed + "/checkpoint.json")
        try fm.copyItem(atPath: killed + "/checkpoint.json", toPath: killed + "/checkpoint.json.tmp-\(dead)")
        try fm.copyItem(atPath: killed + "/metrics.jsonl", toPath: killed + "/metrics.jsonl.tmp-\(dead)")
        try fm.removeItem(atPath: killed + "/summary.json")
        let resumed = try Trainer.run(resume)
        XCTAssertEqual(resumed, full)
        assertSameFiles(try files(killed), expected, "killed in the last checkpoint's save and resumed")

        // Killed after the last pointer: three checkpoints, no summary.
        try fm.removeItem(atPath: killed + "/summary.json")
        try fm.copyItem(atPath: killed + "/checkpoints/" + kept, toPath: older)
        XCTAssertEqual(try Trainer.run(resume), full)
        assertSameFiles(try files(killed), expected, "killed before the old checkpoints were deleted and resumed")

        // Killed before config.json was renamed into place.
        for name in ["metrics.jsonl", "checkpoint.json", "summary.json", "checkpoints"] { try fm.removeItem(atPath: killed + "/" + name) }
        try fm.moveItem(atPath: killed + "/config.json", toPath: killed + "/config.json.tmp-\(dead)")
        XCTAssertEqual(try Trainer.run(resume), full)
        assertSameFiles(try files(killed), expected, "killed before its first step and resumed")
    }

    func testMaskedDiffusionTrainsAndReportsABound() throws {
        _ = try makeShards(constant: true)
        let plan = try schedule(.mdlm, epochs: 6, name: "mdlm")
        let s = try Trainer.run(job(plan, output: dir + "/mdlm-run"))
        XCTAssertTrue(s.valIsBound)
        XCTAssertTrue(s.valLoss.isFinite && s.valLoss > 0)
        // The bound comes with its Monte-Carlo standard error, its draws and its estimator.
        XCTAssertEqual(s.valEstimator, "exact_k")
        XCTAssertEqual(s.valDraws, 2)
        XCTAssertGreaterThan(s.valLossStderr ?? 0, 0)
        XCTAssertLessThan(s.valLossStderr ?? 1, s.valLoss)
        let val = try metrics(dir + "/mdlm-run").filter { $0.contains("\"val_loss\"") }
        XCTAssertTrue(val.allSatisfy { $0.contains("\"val_loss_stderr\":") && $0.contains("\"val_draws\":2") }, "\(val)")
        let losses = try metrics(dir + "/mdlm-run").compactMap { line -> Double? in
            guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return obj["loss"] as? Double
        }
        let head = losses.prefix(10).reduce(0, +) / 10, tail = losses.suffix(10).reduce(0, +) / 10
        XCTAssertLessThan(tail, head * 0.8, "the diffusion loss falls: \(head) → \(tail)")
    }

    func testMaskedDiffusionTrainsOnShortBatchesAndCountsTheirTokens() throws {
        _ = try makeShards(constant: true)
        let plan = try schedule(.mdlm, epochs: 3, name: "short", shortFraction: 0.5)
        let s = try Schedule(plan)
        // Tokens the trainer should count after each step: rows × the batch's length.
        var expected: [Int] = [], total = 0, short = 0
        let stream = try s.stream(shards: dir + "/shards")
        while let b = try stream.next() {
            total += b.rows * b.seqLen
            expected.append(total)
            if b.seqLen < seqLen { short += 1 }
        }
        XCTAssertEqual(short, s.manifest.ledger.shortBatches)
        XCTAssertGreaterThan(short, 3)
        // The run beside its plan (not in it), as the killed copy will be: run.json records the plan's
        // directory relative to the run's.
        let full = try Trainer.run(job(plan, output: dir + "/short-run"))
        XCTAssertTrue(full.finalTrainLoss.isFinite && full.valLoss.isFinite)
        XCTAssertEqual(full.steps, s.steps)
        let rows = try metrics(dir + "/short-run").compactMap { line -> (step: Int, tokens: Int)? in
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], o["loss"] != nil else { return nil }
            return (o["step"] as! Int, o["tokens"] as! Int)
        }
        XCTAssertEqual(rows.map(\.step), Array(1...s.steps))
        XCTAssertEqual(rows.map(\.tokens), expected)
        XCTAssertEqual(full.tokensSeen, total)
        XCTAssertLessThan(total, s.manifest.trainSequences * 3 * seqLen)
        try assertKilledRunResumesBitForBit(plan: plan, full: full, fullRun: dir + "/short-run", killed: dir + "/short-killed")
    }

    func testDenseEarlyEvaluationEveryEpochThenAtTheCadence() throws {
        var c = TrainConfig()
        c.evalEvery = 25
        c.denseEvalEpochs = 2
        let steps = (1...60).filter { c.evaluates(afterStep: $0, total: 60, batchesPerEpoch: 20) }
        XCTAssertEqual(steps, [20, 25, 40, 50, 60])
        c.denseEvalEpochs = 0
        XCTAssertEqual((1...60).filter { c.evaluates(afterStep: $0, total: 60, batchesPerEpoch: 20) }, [25, 50, 60])
        // The key is written to run.json only when set (runs without it keep their run.json).
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(c), as: UTF8.self).contains("dense_eval_epochs"))
        let decoded = try JSONDecoder().decode(TrainConfig.self, from: Data(#"{"dense_eval_epochs": 32}"#.utf8))
        XCTAssertEqual(decoded.denseEvalEpochs, 32)
        XCTAssertThrowsError(try JSONDecoder().decode(TrainConfig.self, from: Data(#"{"dense_eval_epochs": -1}"#.utf8)))

        _ = try makeShards()
        let plan = try schedule(.ar, epochs: 3, name: "ar-dense")
        let perEpoch = try Schedule(plan).manifest.batchesPerEpoch
        var j = job(plan, output: dir + "/dense")
        j.config.evalEvery = 25; j.config.denseEvalEpochs = 2; j.config.checkpointEvery = 0
        let s = try Trainer.run(j)
        let evaluated = try metrics(dir + "/dense").compactMap { line -> Int? in
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], o["val_loss"] != nil else { return nil }
            return o["step"] as? Int
        }
        let expected = Set([perEpoch, 2 * perEpoch] + Array(stride(from: 25, through: s.steps, by: 25)) + [s.steps]).sorted()
        XCTAssertEqual(evaluated, expected)
    }

    func testObjectiveBatches() {
        var b = PlanBatch(epoch: 0, batch: 0, step: 0, rows: 2, seqLen: 3, sequences: [0, 1], tokens: [1, 2, 3, 4, 5, 6, 7, 8])
        let ob = ObjectiveBatch(rows: 2, seqLen: 3)
        ob.fill(b, objective: .ar, maskId: nil)
        XCTAssertEqual(ob.inputs, [1, 2, 3, 5, 6, 7])
        XCTAssertEqual(ob.targets, [2, 3, 4, 6, 7, 8])
        XCTAssertEqual(ob.weights, [1, 1, 1, 1, 1, 1])
        b.mask = [0, 1, 0, 1, 1, 0]
        b.weight = [2, 4]
        ob.fill(b, objective: .mdlm, maskId: 9)
        XCTAssertEqual(ob.inputs, [1, 9, 3, 9, 9, 7])
        XCTAssertEqual(ob.targets, [1, 2, 3, 5, 6, 7])
        XCTAssertEqual(ob.weights, [0, 2, 0, 4, 4, 0])
    }

    func testMismatchedInputsAndDivergenceAreClearErrors() throws {
        _ = try makeShards()
        let plan = try schedule(.ar, name: "ar")
        var wrongTok = job(plan, output: dir + "/x")
        wrongTok.tokenizerSha256 = "other"
        XCTAssertThrowsError(try Trainer.run(wrongTok)) { XCTAssertTrue("\($0)".contains("not the one"), "\($0)") }
        var long = job(plan, output: dir + "/y")
        long.model.context = 8
        XCTAssertThrowsError(try Trainer.run(long)) { XCTAssertTrue("\($0)".contains("do not fit the model's context"), "\($0)") }
        var huge = job(plan, output: dir + "/z")
        huge.model = ModelConfig(vocabSize: vocab, dim: 16384, layers: 64, heads: 64, context: seqLen)
        XCTAssertThrowsError(try Trainer.run(huge)) { XCTAssertTrue("\($0)".contains("GB"), "\($0)") }
        // A schedule built for another dataset.
        _ = try makeShards(seed: 9)
        XCTAssertThrowsError(try Trainer.run(job(plan, output: dir + "/w"))) { XCTAssertTrue("\($0)".contains("another dataset"), "\($0)") }
    }

    func testNaNLossStopsNamingTheLastGoodCheckpoint() throws {
        _ = try makeShards()
        let plan = try schedule(.ar, name: "ar")
        let run = dir + "/nan"
        var j = job(plan, output: run)
        j.config.steps = 5
        _ = try Trainer.run(j)
        // Poison the weights of the last checkpoint (as a diverged run would have them) and resume.
        let (dirPath, state) = try XCTUnwrap(try Checkpoints.latest(run: run))
        let model = Transformer(config: j.model, maxBatch: 1, maxSeq: seqLen)
        try Checkpoints.readModel(model, from: dirPath + "/model.safetensors")
        model.parameter("model.norm.weight")[0] = .nan
        var s = state
        s.step = 4
        s.modelSha256 = try Checkpoints.writeModel(model, to: dirPath + "/model.safetensors")
        try AtomicFileWriter.write(try CanonicalJSON.encode(s), to: dirPath + "/state.json")
        try FileManager.default.removeItem(atPath: run + "/summary.json")
        j.resume = true
        XCTAssertThrowsError(try Trainer.run(j)) { e in
            XCTAssertTrue("\(e)".contains("step 5: the loss is nan") && "\(e)".contains("last good checkpoint is \(dirPath)"), "\(e)")
        }
    }
}
