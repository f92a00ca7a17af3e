import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules
import RepriseShards

// A likelihood-scored multiple-choice cloze task built from the validation documents (HellaSwag-style):
// a context taken from a document, and four endings of the same length, one the document's true
// continuation and three spans of other validation documents. A model picks the ending it finds most
// likely given the context: an AR model by the exact log-likelihood, a masked-diffusion model by its ELBO.
// The item set is a pure function of (shards, seed, context and ending lengths); item i does not depend on
// how many items are asked for, so a smaller set is a prefix of a larger one. It is stored with the
// validation split in SHARDS/cloze/ (items.jsonl, then manifest.json), which leaves the shards' own
// manifest and `reprise verify` untouched.

/// Settings of a cloze item set.
public struct ClozeConfig: Codable, Sendable, Equatable {
    /// Items wanted; fewer are made when the validation split has fewer windows of context + ending tokens.
    /// 0 (for `Cloze.items`): all of the stored set's items, or `defaultItems` when none is stored.
    public var items = ClozeConfig.defaultItems
    public var seed = 0
    /// Tokens of context and of each ending; 0 derives them from the dataset's seq_len: ending =
    /// max(1, seq_len / 8), context = seq_len − ending, so that context + ending fills one training sequence
    /// (the length a diffusion model was trained on; 112 + 16 for seq_len 128).
    public var context = 0
    public var ending = 0

    /// Endings per item: the true one and three distractors.
    public static let choices = 4
    public static let defaultItems = 600

    public init(items: Int = ClozeConfig.defaultItems, seed: Int = 0, context: Int = 0, ending: Int = 0) {
        self.items = items; self.seed = seed; self.context = context; self.ending = ending
    }

    enum CodingKeys: String, CodingKey { case items, seed, context, ending }

    /// The config with the lengths filled in for sequences of `seqLen` tokens, after checking every value.
    public func resolved(seqLen: Int) throws -> ClozeConfig {
        var c = self
        if c.items == 0 { c.items = Self.defaultItems }
        if c.items < 1 { throw RepriseError("cloze items must be at least 1") }
        if seed < 0 { throw RepriseError("cloze seed must be a non-negative integer") }
        if context < 0 || ending < 0 { throw RepriseError("cloze context and ending lengths must be positive (0: derived from seq_len)") }
        if c.ending == 0 { c.ending = max(1, seqLen / 8) }
        if c.context == 0 { c.context = max(1, seqLen - c.ending) }
        return c
    }
}

/// One item: a context and `ClozeConfig.choices` endings, `answer` the index of the true one.
public struct ClozeItem: Codable, Sendable, Equatable {
    /// The validation document (its index in the split, shards in order) and the token offset of the context.
    public var document: Int
    public var offset: Int
    public var context: [UInt32]
    public var endings: [[UInt32]]
    public var answer: Int
    /// Where each ending was taken from: [document, token offset]. The answer's is [document, offset + context].
    public var sources: [[Int]]
}

/// `SHARDS/cloze/manifest.json`.
public struct ClozeManifest: Codable, Sendable, Equatable {
    public var format = "reprise.cloze"
    public var version = 1
    public var config: ClozeConfig
    /// SHA-256 of the shards' manifest.json: the items belong to exactly that dataset.
    public var shardsSha256: String
    public var seqLen: Int
    public var count: Int
    public var choices: Int
    /// Validation documents in the split, and those long enough to give an item (context + ending tokens).
    public var documents: Int
    public var itemDocuments: Int
    /// How often the true ending sits at each position.
    public var answerCounts: [Int]
    public var itemsFile: String
    public var itemsBytes: Int
    public var itemsSha256: String

    enum CodingKeys: String, CodingKey {
        case format, version, config, count, choices, documents
        case shardsSha256 = "shards_sha256", seqLen = "seq_len", itemDocuments = "item_documents"
        case answerCounts = "answer_counts", itemsFile = "items_file", itemsBytes = "items_bytes", itemsSha256 = "items_sha256"
    }
}

/// A cloze item set with its manifest.
public struct ClozeSet: Sendable, Equatable {
    public var manifest: ClozeManifest
    public var items: [ClozeItem]
    public var config: ClozeConfig { manifest.config }

    /// The first `n` items (the set a build asking for `n` items makes).
    public func prefix(_ n: Int) -> ClozeSet {
        var s = self
        s.items = Array(items.prefix(n))
        s.manifest.count = s.items.count
        s.manifest.config.items = n
        s.manifest.answerCounts = Cloze.answerCounts(s.items)
        return s
    }
}

/// Accuracy on a cloze item set.
public struct ClozeResult: Sendable, Equatable {
    public var count: Int
    /// Items whose true ending has the highest score (log-likelihood, or the ELBO for diffusion models).
    /// All endings have the same number of tokens, so this is also the per-token ranking. Primary number.
    public var correct: Int
    /// Items whose true ending has the highest score per byte of text (HellaSwag's length-normalised accuracy).
    public var correctPerByte: Int
    /// True for diffusion models: the scores are ELBOs (lower bounds of the log-likelihood).
    public var isBound: Bool
    /// Mean score of the true ending, nats (log-likelihood or ELBO of the ending given the context).
    public var meanTrueScore: Double

    public var accuracy: Double { count > 0 ? Double(correct) / Double(count) : 0 }
    public var standardError: Double { Cloze.standardError(accuracy: accuracy, count: count) }
    public var accuracyPerByte: Double { count > 0 ? Double(correctPerByte) / Double(count) : 0 }
    public var standardErrorPerByte: Double { Cloze.standardError(accuracy: accuracyPerByte, count: count) }
    public static var chance: Double { 1 / Double(ClozeConfig.choices) }
}

public enum Cloze {
    public static let directory = "cloze"
    /// Draws of (t, mask) per item for a diffusion model's ELBO, the same for every candidate ending.
    public static let defaultDraws = 32

    // Domain constants of the random choices ("clzo" order, "clzw" windows, "clzi" items, "clzt" t, "clzm" masks).
    static let orderDomain: UInt64 = 0x636C_7A6F
    static let windowDomain: UInt64 = 0x636C_7A77
    static let itemDomain: UInt64 = 0x636C_7A69
    static let timeDomain: UInt64 = 0x636C_7A74
    static let maskDomain: UInt64 = 0x636C_7A6D

    static func rng(_ seed: Int, _ domain: UInt64, _ counter: Int) -> SplitMix64 {
        SplitMix64(seed: Hashing.mix64(Hashing.mix64(UInt64(seed) ^ domain) ^ UInt64(counter)))
    }


    /// sqrt(p(1 − p)/n): the standard error of an accuracy p measured on n independent items.
    public static func standardError(accuracy p: Double, count n: Int) -> Double {
        n > 0 ? (p * (1 - p) / Double(n)).squareRoot() : 0
    }

    static func answerCounts(_ items: [ClozeItem]) -> [Int] {
        var c = [Int](repeating: 0, count: ClozeConfig.choices)
        for i in items { c[i.answer] += 1 }
        return c
    }

    // MARK: building

    /// The validation split's documents: where each lies and its length without the closing end-of-text.
    struct Documents {
        var readers: [ShardReader] = []
        var spans: [(shard: Int, start: Int, length: Int)] = []

        init(shards: String, pack: PackManifest) throws {
            for (s, entry) in pack.val.shards.enumerated() {
                let r = try ShardReader(path: shards + "/" + entry.file)
                readers.append(r)
                for (j, start) in r.documentStarts.enumerated() {
                    let end = j + 1 < r.documentStarts.count ? r.documentStarts[j + 1] : r.tokenCount
                    // Documents end with <|endoftext|>: a window or span holding it is refused when read.
                    spans.append((s, start, end - start - 1))
                }
            }
        }

        func tokens(_ doc: Int, _ offset: Int, _ count: Int) throws -> [UInt32] {
            let d = spans[doc]
            precondition(offset >= 0 && offset + count <= d.length)
            return try readers[d.shard].tokens(in: (d.start + offset)..<(d.start + offset + count))
        }
    }

    /// Builds the item set of `config` from the validation split of `shards` (nothing is written).
    ///
    /// Windows of context + ending tokens are cut from every validation document long enough, without
    /// overlap. The documents are put in a random order (from the seed) and dealt round-robin: each
    /// document's first window (in a random order of its windows), then each one's second, and so on, so
    /// the items spread over as many documents as possible. Item i's answer position and distractors come
    /// from (seed, i) alone: three distinct other documents (of at least `ending` tokens), each a span of
    /// `ending` tokens at a random offset, none equal to the true ending or to another distractor.
    public static func build(shards: String, config: ClozeConfig) throws -> ClozeSet {
        let pack = try PackManifest.load(shards)
        let c = try config.resolved(seqLen: pack.config.seqLen)
        let docs = try Documents(shards: shards, pack: pack)
        let W = c.context + c.ending, E = c.ending
        let windowsOf = docs.spans.map { $0.length / W }
        var order = docs.spans.indices.filter { windowsOf[$0] > 0 }
        guard !order.isEmpty else {
            throw RepriseError("\(shards): no validation document has \(W) tokens (context \(c.context) + ending \(E)); use shorter --context/--ending or pack with a larger --val-fraction")
        }
        let endingDocs = docs.spans.indices.filter { docs.spans[$0].length >= E }
        guard endingDocs.count >= ClozeConfig.choices else {
            throw RepriseError("\(shards): the validation split has \(endingDocs.count) documents of at least \(E) tokens; the cloze task needs \(ClozeConfig.choices) (one per ending)")
        }
        let itemDocuments = order.count
        var rng = rng(c.seed, orderDomain, 0)
        rng.shuffle(&order)

        var items: [ClozeItem] = []
        var round = 0
        var windowOrders: [Int: [Int]] = [:]
        while items.count < c.items {
            var any = false
            for d in order where windowsOf[d] > round {
                any = true
                if windowOrders[d] == nil {
                    var w = Array(0..<windowsOf[d])
                    var r = Self.rng(c.seed, windowDomain, d)
                    r.shuffle(&w)
                    windowOrders[d] = w
                }
                items.append(try makeItem(index: items.count, document: d, offset: windowOrders[d]![round] * W,
                                          config: c, docs: docs, endingDocs: endingDocs, endOfText: pack.endOfTextId))
                if items.count == c.items { break }
            }
            if !any { break }
            round += 1
        }
        let manifest = ClozeManifest(
            config: c, shardsSha256: try Hashing.sha256Hex(file: StageOutput.manifestPath(shards)), seqLen: pack.config.seqLen,
            count: items.count, choices: ClozeConfig.choices, documents: docs.spans.count, itemDocuments: itemDocuments,
            answerCounts: answerCounts(items), itemsFile: "items.jsonl", itemsBytes: 0, itemsSha256: "")
        return ClozeSet(manifest: manifest, items: items)
    }

    static func makeItem(index i: Int, document d: Int, offset: Int, config c: ClozeConfig, docs: Documents,
                         endingDocs: [Int], endOfText: UInt32) throws -> ClozeItem {
        let window = try docs.tokens(d, offset, c.context + c.ending)
        if window.contains(endOfText) {
            throw RepriseError("validation document \(d) holds <|endoftext|> inside its text: shards damaged or not made by `reprise pack`")
        }
        let truth = Array(window[c.context...])
        var rng = rng(c.seed, itemDomain, i)
        let answer = rng.below(ClozeConfig.choices)
        var endings: [[UInt32]] = [], sources: [[Int]] = [], usedDocs: Set<Int> = [d]
        var attempts = 0
        while endings.count < ClozeConfig.choices - 1 {
            attempts += 1
            if attempts > 10_000 {
                throw RepriseError("validation split: cannot find \(ClozeConfig.choices - 1) distinct distractor endings of \(c.ending) tokens for item \(i); the split needs more varied documents")
            }
            let o = endingDocs[rng.below(endingDocs.count)]
            if usedDocs.contains(o) { continue }
            let at = rng.below(docs.spans[o].length - c.ending + 1)
            let span = try docs.tokens(o, at, c.ending)
            if span == truth || endings.contains(span) || span.contains(endOfText) { continue }
            usedDocs.insert(o)
            endings.append(span)
            sources.append([o, at])
        }
        endings.insert(truth, at: answer)
        sources.insert([d, offset + c.context], at: answer)
        return ClozeItem(document: d, offset: offset, context: Array(window[..<c.context]), endings: endings,
                         answer: answer, sources: sources)
    }

    // MARK: storing

    /// Writes `set` into SHARDS/cloze/ (items.jsonl, then manifest.json, each atomically; the temporary
    /// files of killed runs go first). The shards' files and manifest are not touched.
    @discardableResult
    public static func store(_ set: ClozeSet, shards: String) throws -> ClozeManifest {
        let dir = shards + "/" + directory
        let stage = try StageOutput.open(dir)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes: [UInt8] = []
        for item in set.items {
            bytes += Array(try enc.encode(item))
            bytes.append(0x0A)
        }
        var m = set.manifest
        m.itemsFile = "items.jsonl"
        m.itemsBytes = bytes.count
        m.itemsSha256 = Hashing.sha256Hex(bytes)
        try AtomicFileWriter.write(bytes, to: stage.path(m.itemsFile))
        try stage.finish(m)
        return m
    }

    /// The item set stored in SHARDS/cloze/, nil when there is none. Throws when it is damaged.
    public static func load(shards: String) throws -> ClozeSet? {
        let dir = shards + "/" + directory
        let path = StageOutput.manifestPath(dir)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let m = try CanonicalJSON.decode(ClozeManifest.self, from: path)
        guard m.format == "reprise.cloze", m.version == 1 else {
            throw RepriseError("\(path): not a reprise cloze manifest of version 1")
        }
        let itemsPath = dir + "/" + m.itemsFile
        guard let data = FileManager.default.contents(atPath: itemsPath) else {
            throw RepriseError("\(itemsPath): missing; rebuild the items with `reprise cloze build \(shards)`")
        }
        guard data.count == m.itemsBytes, Hashing.sha256Hex([UInt8](data)) == m.itemsSha256 else {
            throw RepriseError("\(itemsPath): size or SHA-256 differs from the manifest (damaged); rebuild the items with `reprise cloze build \(shards)`")
        }
        var items: [ClozeItem] = []
        let dec = JSONDecoder()
        for (n, line) in data.split(separator: 0x0A).enumerated() {
            do { items.append(try dec.decode(ClozeItem.self, from: Data(line))) } catch {
                throw RepriseError("\(itemsPath): line \(n + 1) is not a cloze item: \(error.oneLine)")
            }
        }
        guard items.count == m.count else { throw RepriseError("\(itemsPath): \(items.count) items, the manifest says \(m.count)") }
        return ClozeSet(manifest: m, items: items)
    }

    /// The items of `config` for `shards`: the stored set when it belongs to this dataset, has the same seed
    /// and lengths and holds the items asked for (its first `items` items; all of them when `items` is 0),
    /// otherwise built in memory (the same items a build would store).
    public static func items(shards: String, config: ClozeConfig) throws -> (set: ClozeSet, stored: Bool) {
        let pack = try PackManifest.load(shards)
        let c = try config.resolved(seqLen: pack.config.seqLen)
        if let s = try load(shards: shards),
           s.manifest.shardsSha256 == (try Hashing.sha256Hex(file: StageOutput.manifestPath(shards))),
           s.config.seed == c.seed, s.config.context == c.context, s.config.ending == c.ending,
           config.items == 0 || s.config.items >= c.items {
            return (config.items == 0 ? s : s.prefix(c.items), true)
        }
        return (try build(shards: shards, config: c), false)
    }

    // MARK: scoring

    /// The score of every ending of every item, in nats: AR, the log-likelihood of the ending given the
    /// context (one causal forward over context + ending); mdlm, the ELBO of the ending given the context,
    /// −(1/K) Σ_k w(t_k) Σ_{masked j} CE_j over K draws (stratified t_k from the schedule's noise table,
    /// Bernoulli or exact masks of the ending from the schedule's masking; the context is never masked),
    /// with the same draws for the four endings of an item so that their comparison is paired. Inputs
    /// shorter than `padTo` are completed with masked positions that are not scored (mdlm).
    public static func scores(model: Transformer, objective: Objective, set: ClozeSet, schedule: Schedule?, maskId: Int?,
                              draws: Int = defaultDraws, padTo: Int = 0) throws -> [[Double]] {
        let C = set.config.context, E = set.config.ending, V = model.config.vocabSize
        let K = ClozeConfig.choices
        let items = set.items
        for item in items {
            guard item.context.count == C, item.endings.count == K, item.endings.allSatisfy({ $0.count == E }) else {
                throw RepriseError("cloze item of document \(item.document) does not have \(C) context tokens and \(K) endings of \(E)")
            }
            for t in item.context + item.endings.joined() where Int(t) >= V {
                throw RepriseError("cloze item of document \(item.document) holds token \(t), outside the model's vocabulary of \(V)")
            }
        }
        var out = [[Double]](repeating: [Double](repeating: 0, count: K), count: items.count)
        switch objective {
        case .ar:
            let T = C + E - 1
            guard T <= model.maxSeq else {
                throw RepriseError("cloze items of \(C) + \(E) tokens do not fit the model's context of \(model.maxSeq)")
            }
            // Rows (item, ending): input context + ending[0..<E−1]; the ending is scored at positions C−1...
            let rows = items.count * K
            var start = 0
            while start < rows {
                let n = min(model.maxBatch, rows - start)
                var inputs = [Int32](repeating: 0, count: n * T), targets = [Int32](repeating: 0, count: n * T)
                var weights = [Float](repeating: 0, count: n * T)
                for r in 0..<n {
                    let item = items[(start + r) / K], ending = item.endings[(start + r) % K]
                    let full = item.context + ending
                    for j in 0..<T {
                        inputs[r * T + j] = Int32(full[j])
                        targets[r * T + j] = Int32(full[j + 1])
                        weights[r * T + j] = j >= C - 1 ? 1 : 0
                    }
                }
                let losses = rowLosses(model: model, inputs: inputs, targets: targets, weights: weights, rows: n, seq: T,
                                       causal: true, excluding: nil)
                for r in 0..<n { out[(start + r) / K][(start + r) % K] = -losses[r] }
                start += n
            }
        case .mdlm:
            guard let schedule, let table = schedule.table, schedule.config.objective == .mdlm else {
                throw RepriseError("the cloze ELBO of a diffusion model needs its mdlm schedule (noise table and masking)")
            }
            guard let maskId else { throw RepriseError("the cloze ELBO of a diffusion model needs the <|mask|> token id") }
            guard draws >= 1 else { throw RepriseError("cloze draws must be at least 1") }
            let T = max(C + E, padTo)
            guard T <= model.maxSeq else {
                throw RepriseError("cloze items of \(C) + \(E) tokens (padded to \(T)) do not fit the model's context of \(model.maxSeq)")
            }
            let masking = schedule.config.maskingMode
            let rowsPerItem = draws * K
            var mask = [UInt8](repeating: 0, count: E)
            for (i, item) in items.enumerated() {
                // The item's draws: stratified u, the schedule's quantised t, weight and mask threshold.
                var tr = rng(set.config.seed, timeDomain, i)
                var weightOf = [Float](repeating: 0, count: draws)
                var masks = [[UInt8]](repeating: [], count: draws)
                for k in 0..<draws {
                    let u = (Double(k) + tr.unit()) / Double(draws)
                    let code = NoiseTable.code(u)
                    weightOf[k] = Float(masking.isUniformCount
                        ? Masking.uniformWeight(count: Masking.uniformCount(code: code, length: E), length: E)
                        : table.weight[Int(code)])
                    let key = Hashing.mix64(Hashing.mix64(UInt64(set.config.seed) ^ maskDomain) ^ (UInt64(k) << 32 | UInt64(i)))
                    mask.withUnsafeMutableBufferPointer { masking.fill($0, key: key, threshold: table.threshold[Int(code)], code: code) }
                    masks[k] = mask
                }
                var start = 0
                while start < rowsPerItem {
                    let n = min(model.maxBatch, rowsPerItem - start)
                    var inputs = [Int32](repeating: Int32(maskId), count: n * T), targets = [Int32](repeating: 0, count: n * T)
                    var weights = [Float](repeating: 0, count: n * T)
                    for r in 0..<n {
                        let k = (start + r) / K, ending = item.endings[(start + r) % K]
                        for j in 0..<C { inputs[r * T + j] = Int32(item.context[j]) }
                        for j in 0..<E {
                            let p = r * T + C + j
                            targets[p] = Int32(ending[j])
                            if masks[k][j] != 0 { weights[p] = weightOf[k] } else { inputs[p] = Int32(ending[j]) }
                        }
                    }
                    let losses = rowLosses(model: model, inputs: inputs, targets: targets, weights: weights, rows: n, seq: T,
                                           causal: false, excluding: maskId)
                    for r in 0..<n { out[i][(start + r) % K] -= losses[r] / Double(draws) }
                    start += n
                }
            }
        case .gaussian:
            throw RepriseError("the cloze task scores AR and mdlm models; the gaussian objective has no likelihood here yet")
        }
        return out
    }

    /// One forward pass; the weighted cross-entropy summed per row (Double). Logits are computed only at
    /// the positions of non-zero weight (measured on the embedded corpus, `tiny` model, release build: the
    /// mdlm evaluation with 8 draws took 32 s of CPU instead of 44 s with the full logits, AR 4.4 s instead of 6.0 s).
    static func rowLosses(model: Transformer, inputs: [Int32], targets: [Int32], weights: [Float], rows: Int, seq: Int,
                          causal: Bool, excluding: Int?) -> [Double] {
        let V = model.config.vocabSize
        model.forward(tokens: inputs, batch: rows, seq: seq, causal: causal, computeLogits: false)
        let scored = weights.indices.filter { weights[$0] != 0 }
        if scored.isEmpty { return [Double](repeating: 0, count: rows) }
        var logits = [Float](repeating: 0, count: scored.count * V)
        var losses = [Float](repeating: 0, count: scored.count)
        let t = scored.map { targets[$0] }, w = scored.map { weights[$0] }
        logits.withUnsafeMutableBufferPointer { l in
            model.logits(atPositions: scored, into: l.baseAddress!)
            losses.withUnsafeMutableBufferPointer { out in
                _ = CrossEntropy.forwardBackward(logits: l.baseAddress!, targets: t, weights: w, rows: scored.count, vocab: V,
                                                 excluding: excluding, dLogits: nil, rowLosses: out.baseAddress!,
                                                 threads: model.threads)
            }
        }
        var sums = [Double](repeating: 0, count: rows)
        for (i, p) in scored.enumerated() { sums[p / seq] += Double(losses[i]) }
        return sums
    }

    /// Accuracy from scores: an item is right when its true ending scores strictly highest (ties count as
    /// wrong, so a model that cannot tell the endings apart is not credited). `byteLengths` gives the
    /// length-normalised accuracy (score per byte of the ending's text).
    public static func result(scores: [[Double]], set: ClozeSet, byteLengths: [Int32], isBound: Bool) -> ClozeResult {
        var correct = 0, perByte = 0, trueSum = 0.0
        for (item, s) in zip(set.items, scores) {
            let a = item.answer
            trueSum += s[a]
            if s.indices.allSatisfy({ $0 == a || s[$0] < s[a] }) { correct += 1 }
            let norm = s.indices.map { c in
                s[c] / Double(max(1, item.endings[c].reduce(0) { $0 + Int(byteLengths.indices.contains(Int($1)) ? byteLengths[Int($1)] : 0) }))
            }
            if norm.indices.allSatisfy({ $0 == a || norm[$0] < norm[a] }) { perByte += 1 }
        }
        let n = set.items.count
        return ClozeResult(count: n, correct: correct, correctPerByte: perByte, isBound: isBound,
                           meanTrueScore: n > 0 ? trueSum / Double(n) : 0)
    }

    /// Cloze accuracy of a model: scores every item (see `scores`) and counts the items won.
    /// For the trainer: `Cloze.evaluate(model:objective:set:schedule:tokens:)` with the run's schedule.
    public static func evaluate(model: Transformer, objective: Objective, set: ClozeSet, schedule: Schedule?,
                                tokens info: TokenInfo, draws: Int = defaultDraws, padTo: Int = 0) throws -> ClozeResult {
        let s = try scores(model: model, objective: objective, set: set, schedule: schedule, maskId: info.maskId,
                           draws: draws, padTo: padTo)
        return result(scores: s, set: set, byteLengths: info.byteLengths, isBound: objective == .mdlm)
    }

    /// Loads (or builds in memory) the items of `config` for `shards` and evaluates the model on them.
    public static func evaluate(model: Transformer, objective: Objective, shards: String, config: ClozeConfig = ClozeConfig(),
                                schedule: Schedule?, tokens info: TokenInfo, draws: Int = defaultDraws) throws -> ClozeResult {
        let (set, _) = try items(shards: shards, config: config)
        return try evaluate(model: model, objective: objective, set: set, schedule: schedule, tokens: info, draws: draws)
    }
}
