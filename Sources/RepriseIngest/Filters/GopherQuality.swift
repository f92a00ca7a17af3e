import RepriseCore

// Gopher quality rules (the published Gopher thresholds by default).

/// Settings of `GopherQuality`. Unknown keys are rejected. Every threshold may be omitted (the default
/// applies) or set to null to switch that rule off; a threshold of 0 also switches its rule off.
public struct GopherQualityConfig: KeyedConfig, Sendable, Equatable {
    public var enabled: Bool = true
    /// Fewer words than this (symbol-only words not counted): `gopher_short_doc`.
    public var minWords: Int? = 50
    /// More words than this: `gopher_long_doc`.
    public var maxWords: Int? = 100_000
    /// Mean characters per word below this: `gopher_below_avg_threshold`.
    public var minAvgWordLength: Double? = 3
    /// Mean characters per word above this: `gopher_above_avg_threshold`.
    public var maxAvgWordLength: Double? = 10
    /// "#" per word, or ellipses ("..." and "…") per word, above this: `gopher_too_many_hashes` /
    /// `gopher_too_many_ellipsis`. Here "per word" counts every word, symbol-only ones included.
    public var maxSymbolWordRatio: Double? = 0.1
    /// Share of lines starting with "•" or "-" above this: `gopher_too_many_bullets`.
    public var maxBulletLinesRatio: Double? = 0.9
    /// Share of lines ending with "..." or "…" above this: `gopher_too_many_end_ellipsis`.
    public var maxEllipsisLinesRatio: Double? = 0.3
    /// Share of words (all words) containing a letter below this: `gopher_below_alpha_threshold`.
    /// (The name follows the published rule set; the value is the minimum share of words with a letter.)
    public var maxNonAlphaWordsRatio: Double? = 0.8
    /// Fewer distinct stop words present than this: `gopher_enough_stop_words`.
    public var minStopWords: Int? = 2
    /// The stop words (matched case-sensitively against whole words).
    public var stopWords: [String] = ["the", "be", "to", "of", "and", "that", "have", "with"]

    public init() {}

    public static let section: String? = "quality"
    /// Thresholds are switchable: null (or 0) turns the rule off, and a switched-off rule is written as null.
    public static let keys: [ConfigKey<Self>] = [
        .value("enabled", \.enabled),
        .switchable("min_words", \.minWords), .switchable("max_words", \.maxWords),
        .switchable("min_avg_word_length", \.minAvgWordLength), .switchable("max_avg_word_length", \.maxAvgWordLength),
        .switchable("max_symbol_word_ratio", \.maxSymbolWordRatio),
        .switchable("max_bullet_lines_ratio", \.maxBulletLinesRatio),
        .switchable("max_ellipsis_lines_ratio", \.maxEllipsisLinesRatio),
        .switchable("max_non_alpha_words_ratio", \.maxNonAlphaWordsRatio),
        .switchable("min_stop_words", \.minStopWords), .value("stop_words", \.stopWords),
    ]

}

/// The Gopher quality rules, checked in this order (the first failing rule names the drop reason):
/// word count (`gopher_short_doc`, `gopher_long_doc`), mean word length (`gopher_below_avg_threshold`,
/// `gopher_above_avg_threshold`), "#" and ellipsis per word (`gopher_too_many_hashes`,
/// `gopher_too_many_ellipsis`), bullet lines and lines ending in an ellipsis (`gopher_too_many_bullets`,
/// `gopher_too_many_end_ellipsis`), words with a letter (`gopher_below_alpha_threshold`) and stop words
/// (`gopher_enough_stop_words`).
///
/// How the statistics are taken is described on `TextStats` and `WordSplitter`: punctuation is split off
/// into words of its own; those symbol-only words do not count as words of the document nor for the mean
/// word length, but they do count in the denominators of the "#"/ellipsis and letter ratios.
///
/// Text without spaces between words: when most of a document's non-whitespace characters are Han, kana or
/// Hangul (`TextStats.isCJK`), each such character counts as one word (the runs between them are split as
/// usual). The mean-word-length and stop-word rules assume English words and are skipped for such
/// documents; the other rules apply unchanged. So a Chinese poem of a hundred characters passes the word
/// count, and a sentence of twenty characters is `gopher_short_doc`.
public struct GopherQuality: Sendable {
    public let config: GopherQualityConfig
    private let stopWordBytes: [[UInt8]]
    private let stopMin: Int
    private let stopMax: Int

    public init(_ config: GopherQualityConfig = GopherQualityConfig()) {
        self.config = config
        var seen = Set<String>()
        var list: [[UInt8]] = []
        for w in config.stopWords where !seen.contains(w) { seen.insert(w); list.append(Array(w.utf8)) }
        stopWordBytes = list
        stopMin = list.map(\.count).min() ?? 0
        stopMax = list.map(\.count).max() ?? 0
    }

    public func check(_ text: String) -> FilterDecision {
        guard config.enabled else { return .keep }
        return check(TextStats(text))
    }

    public func check(_ stats: TextStats) -> FilterDecision {
        let c = config
        guard c.enabled else { return .keep }
        let words = stats.nonSymbolWordCount
        if let m = c.minWords, m != 0, words < m { return .drop(reason: "gopher_short_doc") }
        if let m = c.maxWords, m != 0, words > m { return .drop(reason: "gopher_long_doc") }

        if !stats.isCJK && words > 0 {
            let mean = Double(stats.nonSymbolWordChars) / Double(words)
            if let m = c.minAvgWordLength, m != 0, mean < m { return .drop(reason: "gopher_below_avg_threshold") }
            if let m = c.maxAvgWordLength, m != 0, mean > m { return .drop(reason: "gopher_above_avg_threshold") }
        }

        let all = stats.wordCount
        if all > 0 {
            let n = Double(all)
            if let m = c.maxSymbolWordRatio, m != 0 {
                if Double(stats.hashCount) / n > m { return .drop(reason: "gopher_too_many_hashes") }
                if Double(stats.ellipsisCount) / n > m { return .drop(reason: "gopher_too_many_ellipsis") }
            }
        }
        if stats.lineCount > 0 {
            let lines = Double(stats.lineCount)
            if let m = c.maxBulletLinesRatio, m != 0, Double(stats.bulletLineCount) / lines > m {
                return .drop(reason: "gopher_too_many_bullets")
            }
            if let m = c.maxEllipsisLinesRatio, m != 0, Double(stats.ellipsisLineCount) / lines > m {
                return .drop(reason: "gopher_too_many_end_ellipsis")
            }
        }
        if all > 0, let m = c.maxNonAlphaWordsRatio, m != 0, Double(stats.alphaWordCount) / Double(all) < m {
            return .drop(reason: "gopher_below_alpha_threshold")
        }
        if !stats.isCJK, let m = c.minStopWords, m != 0, distinctStopWords(stats, enough: m) < m {
            return .drop(reason: "gopher_enough_stop_words")
        }
        return .keep
    }

    /// Number of distinct stop words among the words (stops counting at `enough`).
    private func distinctStopWords(_ stats: TextStats, enough: Int) -> Int {
        if stopWordBytes.isEmpty { return 0 }
        var found = [Bool](repeating: false, count: stopWordBytes.count)
        var count = 0
        let p = UnsafePointer(stats.storage.base)
        let lo = stopMin, hi = stopMax
        let w = stats.words.base
        outer: for i in 0..<stats.wordCount {
            let s = Int(w[2 * i]), len = Int(w[2 * i + 1]) - s
            if len < lo || len > hi { continue }
            for k in 0..<stopWordBytes.count where !found[k] && stopWordBytes[k].count == len {
                let ok = stopWordBytes[k].withUnsafeBufferPointer { memEqual(p + s, $0.baseAddress!, len) }
                if ok {
                    found[k] = true
                    count += 1
                    if count >= enough { break outer }
                }
            }
        }
        return count
    }
}
