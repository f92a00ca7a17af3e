import Foundation
import RepriseCore

/// A document after extraction, normalisation and the filters; still to be deduplicated and written.
struct CleanedDocument: Sendable {
    var id: String
    var source: String
    var title: String?
    var metadata: [(key: String, json: [UInt8])]
    /// The clean text when kept; for a dropped document, the text as far as it got (for the exclusions).
    var text: String
    var dropReason: String?
    var originalBytes: Int?
    var keys = DedupKeys()
    /// The output line for a kept document, encoded on the worker thread (the writer thread then only
    /// copies it), unless dedup drops the document after all.
    var keptRecord: [UInt8]?
    var invalidSequences = 0
    var controlsRemoved = 0
    /// An HTML page whose parse stopped at too deep a nesting (see `HTMLExtractor`).
    var htmlDepthTruncated = false
}

/// The per-document part of ingest: pure, thread-safe, run on the worker threads.
struct Cleaner: Sendable {
    let config: IngestConfig
    let quality: GopherQuality
    let repetition: GopherRepetition
    let c4: C4Lines
    let minHasher: MinHasher

    init(_ config: IngestConfig) {
        self.config = config
        quality = GopherQuality(config.quality)
        repetition = GopherRepetition(config.repetition)
        c4 = C4Lines(config.c4)
        minHasher = MinHasher(ngram: config.dedup.ngram, hashes: config.dedup.bands * config.dedup.rows,
                              seed: config.dedup.seed)
    }

    func clean(_ raw: RawDocument, source: String) -> CleanedDocument {
        var doc = CleanedDocument(id: raw.id ?? "\(source):\(raw.ordinal)", source: source, title: raw.title,
                                  metadata: raw.metadata, text: "", originalBytes: raw.originalBytes)
        if let reason = raw.dropReason {
            doc.dropReason = reason
            switch raw.body {
            case .text(let b), .html(let b): doc.text = String(decoding: b, as: UTF8.self)
            case .wikitext(let s): doc.text = s
            }
            return doc
        }
        // Extraction, then repair (raw bytes only; strings are valid UTF-8) and normalisation.
        let layout = config.whitespace == .preserve
        let norm: Normalizer.Result
        var rawBytes = 0
        switch raw.body {
        case .text(let b):
            norm = Normalizer.normalize(b, nfc: config.nfc, layout: layout)
            rawBytes = b.count
        case .html(let b):
            do {
                let page = try HTMLExtractor.extract(b, name: source, charset: raw.charset)
                if doc.title == nil { doc.title = page.title }
                doc.htmlDepthTruncated = page.depthTruncated
                norm = Normalizer.normalize(page.text, nfc: config.nfc, layout: layout)
                rawBytes = page.text.count
            } catch {
                doc.dropReason = "html_unparseable"
                doc.text = String(decoding: b.prefix(droppedPrefixBytes), as: UTF8.self)
                return doc
            }
        case .wikitext(let s):
            norm = Normalizer.normalize(Wikitext.plainText(s), nfc: config.nfc, layout: layout)
        }
        doc.text = norm.text
        doc.invalidSequences = norm.invalidSequences
        doc.controlsRemoved = norm.controlsRemoved
        if rawBytes > 0 && Double(norm.invalidBytes) > config.maxInvalidUTF8Fraction * Double(rawBytes) {
            doc.dropReason = "invalid_utf8"
            return doc
        }
        // Filters, cheapest first.
        if config.c4.enabled {
            let (text, decision) = c4.apply(doc.text)
            if case .drop(let reason) = decision { doc.dropReason = reason; return doc }
            doc.text = text
        }
        // A scalar is at most 4 bytes: only short texts need counting.
        let minChars = max(config.minChars, 1)
        if doc.text.utf8.count < 4 * minChars && doc.text.unicodeScalars.count < minChars {
            doc.dropReason = doc.text.isEmpty ? "empty" : "too_short"
            return doc
        }
        if config.quality.enabled || config.repetition.enabled {
            // Words and line statistics are computed once and shared by both rule sets.
            let stats = TextStats(doc.text)
            if config.quality.enabled, case .drop(let reason) = quality.check(stats) {
                doc.dropReason = reason; return doc
            }
            if config.repetition.enabled, case .drop(let reason) = repetition.check(stats) {
                doc.dropReason = reason; return doc
            }
        }
        // Dedup keys.
        if config.dedup.exact {
            let digest = Hashing.sha256Bytes(doc.text)
            doc.keys.exact = digest.withUnsafeBytes {
                Key128(hi: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                       lo: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
        }
        if config.dedup.minhash { doc.keys.signature = minHasher.signature(doc.text) }
        doc.keptRecord = Records.kept(doc)
        return doc
    }
}
