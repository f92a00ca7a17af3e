import Foundation
import RepriseCore

/// Everything that decides what `reprise ingest` keeps. Every field has a default, so an empty config is
/// valid; unknown keys are rejected with their path (see `StrictKeys`).
public struct IngestConfig: KeyedConfig, Sendable, Equatable {
    /// The settings the other keys are laid over: `prose` (the defaults below) or `code` (see `IngestConfig.code`).
    public var preset = "prose"
    /// JSONL: the field holding the document text, as a dotted path (`content.body`); with several, the first
    /// that holds a string wins. Parquet: the column (the first name that is a column). Other fields are kept
    /// as metadata. Written as one string or a list.
    public var textField = ["text"]
    /// JSONL: the field holding the record's own id, which becomes the document id when it is a string or a
    /// number; `""` turns this off (ids are then `NAME:LINE`).
    public var idField = "id"
    /// Documents larger than this (bytes of raw text) are dropped as `too_long` without being buffered.
    public var maxDocBytes = 2_000_000
    /// MediaWiki: namespaces whose pages are documents (0 = articles).
    public var wikiNamespaces: [Int] = [0]
    /// A document whose invalid UTF-8 bytes exceed this fraction of its bytes is dropped (`invalid_utf8`).
    public var maxInvalidUTF8Fraction = 0.5
    /// Unicode NFC normalisation.
    public var nfc = true
    /// `collapse`: runs of spaces become one space and lines are trimmed (prose). `preserve`: indentation and
    /// spacing within lines are kept, only trailing spaces go, and up to two blank lines in a row (code).
    public var whitespace = Whitespace.collapse
    /// Documents with fewer characters than this after cleaning are dropped (`too_short`).
    public var minChars = 1
    public var quality = GopherQualityConfig()
    public var repetition = GopherRepetitionConfig()
    public var c4 = C4LinesConfig()
    public var dedup = DedupConfig()
    /// Documents per output file (`docs-NNNNN.jsonl.zst`, `excluded-NNNNN.jsonl.zst`).
    public var docsPerFile = 50_000
    public var zstdLevel = 3

    public enum Whitespace: String, Codable, Sendable { case collapse, preserve }

    public init() {}

    /// The presets by name.
    public static let presets = ["prose": IngestConfig(), "code": IngestConfig.code]

    /// A decoder's `userInfo` under this key names the preset a file without a `preset` key is laid over
    /// (`reprise ingest --preset code --config FILE`); without it, `prose`.
    public static let presetKey = CodingUserInfoKey(rawValue: "reprise.ingest.preset")!

    /// The preset `name`, or an error naming the presets there are.
    public static func preset(_ name: String) throws -> IngestConfig {
        guard let c = presets[name] else {
            throw RepriseError("ingest config: preset must be one of \(presets.keys.sorted().joined(separator: ", ")) (got '\(name)')")
        }
        return c
    }

    /// Source code and technical text: layout kept, and the Gopher rules that judge English prose relaxed.
    /// Code has few English stop words, short and long tokens (`i`, `=`, `calculateTotalAmount`), `#` in
    /// comments and directives, lines that start with `-` (diffs, YAML lists) and lines that repeat (`}`,
    /// `end`, `return nil`); those rules are off. Kept: the length bounds (at least 10 words), the share of
    /// words with a letter (at least 0.3, against tables of numbers and binary dumps), lines ending in an
    /// ellipsis, repeated paragraphs (over half) and long repeated n-grams (10-grams over 30% of the
    /// characters, against generated or copied boilerplate).
    public static var code: IngestConfig {
        var c = IngestConfig()
        c.preset = "code"
        c.whitespace = .preserve
        c.quality.minWords = 10
        c.quality.minAvgWordLength = nil
        c.quality.maxAvgWordLength = nil
        c.quality.maxSymbolWordRatio = nil
        c.quality.maxBulletLinesRatio = nil
        c.quality.maxNonAlphaWordsRatio = 0.3
        c.quality.minStopWords = nil
        c.repetition.dupLineFrac = nil
        c.repetition.dupLineCharFrac = nil
        c.repetition.dupParaFrac = 0.5
        c.repetition.dupParaCharFrac = nil
        c.repetition.topNGrams = []
        c.repetition.dupNGrams = [NGramLimit(10, 0.3)]
        return c
    }

    /// A file's keys are laid over its preset: `preset` if it names one, else the decoder's `presetKey`.
    public static let keys: [ConfigKey<Self>] = [
        .value("preset", \.preset), .value("whitespace", \.whitespace),
        ConfigKey("text_field", read: { c, key, config in
            if let one = try? c.decodeIfPresent(String.self, forKey: key) {
                config.textField = [one]
            } else if let list = try c.decodeIfPresent([String].self, forKey: key) {
                config.textField = list
            }
        }, write: { config, c, key in
            if config.textField.count == 1 { try c.encode(config.textField[0], forKey: key) } else { try c.encode(config.textField, forKey: key) }
        }),
        .value("id_field", \.idField), .value("max_doc_bytes", \.maxDocBytes), .value("wiki_namespaces", \.wikiNamespaces),
        .value("max_invalid_utf8_fraction", \.maxInvalidUTF8Fraction), .value("nfc", \.nfc), .value("min_chars", \.minChars),
        .section("quality", \.quality), .section("repetition", \.repetition), .section("c4", \.c4), .section("dedup", \.dedup),
        .value("docs_per_file", \.docsPerFile), .value("zstd_level", \.zstdLevel),
    ]

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: StrictKeys.AnyKey.self)
        let name = try c.decodeIfPresent(String.self, forKey: StrictKeys.AnyKey(stringValue: "preset"))
            ?? decoder.userInfo[IngestConfig.presetKey] as? String ?? "prose"
        try self.init(from: decoder, base: try IngestConfig.preset(name))
    }


    /// The JSON fields that hold a record's text and id.
    public var jsonFields: JSONFields { JSONFields(text: textField, id: idField.isEmpty ? nil : idField) }

    /// Largest `max_doc_bytes`: 4 GiB. Readers size buffers from it (twice the limit plus a margin), which
    /// must not overflow.
    public static let maxDocBytesLimit = 1 << 32

    /// Rejects impossible values with the key, the allowed range and the value given. NaN and infinities
    /// are refused everywhere (they would also make the manifest unencodable).
    public func validate() throws {
        func need(_ ok: Bool, _ key: String, _ allowed: String, _ got: Any? = nil) throws {
            if !ok { throw RepriseError("ingest config: \(key) must be \(allowed)" + (got.map { " (got \($0))" } ?? "")) }
        }
        func fraction(_ v: Double?, _ key: String) throws {
            if let v { try need((0...1).contains(v), key, "between 0 and 1", v) }
        }
        func positive(_ v: Double?, _ key: String) throws {
            if let v { try need(v >= 0 && v.isFinite, key, "a finite number, 0 or more", v) }
        }
        try need(!textField.isEmpty && textField.allSatisfy { !$0.isEmpty && !$0.split(separator: ".", omittingEmptySubsequences: false).contains("") },
                 "text_field", "a field name, a dotted path (content.body) or a list of them")
        try need(maxDocBytes >= 1 && maxDocBytes <= IngestConfig.maxDocBytesLimit, "max_doc_bytes",
                 "between 1 and \(IngestConfig.maxDocBytesLimit) (4 GiB)", maxDocBytes)
        try fraction(maxInvalidUTF8Fraction, "max_invalid_utf8_fraction")
        try need(minChars >= 0, "min_chars", "0 or more", minChars)
        try need(docsPerFile >= 1, "docs_per_file", "at least 1", docsPerFile)
        try need((1...19).contains(zstdLevel), "zstd_level", "between 1 and 19", zstdLevel)
        try need((1...1024).contains(dedup.bands) && (1...1024).contains(dedup.rows) && dedup.bands * dedup.rows <= 1024,
                 "dedup.bands × dedup.rows", "at least 1 each, at most 1024 hashes in all")
        try need(dedup.ngram >= 1, "dedup.ngram", "at least 1", dedup.ngram)
        try fraction(dedup.threshold, "dedup.threshold")
        try need((0...65536).contains(dedup.buckets), "dedup.buckets", "between 0 (automatic) and 65536", dedup.buckets)
        try positive(quality.minAvgWordLength, "quality.min_avg_word_length")
        try positive(quality.maxAvgWordLength, "quality.max_avg_word_length")
        try positive(quality.maxSymbolWordRatio, "quality.max_symbol_word_ratio")
        try fraction(quality.maxBulletLinesRatio, "quality.max_bullet_lines_ratio")
        try fraction(quality.maxEllipsisLinesRatio, "quality.max_ellipsis_lines_ratio")
        try fraction(quality.maxNonAlphaWordsRatio, "quality.max_non_alpha_words_ratio")
        try fraction(repetition.dupLineFrac, "repetition.dup_line_frac")
        try fraction(repetition.dupParaFrac, "repetition.dup_para_frac")
        try fraction(repetition.dupLineCharFrac, "repetition.dup_line_char_frac")
        try fraction(repetition.dupParaCharFrac, "repetition.dup_para_char_frac")
        for l in repetition.topNGrams { try fraction(l.maxFraction, "repetition.top_n_grams fraction") }
        for l in repetition.dupNGrams { try fraction(l.maxFraction, "repetition.dup_n_grams fraction") }
    }
}

/// Exact and MinHash near-duplicate removal; the first document in input order is kept.
public struct DedupConfig: KeyedConfig, Sendable, Equatable {
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
    /// How a partitioned run (`reprise run --task I --tasks N`) decides duplicates: `memory` (the merge keeps
    /// every kept document's keys), `disk` (bucket files and a round of bucket tasks, see `DiskDedup`) or
    /// `auto` (disk when the inputs total at least `DiskDedup.autoBytes`). Both give the same decisions, so
    /// neither this nor `buckets` is part of the encoded config or its hash. One-process runs use memory.
    public var mode = Mode.auto
    /// Disk mode: number of bucket files; 0 chooses one per `DiskDedup.bytesPerBucket` of input.
    public var buckets = 0

    public enum Mode: String, Codable, Sendable { case memory, disk, auto }

    public init() {}

    public static let section: String? = "dedup"
    /// `mode` and `buckets` only choose how, not what is kept, so they are read but never written.
    public static let keys: [ConfigKey<Self>] = [
        .value("exact", \.exact), .value("minhash", \.minhash), .value("ngram", \.ngram),
        .value("bands", \.bands), .value("rows", \.rows), .value("threshold", \.threshold), .value("seed", \.seed),
        .value("mode", \.mode, writeIf: { _ in false }), .value("buckets", \.buckets, writeIf: { _ in false }),
    ]

}
