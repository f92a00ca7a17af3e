import Foundation
import RepriseCore

/// Per-item outcome of a cloze evaluation, as stored in a run's `cloze-final.jsonl` / `cloze-best.jsonl`
/// (one JSON object per line, keys sorted): `{"answer": a, "correct": true, "correct_per_byte": false,
/// "item": i, "scores": [4 scores in nats]}`. Two runs scored on the same item set can be compared item by
/// item (`ClozePairs`).
public struct ClozeItemOutcome: Codable, Sendable, Equatable {
    public var item: Int
    public var answer: Int
    public var correct: Bool
    public var correctPerByte: Bool
    public var scores: [Double]

    enum CodingKeys: String, CodingKey {
        case item, answer, correct, scores
        case correctPerByte = "correct_per_byte"
    }

    /// The file of the final weights' outcomes and of the best checkpoint's (lowest validation loss).
    public static let finalFile = "cloze-final.jsonl"
    public static let bestFile = "cloze-best.jsonl"

    /// Writes outcomes atomically, one line per item in item order.
    public static func write(_ outcomes: [ClozeItemOutcome], to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes: [UInt8] = []
        for o in outcomes {
            bytes += Array(try enc.encode(o))
            bytes.append(0x0A)
        }
        try AtomicFileWriter.write(bytes, to: path)
    }

    /// Reads a file written by `write`; nil when it does not exist. A bad line is an error naming it.
    public static func read(_ path: String) throws -> [ClozeItemOutcome]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let dec = JSONDecoder()
        var out: [ClozeItemOutcome] = []
        for (n, line) in data.split(separator: 0x0A).enumerated() {
            do { out.append(try dec.decode(ClozeItemOutcome.self, from: Data(line))) } catch {
                throw RepriseError("\(path): line \(n + 1) is not a cloze outcome: \(error.oneLine)")
            }
        }
        return out
    }
}

/// A paired comparison of two models' cloze outcomes on the same items.
public struct ClozePairs: Sendable, Equatable {
    public var items: Int
    /// Items right for A only (b) and for B only (c): the discordant pairs McNemar's test looks at.
    public var onlyA: Int
    public var onlyB: Int
    public var accuracyA: Double
    public var accuracyB: Double
    /// McNemar's exact test: two-sided binomial p-value of min(b, c) among b + c pairs at probability 1/2.
    public var pValue: Double
    /// Accuracy difference A − B and its 95% paired-bootstrap interval (items resampled with replacement).
    public var difference: Double
    public var lower: Double
    public var upper: Double
    public var resamples: Int

    /// Compares per-item correctness; nil when the item sets differ (not the same items in the same order)
    /// or are empty.
    public static func compare(_ a: [ClozeItemOutcome], _ b: [ClozeItemOutcome], resamples: Int = 10_000,
                               seed: UInt64 = 0) -> ClozePairs? {
        guard !a.isEmpty, a.count == b.count,
              zip(a, b).allSatisfy({ $0.item == $1.item && $0.answer == $1.answer }) else { return nil }
        return compare(a.map(\.correct), b.map(\.correct), resamples: resamples, seed: seed)
    }

    public static func compare(_ a: [Bool], _ b: [Bool], resamples: Int = 10_000, seed: UInt64 = 0) -> ClozePairs {
        precondition(a.count == b.count && !a.isEmpty)
        let n = a.count
        var onlyA = 0, onlyB = 0, rightA = 0, rightB = 0
        for i in 0..<n {
            if a[i] { rightA += 1 }
            if b[i] { rightB += 1 }
            if a[i] && !b[i] { onlyA += 1 }
            if b[i] && !a[i] { onlyB += 1 }
        }
        // Per-item differences d_i ∈ {−1, 0, 1}; a resample's mean is (Σ of the drawn d) / n.
        let d = (0..<n).map { (a[$0] ? 1 : 0) - (b[$0] ? 1 : 0) }
        var rng = SplitMix64(seed: Hashing.mix64(seed ^ 0x636C_7A62))
        var means = [Double](repeating: 0, count: resamples)
        for r in 0..<resamples {
            var s = 0
            for _ in 0..<n { s += d[rng.below(n)] }
            means[r] = Double(s) / Double(n)
        }
        means.sort()
        func quantile(_ q: Double) -> Double {
            guard !means.isEmpty else { return 0 }
            let i = min(means.count - 1, max(0, Int((q * Double(means.count)).rounded(.down))))
            return means[i]
        }
        return ClozePairs(items: n, onlyA: onlyA, onlyB: onlyB, accuracyA: Double(rightA) / Double(n),
                          accuracyB: Double(rightB) / Double(n), pValue: mcnemarExact(onlyA, onlyB),
                          difference: Double(rightA - rightB) / Double(n), lower: quantile(0.025), upper: quantile(0.975),
                          resamples: resamples)
    }

    /// Two-sided exact McNemar p-value: 2·P(X ≤ min(b, c)) for X ~ Binomial(b + c, 1/2), at most 1.
    public static func mcnemarExact(_ b: Int, _ c: Int) -> Double {
        let m = b + c
        guard m > 0 else { return 1 }
        let k = min(b, c)
        var tail = 0.0
        for j in 0...k {
            tail += exp(lgamma(Double(m + 1)) - lgamma(Double(j + 1)) - lgamma(Double(m - j + 1)) - Double(m) * log(2.0))
        }
        return min(1, 2 * tail)
    }
}

extension Cloze {
    /// Each item's outcome under `scores` (see `result` for the rules).
    public static func outcomes(scores: [[Double]], set: ClozeSet, byteLengths: [Int32]) -> [ClozeItemOutcome] {
        zip(set.items, scores).enumerated().map { i, pair in
            let (item, s) = pair
            let a = item.answer
            let norm = s.indices.map { c in
                s[c] / Double(max(1, item.endings[c].reduce(0) { $0 + Int(byteLengths.indices.contains(Int($1)) ? byteLengths[Int($1)] : 0) }))
            }
            return ClozeItemOutcome(item: i, answer: a, correct: s.indices.allSatisfy { $0 == a || s[$0] < s[a] },
                                    correctPerByte: norm.indices.allSatisfy { $0 == a || norm[$0] < norm[a] }, scores: s)
        }
    }
}
