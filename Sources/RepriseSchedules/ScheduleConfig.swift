import Foundation
import RepriseCore

public enum Objective: String, Codable, Sendable, CaseIterable {
    /// Autoregressive next-token prediction: the plan is the order only.
    case ar
    /// Masked diffusion (MDLM / LLaDA): order, t and a mask key per sequence.
    case mdlm
    /// Gaussian embedding diffusion (Diffusion-LM): order, t and a noise key per sequence.
    case gaussian

    public var isDiffusion: Bool { self != .ar }
}

public enum TimeSampling: String, Codable, Sendable, CaseIterable {
    /// Every row of a batch draws u independently.
    case iid
    /// The rows of a batch of n take one u from each stratum [k/n, (k+1)/n), strata assigned to rows at random.
    case stratified
}

/// Which training sequences a unique-token budget (`sequences` > 0) takes.
public enum SequenceSelection: String, Codable, Sendable, CaseIterable {
    /// Runs of consecutive sequences spread evenly over the whole split (`ScheduleBuilder.selection`), so the
    /// budget samples every source of the corpus.
    case spread
    /// The first `sequences` sequences of the split (the start of the packed stream).
    case first
}

/// Settings of `reprise schedule` and of a pipeline's `schedules` entries.
public struct ScheduleConfig: KeyedConfig, Sendable, Equatable {
    public var objective: Objective = .ar
    public var epochs = 1
    public var batchSize = 16
    public var seed = 0
    /// The noise schedule: for mdlm linear (default), cosine, cosine-squared, geometric; for gaussian cosine
    /// (default), sqrt, linear-beta; "none" for ar.
    public var noise = ""
    public var tSampling: TimeSampling = .stratified
    /// t = eps + (1 − eps)·u keeps t away from 0, where the linear schedule's weight 1/t explodes.
    public var eps = 1e-3
    /// How masks are drawn (mdlm): exact_k (the default for mdlm, unbiased), or bernoulli / exact with the
    /// at-least-one rule and weight w(t). nil before `resolved()` means the objective's default; ar and
    /// gaussian resolve to bernoulli (which they do not use), so their manifests are as before.
    public var masking: Masking?
    /// Frames (blocks of sequences) shuffled together; the reader caches this many frames.
    public var shuffleWindow = 16
    /// Stratified (t, mask) draws per validation sequence in the fixed validation plan.
    public var valDraws = 32
    /// Seed of the validation plan, kept apart from `seed` so runs with different seeds share it.
    public var valSeed = 0
    /// Validation sequences in the plan (the first ones of the split); 0 means all.
    public var valSequences = 0
    /// Training sequences in the plan (taken as `selection` says), a fixed unique-token budget for
    /// data-constrained experiments; 0 means all.
    public var sequences = 0
    /// How a budget picks its sequences: spread (default) or first; nil (and absent from the manifest)
    /// without a budget.
    public var selection: SequenceSelection?
    /// mdlm only: the fraction of batches trained at a random shorter length (uniform in 1...seq_len, the
    /// first tokens of each row), as LLaDA does for 1% of its data. nil before `resolved()` means the
    /// default 0.01; always nil for ar and gaussian, so their manifests carry no such key.
    public var shortFraction: Double?

    public init() {}

    /// The fraction of batches drawn at a shorter length (0 for ar and gaussian).
    public var shortBatchFraction: Double { shortFraction ?? 0 }

    public static let section: String? = "schedule"
    public static let keys: [ConfigKey<Self>] = [
        .value("objective", \.objective), .value("epochs", \.epochs), .value("batch_size", \.batchSize),
        .value("seed", \.seed), .value("noise", \.noise), .value("t_sampling", \.tSampling), .value("eps", \.eps),
        .optional("masking", \.masking), .value("shuffle_window", \.shuffleWindow),
        .value("val_draws", \.valDraws), .value("val_seed", \.valSeed), .value("val_sequences", \.valSequences),
        .value("sequences", \.sequences), .optional("selection", \.selection),
        .optional("short_fraction", \.shortFraction),
    ]

    public init(from decoder: Decoder) throws {
        self = try Self.decode(decoder, over: Self())
        self = try resolved()
    }

    /// The config with the default noise schedule (and, for mdlm, short fraction) filled in, after checking
    /// every value.
    public func resolved() throws -> ScheduleConfig {
        var c = self
        switch objective {
        case .ar:
            if !(noise.isEmpty || noise == "none") {
                throw RepriseError("schedule.noise must be none for the ar objective (it has no noise)")
            }
            c.noise = "none"
        case .mdlm:
            if noise.isEmpty { c.noise = MaskingNoise.linear.rawValue }
            guard let n = MaskingNoise(name: c.noise) else {
                throw RepriseError("schedule.noise '\(noise)' is not a masking schedule; allowed: "
                                   + MaskingNoise.allCases.map(\.rawValue).joined(separator: ", "))
            }
            c.noise = n.rawValue
        case .gaussian:
            if noise.isEmpty { c.noise = GaussianNoise.cosine.rawValue }
            guard GaussianNoise(rawValue: c.noise) != nil else {
                throw RepriseError("schedule.noise '\(noise)' is not a Gaussian schedule; allowed: "
                                   + GaussianNoise.allCases.map(\.rawValue).joined(separator: ", "))
            }
        }
        c.masking = maskingMode
        if objective != .mdlm && masking == .exactK {
            throw RepriseError("schedule.masking exact_k applies to the mdlm objective only")
        }
        if epochs < 1 || epochs > 1_000_000 { throw RepriseError("schedule.epochs must be between 1 and 1000000") }
        if batchSize < 1 || batchSize > 1 << 20 { throw RepriseError("schedule.batch_size must be between 1 and \(1 << 20) (got \(batchSize))") }
        if seed < 0 { throw RepriseError("schedule.seed must be a non-negative integer") }
        if !(eps > 0 && eps < 1) { throw RepriseError("schedule.eps must be in (0, 1) (got \(eps))") }
        if shuffleWindow < 1 { throw RepriseError("schedule.shuffle_window must be at least 1 frame") }
        if valDraws < 1 || valDraws > 65_536 { throw RepriseError("schedule.val_draws must be between 1 and 65536") }
        if valSeed < 0 { throw RepriseError("schedule.val_seed must be a non-negative integer") }
        if valSequences < 0 { throw RepriseError("schedule.val_sequences must be 0 (all) or more") }
        if sequences < 0 { throw RepriseError("schedule.sequences must be 0 (all) or more") }
        if sequences == 0 && selection != nil {
            throw RepriseError("schedule.selection applies to a budget: set schedule.sequences too (or drop selection)")
        }
        if sequences > 0 { c.selection = selection ?? .spread }
        if objective == .mdlm {
            let f = shortFraction ?? 0.01
            if !(f >= 0 && f <= 1) { throw RepriseError("schedule.short_fraction must be in [0, 1]") }
            c.shortFraction = f
        } else {
            if let f = shortFraction, f != 0 {
                throw RepriseError("schedule.short_fraction applies to the mdlm objective only")
            }
            c.shortFraction = nil
        }
        return c
    }

    /// The masking in force: the set one, else exact_k for mdlm and bernoulli (unused) for the others.
    public var maskingMode: Masking { masking ?? (objective == .mdlm ? .exactK : .bernoulli) }

    public var maskingNoise: MaskingNoise? { objective == .mdlm ? MaskingNoise(name: noise) : nil }
    public var gaussianNoise: GaussianNoise? { objective == .gaussian ? GaussianNoise(rawValue: noise) : nil }
}

/// t quantised to 16 bits: code c stands for u = (c + 0.5) / 65536 and t = eps + (1 − eps)·u. With the
/// table of alpha, weight and mask threshold for every code stored in the plan, every implementation
/// reproduces the same masks without evaluating cos or exp itself.
public struct NoiseTable: Sendable, Equatable {
    public static let levels = 65_536
    public var t: [Double]
    /// alpha(t) for masking (probability a token is kept), alpha-bar(t) for Gaussian diffusion.
    public var alpha: [Double]
    /// The ELBO weight w(t) for masking; 1 for Gaussian diffusion (the simple epsilon loss).
    public var weight: [Double]
    /// (1 − alpha(t)) as a fraction of 2^32 (masking only; 0 otherwise).
    public var threshold: [UInt32]

    public init(t: [Double], alpha: [Double], weight: [Double], threshold: [UInt32]) {
        self.t = t; self.alpha = alpha; self.weight = weight; self.threshold = threshold
    }

    public init(config: ScheduleConfig) {
        let n = Self.levels
        t = (0..<n).map { c in config.eps + (1 - config.eps) * ((Double(c) + 0.5) / Double(n)) }
        if let m = config.maskingNoise {
            alpha = t.map { m.alpha($0, eps: config.eps) }
            weight = t.map { m.weight($0, eps: config.eps) }
            threshold = t.map { NoiseTable.fraction32(m.maskProbability($0, eps: config.eps)) }
        } else if let g = config.gaussianNoise {
            alpha = t.map { g.alphaBar($0) }
            weight = Array(repeating: 1, count: n)
            threshold = Array(repeating: 0, count: n)
        } else {
            alpha = Array(repeating: 1, count: n)
            weight = Array(repeating: 0, count: n)
            threshold = Array(repeating: 0, count: n)
        }
    }

    /// p ∈ [0, 1] as floor(p·2^32), at most 2^32 − 1.
    static func fraction32(_ p: Double) -> UInt32 {
        let x = (p * 4_294_967_296).rounded(.down)
        return x <= 0 ? 0 : x >= 4_294_967_295 ? UInt32.max : UInt32(x)
    }

    /// The code of u ∈ [0, 1).
    public static func code(_ u: Double) -> UInt16 { UInt16(min(max(Int(u * Double(levels)), 0), levels - 1)) }
}
