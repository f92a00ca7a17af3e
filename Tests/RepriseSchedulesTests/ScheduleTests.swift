import Foundation
import RepriseCore
@testable import RepriseSchedules
import RepriseShards
import XCTest

final class ScheduleTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "reprise-schedule-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/shards", withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A dataset of random tokens: train in two shards, val in one, frames of 256 tokens, seq_len 16.
    @discardableResult
    func makeShards(seed: UInt64 = 5, trainSizes: [Int] = [3000, 2200], valSize: Int = 900, seqLen: Int = 16,
                    vocab: UInt64 = 1000) throws -> String {
        let shards = dir + "/shards"
        var rng = SplitMix64(seed: seed)
        func split(_ prefix: String, _ sizes: [Int]) throws -> SplitSummary {
            var s = SplitSummary()
            for (i, size) in sizes.enumerated() {
                let name = "\(prefix)-0000\(i).shard"
                let w = try ShardWriter(path: shards + "/" + name, dtype: .uint16, frameTokens: 256)
                try w.appendDocument((0..<size).map { _ in UInt32(rng.next() % vocab) })
                let r = try w.finish()
                s.shards.append(ShardEntry(file: name, tokens: r.tokenCount, documents: 1, bytes: r.byteSize, sha256: r.sha256))
                s.tokens += size
                s.documents += 1
            }
            s.sequences = (s.tokens - 1) / seqLen
            return s
        }
        var config = PackConfig()
        config.seqLen = seqLen
        config.frameTokens = 256
        let m = PackManifest(config: config, configHash: "c", inputHash: "i\(seed)", ingestManifestSha256: "x",
                             tokenizerSha256: "y", docsDir: "docs", tokenizerDir: "tok", vocabSize: 1000,
                             dtype: "uint16", endOfTextId: 999, train: try split("train", trainSizes),
                             val: try split("val", [valSize]))
        try AtomicFileWriter.write(try CanonicalJSON.encode(m), to: shards + "/manifest.json")
        return shards
    }

    func mdlm(epochs: Int = 3, seed: Int = 1, batch: Int = 8, masking: Masking? = .bernoulli) -> ScheduleConfig {
        var c = ScheduleConfig()
        c.objective = .mdlm; c.epochs = epochs; c.seed = seed; c.batchSize = batch; c.shuffleWindow = 2; c.valDraws = 4
        c.masking = masking
        return c
    }

    func files(_ d: String) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: d) {
            out[name] = [UInt8](FileManager.default.contents(atPath: d + "/" + name)!)
        }
        return out
    }

    func testBuildIsDeterministicWhateverTheThreadCount() throws {
        let shards = try makeShards()
        try ScheduleBuilder.build(shards: shards, config: mdlm(epochs: 5), output: dir + "/a", threads: 1, quiet: true)
        try ScheduleBuilder.build(shards: shards, config: mdlm(epochs: 5), output: dir + "/b", threads: 2, quiet: true)
        let a = try files(dir + "/a"), b = try files(dir + "/b")
        let expected = ["manifest.json", "noise.table", "validation.plan"] + (0..<5).map { String(format: "epoch-%05d.plan", $0) }
        XCTAssertEqual(Set(a.keys), Set(expected))
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        for (name, bytes) in a where name != "manifest.json" { XCTAssertEqual(bytes, b[name], name) }
        // The manifests differ only in nothing: same config, inputs and files.
        XCTAssertEqual(a["manifest.json"], b["manifest.json"])
    }

    func testEveryEpochHoldsEverySequenceOnceInADifferentOrder() throws {
        let shards = try makeShards()
        let m = try ScheduleBuilder.build(shards: shards, config: mdlm(epochs: 4), output: dir + "/s", quiet: true)
        XCTAssertEqual(m.trainSequences, (5200 - 1) / 16)
        XCTAssertEqual(m.ledger.totalTokens, 4 * m.trainSequences * 16)
        XCTAssertEqual(m.ledger.repetitionsPerSequence, 4)
        XCTAssertEqual(m.blockSequences, 16)
        let s = try Schedule(dir + "/s")
        var orders: [[UInt32]] = []
        for e in 0..<4 {
            let plan = try s.epoch(e)
            XCTAssertEqual(plan.sequences.sorted(), (0..<UInt32(m.trainSequences)).map { $0 })
            XCTAssertEqual(plan.tcodes.count, m.trainSequences)
            orders.append(plan.sequences)
        }
        XCTAssertEqual(Set(orders.map { $0.map(String.init).joined(separator: ",") }).count, 4)
        XCTAssertTrue(s.verify().isEmpty)
    }

    func testMasksAreFreshEachEpochAndReproducible() throws {
        let shards = try makeShards()
        try ScheduleBuilder.build(shards: shards, config: mdlm(epochs: 3), output: dir + "/s", quiet: true)
        try ScheduleBuilder.build(shards: shards, config: mdlm(epochs: 3), output: dir + "/again", quiet: true)
        let s = try Schedule(dir + "/s"), again = try Schedule(dir + "/again")
        let ds = try PackManifest.load(shards).dataset(shards, split: "train")
        // Mask, t and key of sequence 7 in each epoch.
        var seen: [(t: Double, mask: [UInt8])] = []
        for e in 0..<3 {
            for sch in [s, again] {
                let plan = try sch.epoch(e)
                let pos = plan.sequences.firstIndex(of: 7)!
                let b = try sch.batch(plan, pos / 8, dataset: ds)
                let row = pos % 8, L = b.seqLen  // 16 but in a short batch
                XCTAssertEqual(b.sequences[row], 7)
                XCTAssertEqual(Array(b.tokens[(row * (L + 1))..<((row + 1) * (L + 1))]), Array(try ds.sequence(7).prefix(L + 1)))
                XCTAssertEqual(b.timesSeenBefore, e)
                let entry = (b.t[row], Array(b.mask[(row * L)..<((row + 1) * L)]))
                if sch === again { XCTAssertEqual(entry.0, seen.last!.t); XCTAssertEqual(entry.1, seen.last!.mask) } else { seen.append(entry) }
            }
        }
        XCTAssertNotEqual(seen[0].mask, seen[1].mask)
        XCTAssertNotEqual(seen[1].mask, seen[2].mask)
        XCTAssertNotEqual(seen[0].t, seen[1].t)
    }

    func testBatchesAreStratifiedAndMaskRateFollowsT() throws {
        let shards = try makeShards(trainSizes: [20_000], valSize: 500)
        try ScheduleBuilder.build(shards: shards, config: mdlm(epochs: 2, batch: 10), output: dir + "/s", quiet: true)
        let s = try Schedule(dir + "/s")
        let stream = try s.stream(shards: shards)
        var low = (masked: 0, total: 0, expected: 0.0), high = (masked: 0, total: 0, expected: 0.0)
        var batches = 0
        while let b = try stream.next() {
            batches += 1
            if b.rows == 10 {
                let strata = b.t.map { Int(($0 - 1e-3) / (1 - 1e-3) * 10) }
                XCTAssertEqual(strata.sorted(), Array(0..<10), "batch \(b.step)")
            }
            let L = b.seqLen  // 16 but in a short batch
            for r in 0..<b.rows {
                XCTAssertEqual(b.weight[r], 1 / b.t[r], accuracy: 1e-9)
                let m = b.mask[(r * L)..<((r + 1) * L)].reduce(0) { $0 + Int($1) }
                let expected = Double(L) * (1 - b.alpha[r])
                if b.t[r] < 0.5 { low.masked += m; low.total += L; low.expected += expected } else {
                    high.masked += m; high.total += L; high.expected += expected
                }
            }
        }
        XCTAssertEqual(batches, s.steps)
        for part in [low, high] {
            // Bernoulli counts (plus the at-least-one rule, which matters only for t < 1/16).
            XCTAssertEqual(Double(part.masked), part.expected, accuracy: 5 * part.expected.squareRoot() + 60)
        }
    }

    func testStreamResumesAtAnyStepWithTheSameBatches() throws {
        let shards = try makeShards()
        try ScheduleBuilder.build(shards: shards, config: mdlm(epochs: 2), output: dir + "/s", quiet: true)
        let s = try Schedule(dir + "/s")
        var all: [PlanBatch] = []
        let stream = try s.stream(shards: shards)
        while let b = try stream.next() { all.append(b) }
        XCTAssertEqual(all.count, s.steps)
        XCTAssertEqual(all.map(\.step), Array(0..<s.steps))
        let from = s.manifest.batchesPerEpoch - 3
        let tail = try s.stream(shards: shards, from: from, to: from + 5)
        var k = from
        while let b = try tail.next() {
            XCTAssertEqual(b.sequences, all[k].sequences)
            XCTAssertEqual(b.tokens, all[k].tokens)
            XCTAssertEqual(b.mask, all[k].mask)
            XCTAssertEqual(b.t, all[k].t)
            k += 1
        }
        XCTAssertEqual(k, from + 5)
    }

    func testReadingInPlanOrderDecompressesEachFrameAboutOnce() throws {
        let shards = try makeShards(trainSizes: [40_000], valSize: 100)
        var c = ScheduleConfig()
        c.shuffleWindow = 4
        try ScheduleBuilder.build(shards: shards, config: c, output: dir + "/ar", quiet: true)
        let s = try Schedule(dir + "/ar")
        let ds = try PackManifest.load(shards).dataset(shards, split: "train", cacheFrames: s.cacheFrames)
        let plan = try s.epoch(0)
        for i in plan.sequences { _ = try ds.sequence(Int(i)) }
        let frames = (40_000 + 255) / 256
        XCTAssertLessThanOrEqual(ds.framesDecompressed, frames * 3 / 2, "\(ds.framesDecompressed) decompressions of \(frames) frames")
        // A uniform shuffle with the same cache decompresses far more often.
        var rng = SplitMix64(seed: 1)
        var order = Array(0..<ds.sequenceCount)
        rng.shuffle(&order)
        let uniform = try PackManifest.load(shards).dataset(shards, split: "train", cacheFrames: s.cacheFrames)
        for i in order { _ = try uniform.sequence(i) }
        XCTAssertGreaterThan(uniform.framesDecompressed, 5 * frames)
    }

    func testValidationPlanIsFixedAcrossTrainingSeeds() throws {
        let shards = try makeShards()
        try ScheduleBuilder.build(shards: shards, config: mdlm(seed: 1), output: dir + "/one", quiet: true)
        try ScheduleBuilder.build(shards: shards, config: mdlm(seed: 2), output: dir + "/two", quiet: true)
        let one = try files(dir + "/one"), two = try files(dir + "/two")
        XCTAssertEqual(one["validation.plan"], two["validation.plan"])
        XCTAssertNotEqual(one["epoch-00000.plan"], two["epoch-00000.plan"])
        let s = try Schedule(dir + "/one")
        let plan = try XCTUnwrap(try s.validation())
        XCTAssertEqual(plan.sequences, (900 - 1) / 16)
        XCTAssertEqual(plan.tcodes.count, plan.sequences * 4)
        let val = try PackManifest.load(shards).dataset(shards, split: "val")
        let b = try s.validationBatch(plan, rows: 0..<8, dataset: val)
        XCTAssertEqual(b.sequences, [0, 0, 0, 0, 1, 1, 1, 1])
        // The 4 draws of a sequence are stratified over [0, 1).
        XCTAssertEqual(b.t[0..<4].map { Int(($0 - 1e-3) / (1 - 1e-3) * 4) }.sorted(), [0, 1, 2, 3])
        XCTAssertEqual(Set(b.keys).count, 8)
        XCTAssertEqual(Array(b.tokens[0..<17]), try val.sequence(0))
    }

    func testDamagedFilesAndForeignShardsAreErrors() throws {
        let shards = try makeShards()
        try ScheduleBuilder.build(shards: shards, config: mdlm(), output: dir + "/s", quiet: true)
        let path = dir + "/s/epoch-00001.plan"
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let s = try Schedule(dir + "/s")
        XCTAssertNoThrow(try s.epoch(0))
        XCTAssertThrowsError(try s.epoch(1)) { XCTAssertTrue("\($0)".contains("epoch-00001.plan"), "\($0)") }
        XCTAssertEqual(s.verify().count, 1)
        // Truncated.
        try Data(bytes[0..<100]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try s.epoch(1)) { XCTAssertTrue("\($0)".contains("epoch-00001.plan")) }
        // The same plan file passed off as another epoch is caught by the header even with a matching hash.
        var m = s.manifest
        m.epochFiles[1] = m.epochFiles[2]
        try AtomicFileWriter.write(try CanonicalJSON.encode(m), to: dir + "/s/manifest.json")
        XCTAssertThrowsError(try Schedule(dir + "/s").epoch(1)) { XCTAssertTrue("\($0)".contains("expected kind 1 index 1"), "\($0)") }
        // A plan checked against another dataset.
        XCTAssertNoThrow(try s.check(shards: shards))
        try makeShards(seed: 6)
        XCTAssertThrowsError(try s.check(shards: shards)) { XCTAssertTrue("\($0)".contains("another dataset"), "\($0)") }
        XCTAssertThrowsError(try Schedule(dir + "/missing")) { XCTAssertTrue("\($0)".contains("run `reprise schedule` first")) }
    }

    func testAUniqueTokenBudgetTakesSequencesSpreadOverTheSplitOrTheFirstOnes() throws {
        let shards = try makeShards()  // 324 training sequences, 16 per frame
        var c = mdlm(epochs: 2)
        c.sequences = 50
        let m = try ScheduleBuilder.build(shards: shards, config: c, output: dir + "/budget", quiet: true)
        XCTAssertEqual(m.config.selection, .spread, "spread is the default")
        XCTAssertEqual(m.trainSequences, 50)
        XCTAssertEqual(m.splitSequences, 324)
        XCTAssertEqual(m.ledger.uniqueTokens, 50 * 16)
        let selected = m.selectedSequences
        XCTAssertEqual(selected.count, 50)
        XCTAssertEqual(selected.first, 0)
        XCTAssertGreaterThan(selected.last!, 300, "the budget reaches the end of the split")
        XCTAssertTrue(zip(selected, selected.dropFirst()).allSatisfy { $0 < $1 })
        let s = try Schedule(dir + "/budget")
        for e in 0..<2 { XCTAssertEqual(try s.epoch(e).sequences.sorted(), selected) }
        XCTAssertEqual(s.verify(), [])
        var seen = Set<Int>()
        let stream = try s.stream(shards: shards)
        while let b = try stream.next() {
            seen.formUnion(b.sequences)
            // The rows hold the tokens of the sequences they name.
            let ds = try PackManifest.load(shards).dataset(shards, split: "train")
            XCTAssertEqual(Array(b.tokens[0..<17]), try ds.sequence(b.sequences[0]))
        }
        XCTAssertEqual(seen, Set(selected.map(Int.init)))

        c.selection = .first
        let first = try ScheduleBuilder.build(shards: shards, config: c, output: dir + "/first", quiet: true)
        XCTAssertEqual(try Schedule(dir + "/first").epoch(1).sequences.sorted(), (0..<UInt32(50)).map { $0 })
        XCTAssertEqual(first.selectedSequences, (0..<UInt32(50)).map { $0 })
        XCTAssertNotEqual(first.configHash, m.configHash)
        c.sequences = 100_000
        XCTAssertThrowsError(try ScheduleBuilder.build(shards: shards, config: c, output: dir + "/x", quiet: true)) {
            XCTAssertTrue("\($0)".contains("has only"), "\($0)")
        }
        // Without a budget there is no selection (and no key in the manifest).
        var all = mdlm(epochs: 1)
        XCTAssertNil(try all.resolved().selection)
        all.selection = .spread
        XCTAssertThrowsError(try all.resolved()) { XCTAssertTrue("\($0)".contains("schedule.selection applies to a budget"), "\($0)") }
    }

    func testSpreadSelectionRunsAndGaps() {
        XCTAssertNil(ScheduleBuilder.selection(total: 100, count: 100, blockSequences: 16, selection: .spread), "the whole split")
        XCTAssertNil(ScheduleBuilder.selection(total: 1000, count: 300, blockSequences: 16, selection: .first))
        for (N, n, g) in [(1000, 300, 16), (1000, 301, 16), (100_000, 64 * 512 + 7, 512), (10, 9, 4), (5000, 1, 8)] {
            let s = ScheduleBuilder.selection(total: N, count: n, blockSequences: g, selection: .spread)!
            XCTAssertEqual(s.count, n)
            XCTAssertEqual(s.first, 0)
            XCTAssertTrue(zip(s, s.dropFirst()).allSatisfy { $0 < $1 }, "distinct and increasing")
            XCTAssertLessThan(Int(s.last!), N)
            let c = min(g, (n + 63) / 64), k = (n + c - 1) / c
            // Runs of c consecutive sequences; the gaps after them differ by at most one sequence.
            var gaps: [Int] = []
            for j in 0..<k {
                let run = s[(j * c)..<min((j + 1) * c, n)]
                XCTAssertEqual(Int(run.last!) - Int(run.first!), run.count - 1, "run \(j) is consecutive")
                let next = j + 1 < k ? Int(s[(j + 1) * c]) : N + Int(s[0])
                gaps.append(next - Int(run.last!) - 1)
            }
            XCTAssertEqual(gaps.reduce(0, +), N - n)
            XCTAssertLessThanOrEqual(gaps.max()! - gaps.min()!, 1, "the sequences left out are shared evenly: \(N) \(n)")
        }
    }

    func testConfigChecks() throws {
        var c = ScheduleConfig()
        c.noise = "cosine"
        XCTAssertThrowsError(try c.resolved()) { XCTAssertTrue("\($0)".contains("none for the ar objective")) }
        c.objective = .mdlm
        c.noise = "sqrt"
        XCTAssertThrowsError(try c.resolved()) { XCTAssertTrue("\($0)".contains("allowed: linear, cosine")) }
        c.objective = .gaussian
        XCTAssertEqual(try c.resolved().noise, "sqrt")
        c.noise = ""
        XCTAssertEqual(try c.resolved().noise, "cosine")
        c.epochs = 0
        XCTAssertThrowsError(try c.resolved())
        c.epochs = 1
        // short_fraction: mdlm only, default 0.01, in [0, 1]; resolved to nil (no key) for ar and gaussian.
        c.shortFraction = 0.2
        XCTAssertThrowsError(try c.resolved()) { XCTAssertTrue("\($0)".contains("schedule.short_fraction applies to the mdlm objective only"), "\($0)") }
        c.objective = .ar
        XCTAssertThrowsError(try c.resolved()) { XCTAssertTrue("\($0)".contains("mdlm objective only"), "\($0)") }
        c.shortFraction = 0
        XCTAssertNil(try c.resolved().shortFraction)
        XCTAssertEqual(try c.resolved().shortBatchFraction, 0)
        c.objective = .mdlm
        c.shortFraction = nil
        XCTAssertEqual(try c.resolved().shortFraction, 0.01)
        for bad in [-0.1, 1.5, Double.nan] {
            c.shortFraction = bad
            XCTAssertThrowsError(try c.resolved()) { XCTAssertTrue("\($0)".contains("schedule.short_fraction must be in [0, 1]"), "\($0)") }
        }
        let decoded = try JSONDecoder().decode(ScheduleConfig.self, from: Data(#"{"objective": "mdlm", "short_fraction": 0.5}"#.utf8))
        XCTAssertEqual(decoded.shortFraction, 0.5)
        // masking: exact_k by default for mdlm, bernoulli (unused) for the others; exact_k is mdlm only.
        XCTAssertEqual(decoded.masking, .exactK)
        let old = try JSONDecoder().decode(ScheduleConfig.self, from: Data(#"{"objective": "mdlm", "masking": "bernoulli"}"#.utf8))
        XCTAssertEqual(old.masking, .bernoulli)
        XCTAssertEqual(try JSONDecoder().decode(ScheduleConfig.self, from: Data(#"{"objective": "ar"}"#.utf8)).masking, .bernoulli)
        XCTAssertThrowsError(try JSONDecoder().decode(ScheduleConfig.self, from: Data(#"{"objective": "gaussian", "masking": "exact_k"}"#.utf8))) {
            XCTAssertTrue("\($0)".contains("exact_k applies to the mdlm objective only"), "\($0)")
        }
        XCTAssertThrowsError(try JSONDecoder().decode(ScheduleConfig.self, from: Data(#"{"objective": "ar", "short_fraction": 0.5}"#.utf8)))
        let yaml = #"{"objective": "mdlm", "epochs": 2, "batch_sise": 4}"#
        XCTAssertThrowsError(try JSONDecoder().decode(ScheduleConfig.self, from: Data(yaml.utf8))) {
            XCTAssertTrue("\($0)".contains("batch_sise"), "\($0)")
        }
    }

    func testGaussianPlanHasKeysAndNoMask() throws {
        let shards = try makeShards()
        var c = mdlm()
        c.objective = .gaussian
        c.noise = ""
        try ScheduleBuilder.build(shards: shards, config: c, output: dir + "/g", quiet: true)
        let s = try Schedule(dir + "/g")
        let ds = try PackManifest.load(shards).dataset(shards, split: "train")
        let b = try s.batch(try s.epoch(0), 0, dataset: ds)
        XCTAssertTrue(b.mask.isEmpty)
        XCTAssertEqual(b.keys.count, 8)
        XCTAssertEqual(b.alpha[0], GaussianNoise.cosine.alphaBar(b.t[0]), accuracy: 1e-15)
        XCTAssertEqual(b.weight, [Double](repeating: 1, count: 8))
    }

    func testShortBatchesArePrefixesMaskedOverTheirOwnLength() throws {
        let shards = try makeShards()
        let ds = try PackManifest.load(shards).dataset(shards, split: "train")
        for masking in Masking.allCases {
            var c = mdlm(epochs: 3)
            c.shortFraction = 0.5
            c.masking = masking
            let out = dir + "/short-" + masking.rawValue
            let m = try ScheduleBuilder.build(shards: shards, config: c, output: out, quiet: true)
            let s = try Schedule(out)
            let table = try XCTUnwrap(s.table)
            var short = 0, full = 0, lengths = Set<Int>()
            for e in 0..<3 {
                let plan = try s.epoch(e)
                for k in 0..<s.manifest.batchesPerEpoch {
                    let b = try s.batch(plan, k, dataset: ds)
                    let L = b.seqLen
                    XCTAssertEqual(L, s.batchLength(epoch: e, batch: k))
                    XCTAssertEqual(b.tokens.count, b.rows * (L + 1))
                    XCTAssertEqual(b.mask.count, b.rows * L)
                    if L < 16 { short += 1; lengths.insert(L) } else { full += 1 }
                    for r in 0..<b.rows {
                        let seq = b.sequences[r]
                        XCTAssertEqual(Array(b.tokens[(r * (L + 1))..<((r + 1) * (L + 1))]), Array(try ds.sequence(seq).prefix(L + 1)))
                        // The mask is the fill over L positions from the row's key and t, not a cut of the full one.
                        XCTAssertEqual(b.keys[r], PlanRandom.sequenceKey(seed: 1, epoch: e, sequence: seq))
                        var expected = [UInt8](repeating: 0, count: L)
                        expected.withUnsafeMutableBufferPointer {
                            let code = plan.tcodes[k * 8 + r]
                            masking.fill($0, key: b.keys[r], threshold: table.threshold[Int(code)], code: code)
                        }
                        XCTAssertEqual(Array(b.mask[(r * L)..<((r + 1) * L)]), expected, "epoch \(e) batch \(k) row \(r)")
                        let count = expected.reduce(0) { $0 + Int($1) }
                        XCTAssertGreaterThan(count, 0)
                        if masking == .exactK {
                            // k from the code over the batch's own length; t = k/L, weight 1/(k·P(k)).
                            XCTAssertEqual(count, 1 + Int(plan.tcodes[k * 8 + r]) * L / 65_536)
                            XCTAssertEqual(b.t[r], Double(count) / Double(L))
                            let codesForK = (0..<65_536).filter { 1 + $0 * L / 65_536 == count }.count
                            XCTAssertEqual(b.weight[r], 65_536 / (Double(count) * Double(codesForK)), accuracy: 1e-9)
                        }
                    }
                }
            }
            XCTAssertEqual(m.ledger.shortBatches, short)
            XCTAssertGreaterThan(short, 20)
            XCTAssertGreaterThan(full, 20)
            XCTAssertGreaterThan(lengths.count, 8, "short lengths drawn: \(lengths.sorted())")
            // The stream feeds the same batches; validation is never shortened.
            let stream = try s.stream(shards: shards)
            var streamed = 0
            while let b = try stream.next() {
                XCTAssertEqual(b.seqLen, s.batchLength(epoch: b.epoch, batch: b.batch))
                if b.seqLen < 16 { streamed += 1 }
            }
            XCTAssertEqual(streamed, short)
            let val = try PackManifest.load(shards).dataset(shards, split: "val")
            let vplan = try XCTUnwrap(try s.validation())
            XCTAssertEqual(try s.validationBatch(vplan, rows: 0..<(vplan.sequences * vplan.draws), dataset: val).seqLen, 16)
        }
        // Without short batches the ledger says 0 (mdlm), and every batch has the full length.
        var c = mdlm()
        c.shortFraction = 0
        let m = try ScheduleBuilder.build(shards: shards, config: c, output: dir + "/none", quiet: true)
        XCTAssertEqual(m.ledger.shortBatches, 0)
        let stream = try Schedule(dir + "/none").stream(shards: shards)
        while let b = try stream.next() { XCTAssertEqual(b.seqLen, 16) }
    }

    func testARAndGaussianManifestsAreUnchangedByShortFraction() throws {
        // The config of an AR plan as reprise wrote it before short_fraction existed, and its config_hash.
        let old = """
        {
          "batch_size" : 8,
          "epochs" : 2,
          "eps" : 0.001,
          "masking" : "bernoulli",
          "noise" : "none",
          "objective" : "ar",
          "seed" : 4,
          "sequences" : 0,
          "shuffle_window" : 2,
          "t_sampling" : "stratified",
          "val_draws" : 32,
          "val_seed" : 0,
          "val_sequences" : 0
        }

        """
        var c = ScheduleConfig()
        c.epochs = 2; c.batchSize = 8; c.seed = 4; c.shuffleWindow = 2
        let resolved = try c.resolved()
        XCTAssertEqual(String(decoding: try CanonicalJSON.encode(resolved), as: UTF8.self), old)
        XCTAssertEqual(try CanonicalJSON.hash(resolved), "66c61ac8279b7b1cf84a17cc3f9e961f806e7d77662921ae7e28a199b5fb7192")
        XCTAssertEqual(try JSONDecoder().decode(ScheduleConfig.self, from: Data(old.utf8)), resolved)
        // Gaussian likewise; the manifests' ledgers carry no short_batches.
        let shards = try makeShards()
        var g = mdlm()
        g.objective = .gaussian
        let gm = try ScheduleBuilder.build(shards: shards, config: g, output: dir + "/g", quiet: true)
        let am = try ScheduleBuilder.build(shards: shards, config: c, output: dir + "/ar", quiet: true)
        for (name, m) in [("g", gm), ("ar", am)] {
            XCTAssertNil(m.config.shortFraction)
            XCTAssertNil(m.ledger.shortBatches)
            let text = try String(contentsOfFile: dir + "/\(name)/manifest.json", encoding: .utf8)
            XCTAssertFalse(text.contains("short_"), name)
        }
        let md = try ScheduleBuilder.build(shards: shards, config: mdlm(), output: dir + "/m", quiet: true)
        let text = try String(contentsOfFile: dir + "/m/manifest.json", encoding: .utf8)
        XCTAssertTrue(text.contains(#""short_fraction" : 0.01"#) && text.contains(#""short_batches" : "#), text)
        XCTAssertEqual(md.config.shortFraction, 0.01)
    }

    func testAManifestWhoseSettingsDoNotMatchItsConfigHashIsRefused() throws {
        let shards = try makeShards()
        var c = mdlm()
        c.shortFraction = 0.5
        try ScheduleBuilder.build(shards: shards, config: c, output: dir + "/s", quiet: true)
        XCTAssertNoThrow(try Schedule(dir + "/s"))
        let path = dir + "/s/manifest.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let expected = path + ": the schedule's settings do not match its config_hash (built by another version of reprise?); rebuild it with `reprise schedule`"
        // An edited setting, and a manifest from before short_fraction (decoded with the default 0.01).
        for edited in [text.replacingOccurrences(of: #""short_fraction" : 0.5"#, with: #""short_fraction" : 0.25"#),
                       text.replacingOccurrences(of: #""short_fraction" : 0.5,"#, with: "")] {
            XCTAssertNotEqual(edited, text)
            try AtomicFileWriter.write(Array(edited.utf8), to: path)
            XCTAssertThrowsError(try Schedule(dir + "/s")) { XCTAssertTrue("\($0)".contains(expected), "\($0)") }
        }
    }

    /// A fixed synthetic predictor standing in for a model: the cross-entropy of masked position j given the
    /// mask pattern (bit set `set`) and the row's tokens. Positive, and different for every pattern, so the
    /// bound depends on which tokens are visible as a model's would.
    static func syntheticCE(_ j: Int, set: Int, tokens: ArraySlice<UInt32>) -> Double {
        let h = Hashing.mix64(UInt64(set) &* 1_000_003 &+ UInt64(j) &* 7919 &+ UInt64(tokens[tokens.startIndex + j]))
        return 0.2 + Double(h % 1000) / 400 + Double(set.nonzeroBitCount) * 0.3
    }

    /// The continuous-time bound (linear schedule, eps → 0) of a row of L tokens by enumerating every mask:
    /// ∫₀¹ (1/t) Σ_S t^|S| (1 − t)^(L−|S|) Σ_{j∈S} CE_j(S) dt, each integral done by Simpson's rule on the
    /// polynomial (the integrand is t^(|S|−1)(1 − t)^(L−|S|), smooth for |S| ≥ 1), per token (÷ L).
    static func enumeratedBound(L: Int, tokens: ArraySlice<UInt32>) -> Double {
        let n = 2000
        var total = 0.0
        for set in 1..<(1 << L) {
            let k = set.nonzeroBitCount
            var integral = 0.0
            for i in 0...n {
                let t = Double(i) / Double(n)
                let f = pow(t, Double(k - 1)) * pow(1 - t, Double(L - k))
                integral += f * (i == 0 || i == n ? 1 : i % 2 == 1 ? 4 : 2)
            }
            integral /= 3 * Double(n)
            let ce = (0..<L).filter { set >> $0 & 1 == 1 }.reduce(0.0) { $0 + syntheticCE($1, set: set, tokens: tokens) }
            total += integral * ce
        }
        return total / Double(L)
    }

    /// The mean over a plan's rows of Σ_masked weight·CE / L (what the trainer's mdlm loss averages), with its
    /// standard error over batches (rows of one stratified batch are not independent; batches are).
    func planEstimate(_ dir: String, shards: String, bound: (Int) -> Double) throws -> (mean: Double, se: Double, exact: Double) {
        let s = try Schedule(dir)
        let stream = try s.stream(shards: shards)
        let ds = try PackManifest.load(shards).dataset(shards, split: "train")
        var batchMeans: [Double] = [], exact = 0.0, rows = 0
        while let b = try stream.next() {
            let L = b.seqLen
            XCTAssertEqual(L, s.manifest.seqLen)
            var sum = 0.0
            for r in 0..<b.rows {
                let tokens = b.tokens[(r * (L + 1))..<(r * (L + 1) + L)]
                var set = 0
                for j in 0..<L where b.mask[r * L + j] != 0 { set |= 1 << j }
                XCTAssertNotEqual(set, 0)
                var ce = 0.0
                for j in 0..<L where set >> j & 1 == 1 { ce += Self.syntheticCE(j, set: set, tokens: tokens) }
                sum += b.weight[r] * ce / Double(L)
                exact += bound(b.sequences[r])
                rows += 1
            }
            batchMeans.append(sum / Double(b.rows))
        }
        _ = ds
        let m = batchMeans.reduce(0, +) / Double(batchMeans.count)
        let v = batchMeans.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(batchMeans.count - 1)
        return (m, (v / Double(batchMeans.count)).squareRoot(), exact / Double(rows))
    }

    func testExactKIsUnbiasedForTheEnumeratedBoundAndAtLeastOneIsBiasedUpward() throws {
        // L = 5 tokens of a 3-token vocabulary: 3^5 = 243 distinct rows, 31 masks each, all enumerated.
        let L = 5
        let shards = try makeShards(trainSizes: [150_001], valSize: 600, seqLen: L, vocab: 3)
        let ds = try PackManifest.load(shards).dataset(shards, split: "train")
        var cache: [Int: Double] = [:]
        func bound(_ sequence: Int) -> Double {
            let t = try! ds.sequence(sequence).prefix(L)
            let id = t.reduce(0) { $0 * 3 + Int($1) }
            if let b = cache[id] { return b }
            let b = Self.enumeratedBound(L: L, tokens: t[...])
            cache[id] = b
            return b
        }
        var config = mdlm(epochs: 2, batch: 16, masking: nil)
        config.shortFraction = 0
        try ScheduleBuilder.build(shards: shards, config: config, output: dir + "/k", quiet: true)
        XCTAssertEqual(try Schedule(dir + "/k").config.masking, .exactK, "exact_k is the mdlm default")
        let k = try planEstimate(dir + "/k", shards: shards, bound: bound)
        XCTAssertGreaterThan(k.exact, 1)
        XCTAssertLessThan(k.se, 0.005 * k.exact, "enough draws to tell a bias of a few percent")
        XCTAssertEqual(k.mean, k.exact, accuracy: 4 * k.se, "exact_k: mean \(k.mean) ± \(k.se), enumerated \(k.exact)")
        print("exact_k: mean \(k.mean) ± \(k.se), enumerated \(k.exact)")

        // The old estimator on the same rows: Bernoulli masks (at least one) weighted 1/t, t ∈ [eps, 1].
        config.masking = .bernoulli
        try ScheduleBuilder.build(shards: shards, config: config, output: dir + "/b", quiet: true)
        let b = try planEstimate(dir + "/b", shards: shards, bound: bound)
        XCTAssertEqual(b.exact, k.exact, accuracy: 1e-12, "same rows")
        XCTAssertGreaterThan(b.mean - b.exact, 4 * b.se, "at-least-one: mean \(b.mean) ± \(b.se), enumerated \(b.exact)")
        print("bernoulli, at least one, weight 1/t: mean \(b.mean) ± \(b.se), enumerated \(b.exact)")
    }
}
