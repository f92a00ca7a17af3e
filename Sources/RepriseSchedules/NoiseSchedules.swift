import Foundation

/// Masked-diffusion noise schedules. alpha(t) is the probability that a token is kept (not masked) at noise
/// level t ∈ [0, 1]; the ELBO weight of a masked token is w(t) = −alpha'(t) / (1 − alpha(t)).
/// The closed forms are in FORMAT.md; tests compare `derivative` with a numerical derivative of `alpha`.
public enum MaskingNoise: String, Codable, Sendable, CaseIterable {
    /// alpha = 1 − (1 − eps)·t, w = 1/t (MDLM's log-linear schedule, LLaDA's linear one).
    case linear
    /// alpha = eps + (1 − eps)·cos(πt/2).
    case cosine
    /// alpha = eps + (1 − eps)·cos²(πt/2).
    case cosineSquared = "cosine-squared"
    /// sigma = smin^(1−t)·smax^t, alpha = exp(−sigma), with smin = 1e-4, smax = 20.
    case geometric

    public static let geometricMin = 1e-4
    public static let geometricMax = 20.0

    /// Accepts "log-linear" as another name of the linear schedule.
    public init?(name: String) {
        if name == "log-linear" || name == "loglinear" { self = .linear; return }
        self.init(rawValue: name)
    }

    public func alpha(_ t: Double, eps: Double) -> Double {
        switch self {
        case .linear: return 1 - (1 - eps) * t
        case .cosine: return eps + (1 - eps) * cos(Double.pi * t / 2)
        case .cosineSquared:
            let c = cos(Double.pi * t / 2)
            return eps + (1 - eps) * c * c
        case .geometric: return exp(-Self.sigma(t))
        }
    }

    /// 1 − alpha(t), computed without cancellation where the form allows it.
    public func maskProbability(_ t: Double, eps: Double) -> Double {
        switch self {
        case .linear: return (1 - eps) * t
        case .geometric: return -expm1(-Self.sigma(t))
        default: return 1 - alpha(t, eps: eps)
        }
    }

    /// d alpha / dt.
    public func derivative(_ t: Double, eps: Double) -> Double {
        switch self {
        case .linear: return -(1 - eps)
        case .cosine: return -(1 - eps) * (Double.pi / 2) * sin(Double.pi * t / 2)
        case .cosineSquared: return -(1 - eps) * (Double.pi / 2) * sin(Double.pi * t)
        case .geometric:
            let s = Self.sigma(t)
            return -s * log(Self.geometricMax / Self.geometricMin) * exp(-s)
        }
    }

    /// The ELBO weight w(t) = −alpha'(t) / (1 − alpha(t)).
    public func weight(_ t: Double, eps: Double) -> Double {
        switch self {
        case .linear: return 1 / t
        default: return -derivative(t, eps: eps) / maskProbability(t, eps: eps)
        }
    }

    static func sigma(_ t: Double) -> Double { pow(geometricMin, 1 - t) * pow(geometricMax, t) }
}

/// Gaussian (embedding) diffusion schedules: alpha-bar(t), the fraction of signal variance left at t, so that
/// x_t = sqrt(abar)·x0 + sqrt(1 − abar)·noise.
public enum GaussianNoise: String, Codable, Sendable, CaseIterable {
    /// abar = f(t)/f(0), f(t) = cos²((t + s)/(1 + s)·π/2), s = 0.008 (improved DDPM).
    case cosine
    /// abar = 1 − sqrt(t + 1e-4) (Diffusion-LM), kept at least `floor` near t = 1 where the formula goes negative.
    case sqrt
    /// abar = exp(−(b0·t + (b1 − b0)·t²/2)), b0 = 0.1, b1 = 20: the continuous form of DDPM's linear betas.
    case linearBeta = "linear-beta"

    public static let cosineOffset = 0.008
    public static let floor = 1e-5

    public func alphaBar(_ t: Double) -> Double {
        switch self {
        case .cosine:
            func f(_ t: Double) -> Double {
                let c = cos((t + Self.cosineOffset) / (1 + Self.cosineOffset) * Double.pi / 2)
                return c * c
            }
            return max(f(t) / f(0), Self.floor)
        case .sqrt: return max(1 - Foundation.sqrt(t + 1e-4), Self.floor)
        case .linearBeta: return exp(-(0.1 * t + (20 - 0.1) * t * t / 2))
        }
    }
}
