import Foundation
import RepriseCore

/// Every random choice of a plan comes from SplitMix64 (`Hashing.mix64`) keyed by the seed and a counter, so
/// any (epoch, sequence) can be recomputed on its own, in any order, by any implementation (the Python reader
/// does the same integer arithmetic). FORMAT.md spells out each derivation.
public enum PlanRandom {
    // Domain constants keep the keys of different uses apart ("mask", "vali", "ordr", "time", "tval", "shrt").
    static let maskDomain: UInt64 = 0x6D61_736B
    static let validationDomain: UInt64 = 0x7661_6C69
    static let orderDomain: UInt64 = 0x6F72_6472
    static let timeDomain: UInt64 = 0x7469_6D65
    static let validationTimeDomain: UInt64 = 0x7476_616C
    static let shortDomain: UInt64 = 0x7368_7274

    static func stream(_ seed: UInt64, _ domain: UInt64, _ counter: UInt64) -> SplitMix64 {
        SplitMix64(seed: Hashing.mix64(Hashing.mix64(seed ^ domain) ^ counter))
    }

    /// The key of the mask (or Gaussian noise) of training sequence `sequence` in epoch `epoch`.
    public static func sequenceKey(seed: UInt64, epoch: Int, sequence: Int) -> UInt64 {
        Hashing.mix64(Hashing.mix64(seed ^ maskDomain) ^ (UInt64(epoch) << 32 | UInt64(sequence)))
    }

    /// The key of draw `draw` of validation sequence `sequence`.
    public static func validationKey(seed: UInt64, sequence: Int, draw: Int) -> UInt64 {
        Hashing.mix64(Hashing.mix64(seed ^ validationDomain) ^ (UInt64(draw) << 32 | UInt64(sequence)))
    }

    /// The length of batch `batch` of epoch `epoch`: with probability `fraction` a uniform length in
    /// 1...seqLen (the batch is trained on the first tokens of its sequences, LLaDA's random-length
    /// data), otherwise `seqLen`. The first draw of the batch's stream decides, the second picks the length.
    public static func batchLength(seed: UInt64, epoch: Int, batch: Int, seqLen L: Int, fraction: Double) -> Int {
        guard fraction > 0 else { return L }
        var rng = stream(seed, shortDomain, UInt64(epoch) << 32 | UInt64(batch))
        return rng.unit() < fraction ? 1 + rng.below(L) : L
    }

    /// The j-th output of SplitMix64 started at `key`: the random bits of token j.
    @inline(__always)
    public static func bits(_ key: UInt64, _ j: Int) -> UInt64 {
        Hashing.mix64(key &+ UInt64(j) &* 0x9E37_79B9_7F4A_7C15)
    }

}

/// How a sequence's tokens are masked from its key, and how a masked-diffusion row is weighted.
///
/// `bernoulli` and `exact` take the masking rate 1 − alpha(t) from the row's t and weight every masked token
/// by the schedule's w(t); both force at least one masked token per row, which biases the bound upward (a
/// row at small t, weighted by w(t) ≈ 1/t, is given a masked token it would rarely have). `exact_k`, the
/// default for mdlm, is an unbiased estimator of the continuous-time bound: FORMAT.md, "exact_k".
public enum Masking: String, Codable, Sendable, CaseIterable {
    /// Each token masked independently with probability 1 − alpha(t) (at least one); weight w(t).
    case bernoulli
    /// Exactly round((1 − alpha(t))·L) tokens masked (at least one); weight w(t).
    case exact
    /// k = 1 + floor(u·L) tokens masked, u the row's uniform draw (its t code), so k is uniform in 1...L;
    /// weight 1 / (k·P(k)) = L/k per masked token. Unbiased, no eps, bounded weights.
    case exactK = "exact_k"

    /// True for the masking that draws k from the row's t code and weights rows by `uniformWeight`.
    public var isUniformCount: Bool { self == .exactK }

    /// Fills `mask[0..<L]` with 1 for masked positions. `threshold` is (1 − alpha(t)) as a fraction of 2^32
    /// (bernoulli, exact), `code` the row's t code (exact_k).
    /// A bernoulli row left with no masked token gets the position with the smallest random bits.
    public func fill(_ mask: UnsafeMutableBufferPointer<UInt8>, key: UInt64, threshold: UInt32, code: UInt16) {
        let n = mask.count
        guard n > 0 else { return }
        switch self {
        case .bernoulli:
            var any = false
            var minBits = UInt64.max, minIndex = 0
            for j in 0..<n {
                let b = PlanRandom.bits(key, j)
                let m = UInt32(truncatingIfNeeded: b >> 32) < threshold
                mask[j] = m ? 1 : 0
                any = any || m
                if b < minBits { minBits = b; minIndex = j }
            }
            if !any { mask[minIndex] = 1 }
        case .exact:
            Self.fillSmallest(mask, key: key, count: Masking.exactCount(threshold: threshold, length: n))
        case .exactK:
            Self.fillSmallest(mask, key: key, count: Masking.uniformCount(code: code, length: n))
        }
    }

    /// `fill` for bernoulli and exact, which need no t code.
    public func fill(_ mask: UnsafeMutableBufferPointer<UInt8>, key: UInt64, threshold: UInt32) {
        precondition(self != .exactK, "exact_k masks are drawn from the row's t code")
        fill(mask, key: key, threshold: threshold, code: 0)
    }

    /// Masks the k positions with the smallest (bits_j, j): a uniformly random subset of size k.
    static func fillSmallest(_ mask: UnsafeMutableBufferPointer<UInt8>, key: UInt64, count k: Int) {
        let n = mask.count
        var order = (0..<n).map { (PlanRandom.bits(key, $0), $0) }
        order.sort { $0 < $1 }
        for j in 0..<n { mask[j] = 0 }
        for i in 0..<k { mask[order[i].1] = 1 }
    }

    /// round(threshold / 2^32 · L), kept within 1...L, in integer arithmetic.
    public static func exactCount(threshold: UInt32, length: Int) -> Int {
        let k = Int((UInt64(threshold) * UInt64(length) + (1 << 31)) >> 32)
        return min(max(k, 1), length)
    }

    /// Longest row exact_k can draw every k for: each k needs at least one of the 65,536 t codes.
    public static let maxUniformLength = NoiseTable.levels

    /// exact_k: k = 1 + floor(c·L / 65536) for the row's t code c (u = (c + 0.5)/65536), in 1...L.
    public static func uniformCount(code: UInt16, length L: Int) -> Int {
        precondition(L >= 1 && L <= maxUniformLength)
        return 1 + (Int(code) * L) >> 16
    }

    /// The number of t codes that give k at length L: ceil(k·65536/L) − ceil((k − 1)·65536/L), so
    /// P(k) = n_k / 65536 (exactly 1/L when L divides 65,536).
    public static func uniformCodes(count k: Int, length L: Int) -> Int {
        let n = NoiseTable.levels
        func ceilDiv(_ a: Int) -> Int { (a * n + L - 1) / L }
        return ceilDiv(k) - ceilDiv(k - 1)
    }

    /// The weight of each masked token of an exact_k row with k masked of L: 1 / (k·P(k)) = 65536 / (k·n_k),
    /// L/k when L divides 65,536. Σ_masked weight·CE / L is then an unbiased estimate of the bound per token.
    public static func uniformWeight(count k: Int, length L: Int) -> Double {
        Double(NoiseTable.levels) / (Double(k) * Double(uniformCodes(count: k, length: L)))
    }
}

public enum GaussianDraw {
    /// Standard normal values for indices 0..<count from `key` (Box–Muller on the j-th SplitMix64 output:
    /// its high 32 bits give u1 ∈ (0, 1), its low 32 bits u2 ∈ [0, 1); indices 2j and 2j+1 share output j).
    public static func fill(_ out: UnsafeMutableBufferPointer<Float>, key: UInt64) {
        var j = 0
        while 2 * j < out.count {
            let b = PlanRandom.bits(key, j)
            let u1 = (Double(b >> 32) + 0.5) * 0x1p-32
            let u2 = Double(b & 0xFFFF_FFFF) * 0x1p-32
            let r = (-2 * log(u1)).squareRoot()
            out[2 * j] = Float(r * cos(2 * Double.pi * u2))
            if 2 * j + 1 < out.count { out[2 * j + 1] = Float(r * sin(2 * Double.pi * u2)) }
            j += 1
        }
    }
}

/// The order of the training sequences in one epoch: every sequence exactly once, shuffled with locality
/// so that reading stays fast from compressed frames. Sequences are grouped into blocks of
/// `blockSequences` consecutive sequences (about one frame); the blocks are put in a uniformly random
/// order, then cut into windows of `windowBlocks` blocks, and the sequences of each window are shuffled
/// uniformly. A reader that caches `windowBlocks` + 1 frames decompresses each frame about once per epoch.
public enum EpochOrder {
    public static func make(sequences n: Int, blockSequences g: Int, windowBlocks w: Int, seed: UInt64,
                            epoch: Int) -> [UInt32] {
        precondition(g >= 1 && w >= 1)
        var rng = PlanRandom.stream(seed, PlanRandom.orderDomain, UInt64(epoch))
        let blocks = (n + g - 1) / g
        var blockOrder = Array(0..<blocks)
        rng.shuffle(&blockOrder)
        var out: [UInt32] = []
        out.reserveCapacity(n)
        var window: [UInt32] = []
        var start = 0
        while start < blocks {
            window.removeAll(keepingCapacity: true)
            for b in blockOrder[start..<min(start + w, blocks)] {
                for s in (b * g)..<min((b + 1) * g, n) { window.append(UInt32(s)) }
            }
            rng.shuffle(&window)
            out += window
            start += w
        }
        return out
    }
}
