import Foundation
import RepriseCore

/// Settings of `reprise tokenizer train` and of a pipeline's `tokenizer` stage.
public struct TokenizerConfig: KeyedConfig, Sendable, Equatable {
    public var vocabSize = 8192
    public var pattern = SplitPattern.cl100k
    public var specialTokens = SpecialTokens.defaults
    /// Documents longer than this many characters are cut (at a character boundary) before counting.
    public var maxDocChars: Int?
    /// Train on at most this many distinct pre-tokens, the most frequent (`PreTokenCounter.threshold`), so
    /// that training's memory does not grow with the corpus's long tail; nil: all of them.
    public var maxPreTokens: Int?

    public init() {}
    public static let section: String? = "tokenizer"
    public static let keys: [ConfigKey<Self>] = [
        .value("vocab_size", \.vocabSize),
        ConfigKey("pattern", read: { c, key, config in
            guard let p = try c.decodeIfPresent(String.self, forKey: key) else { return }
            guard let pattern = SplitPattern(rawValue: p) else {
                throw RepriseError("tokenizer.pattern must be one of \(SplitPattern.allCases.map(\.rawValue).joined(separator: ", ")), not '\(p)'")
            }
            config.pattern = pattern
        }, write: { config, c, key in try c.encode(config.pattern, forKey: key) }),
        .value("special_tokens", \.specialTokens), .optional("max_doc_chars", \.maxDocChars),
        .optional("max_pre_tokens", \.maxPreTokens),
    ]



    public func validate() throws {
        let minimum = 256 + specialTokens.count
        if vocabSize < minimum {
            throw RepriseError("tokenizer.vocab_size must be at least \(minimum) (256 byte tokens + \(specialTokens.count) special tokens)")
        }
        if vocabSize > 1 << 22 { throw RepriseError("tokenizer.vocab_size must be at most \(1 << 22)") }
        if Set(specialTokens).count != specialTokens.count || specialTokens.contains(where: \.isEmpty) {
            throw RepriseError("tokenizer.special_tokens must be distinct, non-empty strings")
        }
        if let m = maxDocChars, m < 1 { throw RepriseError("tokenizer.max_doc_chars must be at least 1") }
        if let m = maxPreTokens, m < 1 { throw RepriseError("tokenizer.max_pre_tokens must be at least 1") }
    }
}

/// `manifest.json` of a tokenizer directory.
public struct TokenizerManifest: Codable, Sendable, Equatable {
    public var format = "reprise.tokenizer"
    public var version = 1
    public var config: TokenizerConfig
    public var configHash: String
    /// The inputs, relative to the tokenizer directory.
    public var inputs: [String]
    public var inputHash: String
    /// The split pattern as tiktoken spells it (for `tiktoken.Encoding(pat_str=...)`).
    public var patternTiktoken: String
    /// The spelling carried in tokenizer.json, which HuggingFace tokenizers' engine splits the same way.
    public var patternHuggingFace: String
    /// Special token → id (ids follow the merges).
    public var specialTokens: [String: UInt32]
    public var vocabSize: Int
    public var merges: Int
    public var documents: Int
    public var bytes: Int
    public var preTokens: UInt64
    public var distinctPreTokens: Int
    public var files: [OutputFile]

    enum CodingKeys: String, CodingKey {
        case format, version, config, inputs, merges, documents, bytes, files
        case configHash = "config_hash", inputHash = "input_hash", patternTiktoken = "pattern_tiktoken"
        case patternHuggingFace = "pattern_huggingface", specialTokens = "special_tokens", vocabSize = "vocab_size"
        case preTokens = "pre_tokens", distinctPreTokens = "distinct_pre_tokens"
    }
}

extension TokenizerManifest: StageManifest {
    public var listedFiles: [(file: String, bytes: Int)] { files.map { ($0.file, $0.bytes) } }

    public var inconsistencies: [String] {
        var out: [String] = []
        let made = 256 &+ merges &+ config.specialTokens.count
        if vocabSize != made { out.append("vocab_size is \(vocabSize), 256 + merges + special tokens = \(made)") }
        if specialTokens.count != config.specialTokens.count {
            out.append("special_tokens has \(specialTokens.count) tokens, the config names \(config.specialTokens.count)")
        }
        return out
    }
}

/// A trained tokenizer loaded from its directory: the model, its pre-tokenizer and manifest.
public struct LoadedTokenizer: Sendable {
    public var model: BPEModel
    public var preTokenizer: PreTokenizer
    public var manifest: TokenizerManifest
    public var split: PreTokenSplitter {
        let p = preTokenizer
        return { p.split($0, $1) }
    }

    /// A tokenizer directory's identity, as a dataset manifest records it: SHA-256 over the SHA-256 of
    /// tokenizer.tiktoken and of manifest.json.
    public static func identity(_ dir: String) throws -> String {
        identity(tiktoken: try Hashing.sha256Hex(file: dir + "/tokenizer.tiktoken"),
                 manifest: try Hashing.sha256Hex(file: StageOutput.manifestPath(dir)))
    }

    static func identity(tiktoken: String, manifest: String) -> String {
        var t = SHA256Stream()
        t.update(tiktoken)
        t.update(manifest)
        return t.finalizeHex()
    }

    /// The facts a trainer needs: vocabulary size, special ids, bytes per id.
    public var tokenInfo: (vocabSize: Int, maskId: Int?, endOfTextId: Int, byteLengths: [Int32]) {
        let specials = model.specials
        let special = Set(specials.values)
        let lengths = (0..<model.vocabSize).map { special.contains(UInt32($0)) ? 0 : Int32(model.tokenBytes(UInt32($0)).count) }
        return (model.vocabSize, specials[SpecialTokens.mask].map(Int.init), Int(specials[SpecialTokens.endOfText] ?? 0), lengths)
    }

    /// Loads a tokenizer directory; tokenizer.tiktoken is checked against the SHA-256 its manifest records
    /// (hashed from the bytes read), so an edited vocabulary (two tokens that exchanged ranks) is refused.
    /// With `identity` (a run's or dataset's `tokenizer_sha256`), the directory must also be exactly that
    /// tokenizer (`identity(_:)`); `expected` says which one it is, for the error.
    public static func load(_ dir: String, identity: String? = nil,
                            expected: String = "the expected tokenizer") throws -> LoadedTokenizer {
        let manifest = try StageDirectory.load(TokenizerManifest.self, dir: dir, format: "reprise.tokenizer",
                                               missing: "run `reprise tokenizer train ... --output \(dir)` first")
        let path = dir + "/tokenizer.tiktoken"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RepriseError("\(path): cannot read the tokenizer file")
        }
        let sha = Hashing.sha256Hex([UInt8](data))
        if let entry = manifest.files.first(where: { $0.file == "tokenizer.tiktoken" }), entry.sha256 != sha {
            throw RepriseError("\(path): SHA-256 differs from the tokenizer's manifest (the file was changed after `reprise tokenizer train`); train the tokenizer again")
        }
        if let identity {
            guard Self.identity(tiktoken: sha, manifest: try Hashing.sha256Hex(file: StageOutput.manifestPath(dir))) == identity else {
                throw RepriseError("\(path): not \(expected) (this tokenizer.tiktoken or its manifest.json differs)")
            }
        }
        let model = try TokenizerFiles.readTiktoken(data: data, name: path, specialTokens: manifest.config.specialTokens)
        guard model.vocabSize == manifest.vocabSize else {
            throw RepriseError("\(path): \(model.vocabSize) tokens, the tokenizer's manifest says vocab_size \(manifest.vocabSize)")
        }
        return LoadedTokenizer(model: model, preTokenizer: PreTokenizer(manifest.config.pattern), manifest: manifest)
    }
}

/// Where tokenizer training reads its documents from: each input's identity (what makes a trained tokenizer
/// stale) and its documents, in order. The pipeline reads ingest output directories and text files.
public protocol TokenizerDocuments: Sendable {
    /// The identity of one input: a hash of its content, not of its path's spelling.
    func identity(of input: String) throws -> String
    /// Every document of `inputs`, in order, as UTF-8 bytes.
    func forEachDocument(_ inputs: [String], _ body: ([UInt8]) throws -> Void) throws
}

/// Byte-level BPE training into a tokenizer directory (tokenizer.json, tokenizer.tiktoken, manifest.json).
public enum TokenizerTraining {
    /// The identity of the inputs: their content, in order, not the spelling of their paths, so a work
    /// directory reached by another path is still up to date.
    public static func inputHash(_ inputs: [String], _ source: any TokenizerDocuments) throws -> String {
        var h = SHA256Stream()
        for input in inputs { h.update("\(try source.identity(of: input))\n") }
        return h.finalizeHex()
    }

    /// The first `maxChars` characters of UTF-8 text (a character is a scalar; cut before a lead byte).
    public static func prefix(_ text: [UInt8], maxChars: Int) -> [UInt8] {
        var chars = 0
        for (i, b) in text.enumerated() where b & 0xC0 != 0x80 {
            if chars == maxChars { return Array(text[0..<i]) }
            chars += 1
        }
        return text
    }

    @discardableResult
    public static func train(inputs: [String], documents source: any TokenizerDocuments, output: String, config: TokenizerConfig,
                             threads: Int = defaultThreadCount, quiet: Bool = false) throws -> TokenizerManifest {
        try config.validate()
        _ = try StageOutput.open(output)
        let inputHash = try inputHash(inputs, source)

        // Count pre-tokens batch by batch: memory holds one batch of text plus the distinct pre-tokens.
        let preTokenizer = PreTokenizer(config.pattern)
        let split: PreTokenSplitter = { preTokenizer.split($0, $1) }
        let counter = PreTokenCounter()
        let progress = Progress("tokenizer: counting", quiet: quiet)
        var batch: [[UInt8]] = []
        var batchBytes = 0, documents = 0, bytes = 0
        func flush() {
            counter.add(documents: batch, threads: threads, split: split)
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
            progress.update(items: documents, itemName: "docs", bytes: bytes)
        }
        try source.forEachDocument(inputs) { text in
            let doc = config.maxDocChars.map { prefix(text, maxChars: $0) } ?? text
            documents += 1
            bytes += doc.count
            batch.append(doc)
            batchBytes += doc.count
            if batchBytes >= 64 << 20 { flush() }
        }
        flush()
        progress.finish(items: documents, itemName: "docs", bytes: bytes)
        return try finish(counter: config.maxPreTokens.map { counter.mostFrequent($0) } ?? counter, documents: documents, bytes: bytes, inputs: inputs, inputHash: inputHash,
                          output: output, config: config, quiet: quiet)
    }

    /// Trains the merges from pre-token counts and writes tokenizer.json, tokenizer.tiktoken and, last, the
    /// manifest. `train` calls it after counting; the merge of a partitioned run calls it with the tasks'
    /// summed counts, so both write the same files for the same counts. The temporary files of killed runs go
    /// first.
    public static func finish(counter: PreTokenCounter, documents: Int, bytes: Int, inputs: [String], inputHash: String,
                       output: String, config: TokenizerConfig, quiet: Bool) throws -> TokenizerManifest {
        guard documents > 0, counter.distinctCount > 0 else {
            throw RepriseError("no text to train a tokenizer on in \(inputs.joined(separator: ", ")): give ingest output directories (with documents) or text files")
        }
        let stage = try StageOutput.open(output)
        let target = config.vocabSize - 256 - config.specialTokens.count
        let merges = Progress("tokenizer: training", totalItems: target, quiet: quiet)
        let model = try BPETrainer.train(counts: counter, vocabSize: config.vocabSize, specialTokens: config.specialTokens) { done in
            merges.update(items: done, itemName: "merges", bytes: 0)
        }
        merges.finish(items: model.merges.count, itemName: "merges", bytes: 0)

        let json = TokenizerFiles.huggingFaceJSON(model, pattern: config.pattern.huggingFaceRegex)
        let tiktoken = TokenizerFiles.tiktoken(model)
        var files: [OutputFile] = []
        for (name, content) in [("tokenizer.json", json), ("tokenizer.tiktoken", tiktoken)] {
            let sha = try AtomicFileWriter.write(content, to: stage.path(name))
            files.append(OutputFile(file: name, bytes: content.count, sha256: sha, documents: documents))
        }
        let manifest = TokenizerManifest(
            config: config, configHash: try CanonicalJSON.hash(config), inputs: inputs.map { Paths.relative($0, to: output) }, inputHash: inputHash,
            patternTiktoken: config.pattern.tiktokenRegex, patternHuggingFace: config.pattern.huggingFaceRegex,
            specialTokens: model.specials, vocabSize: model.vocabSize, merges: model.merges.count,
            documents: documents, bytes: bytes, preTokens: counter.totalCount, distinctPreTokens: counter.distinctCount,
            files: files)
        try stage.finish(manifest)
        return manifest
    }
}
