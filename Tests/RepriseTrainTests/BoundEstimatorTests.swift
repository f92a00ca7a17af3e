import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules
import RepriseShards
@testable import RepriseTrain
import XCTest

/// The mdlm loss of a fixed transformer, through the trainer's own objective code (ObjectiveBatch and
/// lossAndGradient) on a schedule's rows, against the continuous-time bound computed by enumerating every
/// mask of every row: exact_k's mean equals it; the at-least-one estimator's is above it.
final class BoundEstimatorTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "reprise-bound-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/shards", withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    let L = 4, vocab = 6, maskId = 5

    /// Random tokens 0..<5 (never the mask id), sequences of L tokens.
    func makeShards(tokens n: Int) throws -> String {
        let shards = dir + "/shards"
        var rng = SplitMix64(seed: 21)
        func split(_ prefix: String, _ size: Int) throws -> SplitSummary {
            let name = "\(prefix)-00000.shard"
            let w = try ShardWriter(path: shards + "/" + name, dtype: .uint16, frameTokens: 256)
            try w.appendDocument((0..<size).map { _ in UInt32(rng.next() % 5) })
            let r = try w.finish()
            var s = SplitSummary()
            s.shards = [ShardEntry(file: name, tokens: r.tokenCount, documents: 1, bytes: r.byteSize, sha256: r.sha256)]
            s.tokens = size; s.documents = 1; s.sequences = (size - 1) / L
            return s
        }
        var config = PackConfig()
        config.seqLen = L
        config.frameTokens = 256
        let m = PackManifest(config: config, configHash: "c", inputHash: "i", ingestManifestSha256: "x",
                             tokenizerSha256: "tok", docsDir: "docs", tokenizerDir: "tok", vocabSize: vocab,
                             dtype: "uint16", endOfTextId: 4, train: try split("train", n), val: try split("val", 41))
        try AtomicFileWriter.write(try CanonicalJSON.encode(m), to: shards + "/manifest.json")
        return shards
    }

    /// A transformer with large random weights, so that its predictions depend strongly on which tokens
    /// are visible.
    func fixedModel() -> Transformer {
        let model = Transformer(config: ModelConfig(vocabSize: vocab, dim: 16, layers: 1, heads: 2, ffnHidden: 32, context: L),
                                maxBatch: 16, maxSeq: L, threads: 1)
        var rng = SplitMix64(seed: 5)
        for t in model.layout.tensors {
            for i in t.range {
                let u1 = (Double(rng.next() >> 11) + 1) * 0x1p-53, u2 = Double(rng.next() >> 11) * 0x1p-53
                let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
                model.params[i] = Float(t.kind == .norm ? 1 + 0.2 * z : 0.8 * z)
            }
        }
        return model
    }

    /// −log p(x_j | visible) for every masked j of `set`, from one bidirectional forward of the masked row.
    func maskedCE(_ model: Transformer, _ x: [Int32], set: Int) -> Double {
        let input = (0..<L).map { set >> $0 & 1 == 1 ? Int32(maskId) : x[$0] }
        model.forward(tokens: input, batch: 1, seq: L, causal: false)
        var total = 0.0
        for j in 0..<L where set >> j & 1 == 1 {
            let row = (0..<vocab).map { Double(model.logits[j * vocab + $0]) }
            let kept = (0..<vocab).filter { $0 != maskId }
            let m = kept.map { row[$0] }.max()!
            total += m + log(kept.map { exp(row[$0] - m) }.reduce(0, +)) - row[Int(x[j])]
        }
        return total
    }

    /// The bound per token of row x: Σ over masks S of ∫₀¹ (1/t)·t^|S|(1 − t)^(L−|S|) dt · Σ_{j∈S} CE_j(S) / L,
    /// the integral being the Beta function B(|S|, L − |S| + 1) = (|S| − 1)!(L − |S|)!/L!.
    func enumeratedBound(_ model: Transformer, _ x: [Int32]) -> Double {
        func factorial(_ n: Int) -> Double { (1...max(1, n)).reduce(1.0) { $0 * Double($1) } }
        var total = 0.0
        for set in 1..<(1 << L) {
            let k = set.nonzeroBitCount
            total += factorial(k - 1) * factorial(L - k) / factorial(L) * maskedCE(model, x, set: set)
        }
        return total / Double(L)
    }

    /// The trainer's mdlm loss (Σ weight·CE / positions) averaged over the plan's batches, with the standard
    /// error over batches, and the enumerated bound averaged over the same rows.
    func planLoss(_ plan: String, shards: String, model: Transformer) throws -> (mean: Double, se: Double, exact: Double) {
        let s = try Schedule(plan)
        let stream = try s.stream(shards: shards)
        let batch = ObjectiveBatch(rows: s.config.batchSize, seqLen: L)
        var means: [Double] = [], exact = 0.0, rows = 0
        var cache: [[Int32]: Double] = [:]
        while let b = try stream.next() {
            batch.fill(b, objective: .mdlm, maskId: maskId)
            let sum = lossAndGradient(model: model, batch: batch, objective: .mdlm, maskId: maskId, backward: false)
            means.append(sum / Double(batch.positions))
            for r in 0..<b.rows {
                let x = (0..<L).map { Int32(b.tokens[r * (L + 1) + $0]) }
                if cache[x] == nil { cache[x] = enumeratedBound(model, x) }
                exact += cache[x]!
                rows += 1
            }
        }
        let m = means.reduce(0, +) / Double(means.count)
        let v = means.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(means.count - 1)
        return (m, (v / Double(means.count)).squareRoot(), exact / Double(rows))
    }

    func testTrainerLossOfExactKIsUnbiasedAndAtLeastOneIsNot() throws {
        let shards = try makeShards(tokens: 16 * 4 * 400 + 1)  // 6,400 sequences
        let model = fixedModel()
        var config = ScheduleConfig()
        config.objective = .mdlm; config.epochs = 3; config.batchSize = 16; config.seed = 9; config.shortFraction = 0
        try ScheduleBuilder.build(shards: shards, config: config, output: dir + "/k", threads: 1, quiet: true)
        let k = try planLoss(dir + "/k", shards: shards, model: model)
        XCTAssertLessThan(k.se, 0.01 * k.exact)
        XCTAssertEqual(k.mean, k.exact, accuracy: 4 * k.se, "exact_k: \(k.mean) ± \(k.se), enumerated \(k.exact)")
        print("trainer loss, exact_k: \(k.mean) ± \(k.se); enumerated bound \(k.exact)")

        config.masking = .bernoulli
        try ScheduleBuilder.build(shards: shards, config: config, output: dir + "/b", threads: 1, quiet: true)
        let b = try planLoss(dir + "/b", shards: shards, model: model)
        XCTAssertEqual(b.exact, k.exact, accuracy: 1e-9, "the same rows")
        XCTAssertGreaterThan(b.mean - b.exact, 4 * b.se, "at least one: \(b.mean) ± \(b.se), enumerated \(b.exact)")
        print("trainer loss, bernoulli (at least one, weight 1/t): \(b.mean) ± \(b.se); enumerated bound \(b.exact)")
    }
}
