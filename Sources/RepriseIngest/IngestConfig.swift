import Foundation
import RepriseCore

/// Everything that decides what `reprise ingest` keeps. Every field has a default, so an empty config is
/// valid; unknown keys are rejected with their path (see `StrictKeys`).
public struct IngestConfig: Codable, Sendable, Equatable {
    /// JSONL: the field holding the document text; Parquet: the column. Other fields are kept as metadata.
    public var textField = "text"
    /// Documents larger than this (bytes of raw text) are dropped as `too_long` without being buffered.
    public var maxDocBytes = 2_000_000
    /// MediaWiki: namespaces whose pages are documents (0 = articles).
    public var wikiNamespaces: [Int] = [0]
    /// A document whose invalid UTF-8 bytes exceed this fraction of its bytes is dropped (`invalid_utf8`).
    public var maxInvalidUTF8Fraction = 0.5
    /// Unicode NFC normalisation.
    public var nfc = true
    /// Documents with fewer characters than this after cleaning are dropped (`too_short`).
    public var minChars = 1
    public var quality = GopherQualityConfig()
    public var repetition = GopherRepetitionConfig()
    public var c4 = C4LinesConfig()
    public var dedup = DedupConfig()
    /// Documents per output file (`docs-NNNNN.jsonl.zst`, `excluded-NNNNN.jsonl.zst`).
    public var docsPerFile = 50_000
    public var zstdLevel = 3

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case textField = "text_field", maxDocBytes = "max_doc_bytes", wikiNamespaces = "wiki_namespaces"
        case maxInvalidUTF8Fraction = "max_invalid_utf8_fraction", nfc, minChars = "min_chars"
        case quality, repetition, c4, dedup, docsPerFile = "docs_per_file", zstdLevel = "zstd_level"
    }

    public init(from decoder: Decoder) throws {
        try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = IngestConfig.defaults
        textField = try c.decodeIfPresent(String.self, forKey: .textField) ?? d.textField
        maxDocBytes = try c.decodeIfPresent(Int.self, forKey: .maxDocBytes) ?? d.maxDocBytes
        wikiNamespaces = try c.decodeIfPresent([Int].self, forKey: .wikiNamespaces) ?? d.wikiNamespaces
        maxInvalidUTF8Fraction = try c.decodeIfPresent(Double.self, forKey: .maxInvalidUTF8Fraction) ?? d.maxInvalidUTF8Fraction
        nfc = try c.decodeIfPresent(Bool.self, forKey: .nfc) ?? d.nfc
        minChars = try c.decodeIfPresent(Int.self, forKey: .minChars) ?? d.minChars
        quality = try c.decodeIfPresent(GopherQualityConfig.self, forKey: .quality) ?? d.quality
        repetition = try c.decodeIfPresent(GopherRepetitionConfig.self, forKey: .repetition) ?? d.repetition
        c4 = try c.decodeIfPresent(C4LinesConfig.self, forKey: .c4) ?? d.c4
        dedup = try c.decodeIfPresent(DedupConfig.self, forKey: .dedup) ?? d.dedup
        docsPerFile = try c.decodeIfPresent(Int.self, forKey: .docsPerFile) ?? d.docsPerFile
        zstdLevel = try c.decodeIfPresent(Int.self, forKey: .zstdLevel) ?? d.zstdLevel
        try validate()
    }

    static let defaults = IngestConfig()

    /// Rejects impossible values with the key and the allowed range.
    public func validate() throws {
        func need(_ ok: Bool, _ key: String, _ allowed: String) throws {
            if !ok { throw RepriseError("ingest config: \(key) must be \(allowed)") }
        }
        try need(!textField.isEmpty, "text_field", "a non-empty field name")
        try need(maxDocBytes >= 1, "max_doc_bytes", "at least 1")
        try need((0...1).contains(maxInvalidUTF8Fraction), "max_invalid_utf8_fraction", "between 0 and 1")
        try need(minChars >= 0, "min_chars", "0 or more")
        try need(docsPerFile >= 1, "docs_per_file", "at least 1")
        try need((1...19).contains(zstdLevel), "zstd_level", "between 1 and 19")
        try need(dedup.bands >= 1 && dedup.rows >= 1 && dedup.bands * dedup.rows <= 1024,
                 "dedup.bands × dedup.rows", "at least 1 each, at most 1024 hashes in all")
        try need(dedup.ngram >= 1, "dedup.ngram", "at least 1")
    }
}

/// Exact and MinHash near-duplicate removal; the first document in input order is kept.
public struct DedupConfig: Codable, Sendable, Equatable {
    public var exact = true
    public var minhash = true
    /// Word n-gram shingle size.
    public var ngram = 5
    /// LSH bands × rows per band = number of hash functions. A pair with Jaccard similarity s becomes a
    /// candidate with probability 1 - (1 - s^rows)^bands: with 10 × 10 the curve's midpoint is near 0.79.
    public var bands = 10
    public var rows = 10
    /// Candidates whose estimated Jaccard similarity (fraction of equal MinHash values) is below this are
    /// not duplicates.
    public var threshold = 0.8
    public var seed: UInt64 = 1

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case exact, minhash, ngram, bands, rows, threshold, seed }
    public init(from decoder: Decoder) throws {
        try StrictKeys.check(decoder, allowed: CodingKeys.allCases.map(\.rawValue), path: "dedup")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DedupConfig()
        exact = try c.decodeIfPresent(Bool.self, forKey: .exact) ?? d.exact
        minhash = try c.decodeIfPresent(Bool.self, forKey: .minhash) ?? d.minhash
        ngram = try c.decodeIfPresent(Int.self, forKey: .ngram) ?? d.ngram
        bands = try c.decodeIfPresent(Int.self, forKey: .bands) ?? d.bands
        rows = try c.decodeIfPresent(Int.self, forKey: .rows) ?? d.rows
        threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
    }
}
