import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules
import RepriseShards
@testable import RepriseTrain
import XCTest

/// A small synthetic dataset, schedules and runs for the cloze and diffusion-sampling tests (vocabulary 48:
/// tokens 0..<40 of text, 46 <|endoftext|>, 47 <|mask|>).
final class SyntheticRuns {
    let dir: String
    let vocab = 48, maskId = 47, eot: UInt32 = 46, seqLen = 16

    init(_ name: String) throws {
        dir = NSTemporaryDirectory() + "reprise-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/shards", withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }

    var shards: String { dir + "/shards" }

    /// Documents of 40 tokens: an arithmetic sequence mod 40 with a random start and step 1...3 (step 0
    /// with `constant`: one token repeated).
    @discardableResult
    func makeShards(seed: UInt64 = 5, constant: Bool = false, trainDocs: Int = 60, valDocs: Int = 30) throws -> String {
        var rng = SplitMix64(seed: seed)
        func split(_ prefix: String, docs: Int) throws -> SplitSummary {
            var s = SplitSummary()
            let name = "\(prefix)-00000.shard"
            let w = try ShardWriter(path: shards + "/" + name, dtype: .uint16, frameTokens: 128)
            for _ in 0..<docs {
                let start = rng.next() % 40, step = constant ? 0 : 1 + rng.next() % 3
                try w.appendDocument((0..<40).map { UInt32((start + UInt64($0) * step) % 40) } + [eot])
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
                             dtype: "uint16", endOfTextId: eot, train: try split("train", docs: trainDocs),
                             val: try split("val", docs: valDocs))
        try AtomicFileWriter.write(try CanonicalJSON.encode(m), to: shards + "/manifest.json")
        return shards
    }

    func schedule(_ objective: Objective, epochs: Int, name: String) throws -> Schedule {
        var c = ScheduleConfig()
        c.objective = objective; c.epochs = epochs; c.batchSize = 8; c.seed = 3; c.valDraws = 2
        c.eps = 0.05
        try ScheduleBuilder.build(shards: shards, config: c, output: dir + "/" + name, threads: 1, quiet: true)
        return try Schedule(dir + "/" + name)
    }

    var tokens: TokenInfo {
        var lengths = [Int32](repeating: 1, count: vocab)
        lengths[Int(eot)] = 0; lengths[maskId] = 0
        return TokenInfo(vocabSize: vocab, maskId: maskId, endOfTextId: Int(eot), byteLengths: lengths)
    }

    var modelConfig: ModelConfig { ModelConfig(vocabSize: vocab, dim: 32, layers: 2, heads: 2, context: seqLen) }

    /// Trains a run on `schedule` and returns its model (loaded from the final checkpoint).
    func train(_ schedule: Schedule, name: String, lr: Double = 1e-2) throws -> Transformer {
        var config = TrainConfig()
        config.lr = lr; config.evalEvery = 1000; config.evalSequences = 4
        var j = TrainJob(shards: shards, schedule: schedule.dir, tokenizerDir: "tok", tokenizerSha256: "tok", tokens: tokens,
                         model: modelConfig, config: config, output: dir + "/" + name)
        j.threads = 2; j.quiet = true; j.measurePeak = false
        _ = try Trainer.run(j)
        return try RunModel.load(run: dir + "/" + name, maxBatch: 8, threads: 2).1
    }

    func untrained(seed: UInt64 = 1) -> Transformer {
        let m = Transformer(config: modelConfig, maxBatch: 8, maxSeq: seqLen, threads: 2)
        m.initializeParameters(seed: seed)
        return m
    }
}

final class ClozeTests: XCTestCase {
    var data: SyntheticRuns!
    override func setUpWithError() throws { data = try SyntheticRuns("cloze") }
    override func tearDown() { data.remove() }

    func testDefaultsFollowTheSequenceLength() throws {
        XCTAssertEqual(try ClozeConfig().resolved(seqLen: 128), ClozeConfig(items: 600, seed: 0, context: 112, ending: 16))
        XCTAssertEqual(try ClozeConfig().resolved(seqLen: 256), ClozeConfig(items: 600, seed: 0, context: 224, ending: 32))
        XCTAssertEqual(try ClozeConfig(context: 48).resolved(seqLen: 128).ending, 16)
        XCTAssertEqual(try ClozeConfig().resolved(seqLen: 4), ClozeConfig(items: 600, seed: 0, context: 3, ending: 1))
        XCTAssertEqual(try ClozeConfig(items: 0).resolved(seqLen: 16).items, ClozeConfig.defaultItems)
        XCTAssertThrowsError(try ClozeConfig(items: -1).resolved(seqLen: 16))
        XCTAssertThrowsError(try ClozeConfig(ending: -2).resolved(seqLen: 16))
    }

    func testStandardError() {
        XCTAssertEqual(Cloze.standardError(accuracy: 0.5, count: 100), 0.05, accuracy: 1e-12)
        XCTAssertEqual(Cloze.standardError(accuracy: 0.25, count: 300), (0.25 * 0.75 / 300).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(Cloze.standardError(accuracy: 1, count: 10), 0)
        XCTAssertEqual(Cloze.standardError(accuracy: 0, count: 0), 0)
        let r = ClozeResult(count: 200, correct: 150, correctPerByte: 140, isBound: false, meanTrueScore: -3)
        XCTAssertEqual(r.accuracy, 0.75)
        XCTAssertEqual(r.standardError, (0.75 * 0.25 / 200).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(r.accuracyPerByte, 0.7)
    }

    func testItemsAreDeterministicStoredAndSpread() throws {
        try data.makeShards()
        let config = ClozeConfig(items: 50, seed: 4, context: 6, ending: 3)
        let a = try Cloze.build(shards: data.shards, config: config)
        let b = try Cloze.build(shards: data.shards, config: config)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.items.count, 50)
        // Stored twice: the same bytes; loaded back: the same items; the shards and their manifest untouched.
        let manifestBefore = try Data(contentsOf: URL(fileURLWithPath: data.shards + "/manifest.json"))
        try Cloze.store(a, shards: data.shards)
        let first = try Data(contentsOf: URL(fileURLWithPath: data.shards + "/cloze/items.jsonl"))
        try Cloze.store(b, shards: data.shards)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: data.shards + "/cloze/items.jsonl")), first)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: data.shards + "/manifest.json")), manifestBefore)
        let loaded = try XCTUnwrap(try Cloze.load(shards: data.shards))
        XCTAssertEqual(loaded.items, a.items)
        XCTAssertEqual(loaded.manifest.shardsSha256, try Hashing.sha256Hex(file: data.shards + "/manifest.json"))
        // A smaller set is a prefix of a larger one, and the stored set answers for it.
        let small = try Cloze.build(shards: data.shards, config: ClozeConfig(items: 20, seed: 4, context: 6, ending: 3))
        XCTAssertEqual(small.items, Array(a.items.prefix(20)))
        let (fromStore, stored) = try Cloze.items(shards: data.shards, config: ClozeConfig(items: 20, seed: 4, context: 6, ending: 3))
        XCTAssertTrue(stored)
        XCTAssertEqual(fromStore.items, small.items)
        let (other, storedOther) = try Cloze.items(shards: data.shards, config: ClozeConfig(items: 20, seed: 5, context: 6, ending: 3))
        XCTAssertFalse(storedOther)
        XCTAssertNotEqual(other.items, small.items, "another seed gives other items")
        let (whole, storedWhole) = try Cloze.items(shards: data.shards, config: ClozeConfig(items: 0, seed: 4, context: 6, ending: 3))
        XCTAssertTrue(storedWhole)
        XCTAssertEqual(whole.items, a.items, "items 0: the whole stored set")

        let docs = try SyntheticDocs(data)
        var answers = [Int](repeating: 0, count: 4)
        var documents = Set<Int>()
        for item in a.items {
            answers[item.answer] += 1
            documents.insert(item.document)
            XCTAssertEqual(item.context.count, 6)
            XCTAssertEqual(item.endings.map(\.count), [3, 3, 3, 3])
            // The context and true ending are the document's tokens; distractors come from other documents,
            // each another one, and are the tokens at their recorded place.
            let d = docs.documents[item.document]
            XCTAssertEqual(item.context + item.endings[item.answer], Array(d[item.offset..<(item.offset + 9)]))
            XCTAssertEqual(item.offset % 9, 0)
            XCTAssertEqual(Set(item.sources.map { $0[0] }).count, 4)
            for (c, e) in item.endings.enumerated() {
                let (doc, at) = (item.sources[c][0], item.sources[c][1])
                XCTAssertEqual(e, Array(docs.documents[doc][at..<(at + 3)]))
                if c != item.answer {
                    XCTAssertNotEqual(doc, item.document)
                    XCTAssertNotEqual(e, item.endings[item.answer])
                }
                XCTAssertFalse(e.contains(data.eot))
            }
        }
        XCTAssertTrue(answers.allSatisfy { $0 >= 5 }, "answer positions spread: \(answers)")
        XCTAssertEqual(documents.count, 30, "round-robin over documents: every one of the 30 is used before any twice")
        XCTAssertEqual(Set(a.items.prefix(30).map(\.document)).count, 30)
    }

    func testBuildStopsAtTheWindowsThereAreAndNamesBadSettings() throws {
        try data.makeShards(valDocs: 5)
        // 40-token documents hold 2 windows of 16: at most 10 items.
        let s = try Cloze.build(shards: data.shards, config: ClozeConfig(items: 500))
        XCTAssertEqual(s.items.count, 10)
        XCTAssertEqual(s.config.context + s.config.ending, data.seqLen)
        XCTAssertThrowsError(try Cloze.build(shards: data.shards, config: ClozeConfig(context: 40, ending: 1))) {
            XCTAssertTrue("\($0)".contains("no validation document has 41 tokens"), "\($0)")
        }
        try data.makeShards(valDocs: 3)
        XCTAssertThrowsError(try Cloze.build(shards: data.shards, config: ClozeConfig())) {
            XCTAssertTrue("\($0)".contains("needs 4"), "\($0)")
        }
        // A damaged items file is named.
        try data.makeShards()
        try Cloze.store(try Cloze.build(shards: data.shards, config: ClozeConfig(items: 5)), shards: data.shards)
        let path = data.shards + "/cloze/items.jsonl"
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        bytes[10] ^= 1
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        XCTAssertThrowsError(try Cloze.load(shards: data.shards)) { XCTAssertTrue("\($0)".contains("items.jsonl"), "\($0)") }
    }

    func testTrainedARModelBeatsChanceAndUntrainedDoesNot() throws {
        try data.makeShards()
        let set = try Cloze.build(shards: data.shards, config: ClozeConfig(items: 60))
        XCTAssertEqual(set.items.count, 60)
        let untrained = try Cloze.evaluate(model: data.untrained(), objective: .ar, set: set, schedule: nil, tokens: data.tokens)
        XCTAssertEqual(untrained.count, 60)
        XCTAssertLessThan(untrained.accuracy, 0.5, "an untrained model is near chance (0.25): \(untrained)")
        let model = try data.train(try data.schedule(.ar, epochs: 8, name: "ar"), name: "ar-run")
        let trained = try Cloze.evaluate(model: model, objective: .ar, set: set, schedule: nil, tokens: data.tokens)
        XCTAssertGreaterThan(trained.accuracy, 0.8, "\(trained)")
        XCTAssertGreaterThan(trained.meanTrueScore, untrained.meanTrueScore)
        XCTAssertFalse(trained.isBound)
        // The AR score is the exact log-likelihood of the ending given the context.
        let item = set.items[0]
        let scores = try Cloze.scores(model: model, objective: .ar, set: set.prefix(1), schedule: nil, maskId: nil)
        for c in 0..<4 {
            let all = item.context + item.endings[c]
            let whole = Evaluation.scoreText(model: model, tokens: all).nll
            let prefix = Evaluation.scoreText(model: model, tokens: item.context).nll
            XCTAssertEqual(-scores[0][c], whole - prefix, accuracy: 1e-3)
        }
    }

    func testDiffusionELBOScoresTheSameItemsAndIsDeterministic() throws {
        try data.makeShards(constant: true)
        let set = try Cloze.build(shards: data.shards, config: ClozeConfig(items: 40))
        let schedule = try data.schedule(.mdlm, epochs: 6, name: "mdlm")
        let model = try data.train(schedule, name: "mdlm-run")
        let r = try Cloze.evaluate(model: model, objective: .mdlm, set: set, schedule: schedule, tokens: data.tokens, draws: 8)
        XCTAssertTrue(r.isBound)
        XCTAssertEqual(r.count, 40)
        // (Well above chance, not perfect: the model learns to copy the tokens it saw in training, and some
        // validation documents repeat a token no training document has.)
        XCTAssertGreaterThan(r.accuracy, 0.6, "a diffusion model of constant documents tells their endings apart: \(r)")
        let a = try Cloze.scores(model: model, objective: .mdlm, set: set.prefix(5), schedule: schedule, maskId: data.maskId, draws: 8)
        let b = try Cloze.scores(model: model, objective: .mdlm, set: set.prefix(5), schedule: schedule, maskId: data.maskId, draws: 8)
        XCTAssertEqual(a, b)
        XCTAssertTrue(a.joined().allSatisfy { $0.isFinite && $0 <= 0 })
        // One draw by hand: masks from the schedule's masking, weights from its table, context never masked.
        let one = try Cloze.scores(model: model, objective: .mdlm, set: set.prefix(1), schedule: schedule, maskId: data.maskId, draws: 1)
        let item = set.items[0], C = set.config.context, E = set.config.ending, table = schedule.table!
        var tr = Cloze.rng(set.config.seed, Cloze.timeDomain, 0)
        let code = Int(NoiseTable.code(Double(tr.next() >> 11) * 0x1p-53))
        var mask = [UInt8](repeating: 0, count: E)
        let key = Hashing.mix64(Hashing.mix64(UInt64(set.config.seed) ^ Cloze.maskDomain) ^ 0)
        let masking = schedule.config.maskingMode
        XCTAssertEqual(masking, .exactK, "the mdlm default")
        mask.withUnsafeMutableBufferPointer { masking.fill($0, key: key, threshold: table.threshold[code], code: UInt16(code)) }
        // exact_k: k = 1 + floor(code·E / 65536) of the E ending tokens masked, each weighted E/k (E divides 65536).
        let k = mask.reduce(0) { $0 + Int($1) }
        XCTAssertEqual(k, 1 + code * E / 65_536)
        XCTAssertEqual(65_536 % E, 0)
        let weight = Float(E) / Float(k)
        for c in 0..<4 {
            var inputs = item.context.map { Int32($0) }, targets = [Int32](repeating: 0, count: C + E)
            var weights = [Float](repeating: 0, count: C + E)
            for j in 0..<E {
                inputs.append(mask[j] != 0 ? Int32(data.maskId) : Int32(item.endings[c][j]))
                targets[C + j] = Int32(item.endings[c][j])
                if mask[j] != 0 { weights[C + j] = weight }
            }
            model.forward(tokens: inputs, batch: 1, seq: C + E, causal: false)
            let ce = CrossEntropy.forwardBackward(logits: Array(model.logits), targets: targets, weights: weights, vocab: data.vocab,
                                                  excluding: data.maskId)
            XCTAssertEqual(-one[0][c], ce.loss, accuracy: 1e-4 * max(1, ce.loss))
        }
        // The diffusion score needs the run's schedule.
        XCTAssertThrowsError(try Cloze.evaluate(model: model, objective: .mdlm, set: set, schedule: nil, tokens: data.tokens))
    }
}

/// The documents of a synthetic split, read back (without their end-of-text).
struct SyntheticDocs {
    var documents: [[UInt32]] = []
    init(_ data: SyntheticRuns, split: String = "val") throws {
        let r = try ShardReader(path: data.shards + "/\(split)-00000.shard")
        let all = try r.tokens(in: 0..<r.tokenCount)
        for (j, s) in r.documentStarts.enumerated() {
            let e = j + 1 < r.documentStarts.count ? r.documentStarts[j + 1] : r.tokenCount
            documents.append(Array(all[s..<(e - 1)]))
        }
    }
}
