import Foundation
import RepriseCore
import RepriseModel
import RepriseSchedules
import RepriseShards

/// Gaussian embedding diffusion (Diffusion-LM style; `reprise schedule --objective gaussian`).
///
/// Shapes: R rows (sequences) of L tokens, N = R·L positions, C width, V vocabulary, F time features.
/// For row r with the plan's noise level t_r, alpha-bar abar_r (PlanBatch.alpha) and noise key k_r:
///
///     x0[n]   = sqrt(C) · E[w_n] / ‖E[w_n]‖                      (N, C)  the token's embedding row, normalised
///     ε[r]    = GaussianDraw.fill(k_r)                             (L, C)  row-major, regenerated from the plan
///     x_t[n]  = sqrt(abar_r) · x0[n] + sqrt(1 − abar_r) · ε[n]     (N, C)
///     φ(t)    = [sin(1000·t·ω_k), cos(1000·t·ω_k)]_k, ω_k = 10000^(−k/(F/2)), k < F/2        (R, F)
///     temb[r] = W_t · φ(t_r) + b_t                                 (R, C)  `gaussian.time_proj`
///     h       = Transformer(x_t + temb[r], bidirectional)          (N, C)  final hidden state (after RMSNorm)
///     ε̂       = h · W_εᵀ + b_ε                                     (N, C)  `gaussian.eps_head`
///     mse     = mean over N·C of (ε̂ − ε)²
///     (prediction x0: the same head predicts x̂0 instead, mse = mean of (x̂0 − x0)², x0 also a target)
///     ce      = mean over N of −log softmax_{v ≠ mask}(x0[n] · headᵀ)[w_n]   (N, V)  rounding
///     loss    = mse + ce
///
/// What is learned, and why this way:
/// - E is the transformer's own embedding table (tied to its output head). Gradients reach it end to end,
///   as in Diffusion-LM: through x0 from the ε loss (via `inputEmbeddingGradient`), through x0 and the head
///   from the rounding loss.
/// - x0 is normalised to norm sqrt(C) (unit variance per element, like the noise; CDCD and Plaid normalise
///   too). The raw rows start at std 0.02, 50× below the noise, which would leave almost no signal at any
///   t; and an ε loss trained end to end has a trivial optimum when the embeddings shrink (x0 → 0 makes
///   ε = x_t / sqrt(1 − abar) exactly predictable). A fixed norm rules that collapse out; only directions
///   are learned. Directions collapsing onto each other would help the ε loss too; the rounding loss keeps
///   them apart (Diffusion-LM's reason for L_round).
/// - Rounding: the LM head applied to the true x0 (Diffusion-LM's decoder NLL on x_start), not to the
///   predicted x̂0 = (x_t − sqrt(1 − abar)·ε̂)/sqrt(abar): that division amplifies errors by up to
///   1/sqrt(abar) ≈ 316 at t = 1 (abar floor 1e-5), whose gradients would swamp the rest. It teaches the
///   head to read tokens off clean embeddings, which is what sampling uses to round x̂0.
/// - The time embedding and the ε head are new parameters kept outside the transformer's HuggingFace
///   layout, in this object's own buffer with its own AdamW moments; they are saved in each checkpoint's
///   `extra.safetensors` (tensors `gaussian.*`, moments `m.gaussian.*` / `v.gaussian.*`).
///
/// The validation loss is the same loss over the schedule's fixed validation draws: not a likelihood, not
/// comparable with AR or mdlm NLL; its perplexity and bits per byte are reported as 0.
///
/// Not thread-safe: one call at a time (the products and row loops use `threads` threads inside). Results
/// do not depend on the thread count: row loops write disjoint rows, sums run in a fixed order, products
/// use the model's bit-stable row split.
/// What the output head predicts (`train.gaussian_prediction`).
public enum GaussianPrediction: String, Codable, Sendable, CaseIterable {
    /// The noise ε (DDPM's simple loss; the default).
    case eps
    /// The clean embedding x0 (Diffusion-LM's choice): the loss is ‖x̂0 − x0‖², whose gradient reaches the
    /// embeddings also through the target.
    case x0
}

public final class GaussianObjective {
    /// Sinusoidal features of t fed to the time projection.
    public static let timeFeatures = 64
    /// The checkpoint file holding the extra parameters and their AdamW moments.
    public static let fileName = "extra.safetensors"
    public static let validationNote = "gaussian diffusion loss (eps MSE + rounding cross-entropy) over the schedule's fixed validation draws: not a likelihood, not comparable with AR or mdlm NLL; perplexity and bits per byte are not defined (0)"

    public struct Tensor: Sendable, Equatable {
        public let name: String
        public let offset: Int
        public let shape: [Int]
        /// Decoupled weight decay on the two matrices, never on the biases.
        public let decays: Bool
        public var count: Int { shape.reduce(1, *) }
        public var range: Range<Int> { offset..<(offset + count) }
    }

    public struct Losses: Sendable, Equatable {
        public var mse: Double
        public var roundingCE: Double
        public var loss: Double { mse + roundingCE }
    }

    public let dim: Int, vocab: Int, features: Int
    public let maxRows: Int, maxSeq: Int
    public let noise: GaussianNoise
    /// Excluded from the rounding softmax and never decoded (`<|mask|>`).
    public let excludedId: Int?
    public var threads: Int
    public var weightDecay: Float
    /// What the head predicts: ε (default) or x0.
    public var prediction: GaussianPrediction = .eps
    public let beta1: Float = 0.9, beta2: Float = 0.95, adamEps: Float = 1e-8

    public let tensors: [Tensor]
    let timeW: Int, timeB: Int, epsW: Int, epsB: Int
    /// Parameters, gradients and AdamW moments, one flat buffer each in `tensors`' layout.
    public let params: FloatBuffer, grads: FloatBuffer, m: FloatBuffer, v: FloatBuffer
    public var adamStep = 0

    // Scratch for up to maxRows × maxSeq positions.
    let ids: UnsafeMutablePointer<Int32>
    let x0: FloatBuffer, eps: FloatBuffer, input: FloatBuffer, epsHat: FloatBuffer, dh: FloatBuffer, dx0: FloatBuffer
    let invNorm: FloatBuffer, feats: FloatBuffer, temb: FloatBuffer, dtemb: FloatBuffer
    var rowScale: [(signal: Float, noise: Float)]

    public init(dim C: Int, vocab V: Int, maxRows: Int, maxSeq: Int, noise: GaussianNoise, excludedId: Int?,
                weightDecay: Float = 0.1, threads: Int = 1, features F: Int = GaussianObjective.timeFeatures) {
        precondition(C > 0 && V > 0 && maxRows > 0 && maxSeq > 0 && F >= 2 && F % 2 == 0)
        dim = C; vocab = V; features = F; self.maxRows = maxRows; self.maxSeq = maxSeq; self.noise = noise
        self.excludedId = excludedId; self.threads = max(1, threads); self.weightDecay = weightDecay
        var list: [Tensor] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], _ decays: Bool) -> Int {
            let t = Tensor(name: name, offset: offset, shape: shape, decays: decays)
            list.append(t)
            offset += t.count
            return t.offset
        }
        timeW = add("gaussian.time_proj.weight", [C, F], true)
        timeB = add("gaussian.time_proj.bias", [C], false)
        epsW = add("gaussian.eps_head.weight", [C, C], true)
        epsB = add("gaussian.eps_head.bias", [C], false)
        tensors = list
        params = FloatBuffer(count: offset); grads = FloatBuffer(count: offset)
        m = FloatBuffer(count: offset); v = FloatBuffer(count: offset)
        let N = maxRows * maxSeq
        ids = .allocate(capacity: N)
        ids.initialize(repeating: 0, count: N)
        x0 = FloatBuffer(count: N * C); eps = FloatBuffer(count: N * C); input = FloatBuffer(count: N * C)
        epsHat = FloatBuffer(count: N * C); dh = FloatBuffer(count: N * C); dx0 = FloatBuffer(count: N * C)
        invNorm = FloatBuffer(count: N); feats = FloatBuffer(count: maxRows * F)
        temb = FloatBuffer(count: maxRows * C); dtemb = FloatBuffer(count: maxRows * C)
        rowScale = Array(repeating: (0, 0), count: maxRows)
    }

    /// For a model: its width and vocabulary, buffers for its batches.
    public convenience init(model: Transformer, maxRows: Int, maxSeq: Int, noise: GaussianNoise, excludedId: Int?,
                            weightDecay: Float = 0.1) {
        self.init(dim: model.config.dim, vocab: model.config.vocabSize, maxRows: maxRows, maxSeq: maxSeq, noise: noise,
                  excludedId: excludedId, weightDecay: weightDecay, threads: model.threads)
    }

    deinit { ids.deallocate() }

    public func tensor(_ name: String) -> UnsafeMutableBufferPointer<Float> {
        guard let t = tensors.first(where: { $0.name == name }) else { preconditionFailure("no tensor \(name)") }
        return UnsafeMutableBufferPointer(start: params.pointer + t.offset, count: t.count)
    }

    public func gradient(_ name: String) -> UnsafeMutableBufferPointer<Float> {
        guard let t = tensors.first(where: { $0.name == name }) else { preconditionFailure("no tensor \(name)") }
        return UnsafeMutableBufferPointer(start: grads.pointer + t.offset, count: t.count)
    }

    /// Deterministic initialisation: matrices N(0, 0.02²) (the transformer's std), each from its own
    /// SplitMix64 stream keyed by the seed, a domain constant ("gaus") and the tensor's index; biases 0.
    public func initialize(seed: UInt64) {
        for (index, t) in tensors.enumerated() {
            let p = params.pointer + t.offset
            guard t.decays else { p.update(repeating: 0, count: t.count); continue }
            var rng = SplitMix64(seed: Hashing.mix64(seed ^ 0x6761_7573 ^ Hashing.mix64(UInt64(index))))
            var i = 0
            while i < t.count {
                let u1 = rng.unitAboveZero()
                let u2 = rng.unit()
                let r = (-2 * log(u1)).squareRoot() * 0.02
                p[i] = Float(r * cos(2 * Double.pi * u2))
                if i + 1 < t.count { p[i + 1] = Float(r * sin(2 * Double.pi * u2)) }
                i += 2
            }
        }
        m.zero(); v.zero(); adamStep = 0
    }

    public func zeroGradients() { grads.zero() }

    // MARK: pieces of the forward pass

    /// φ(t) (F): sin and cos of 1000·t at F/2 frequencies from 1 down to 10000^(−(F/2−1)/(F/2)) (DDPM's
    /// timestep embedding with t scaled to the 0...1000 range).
    func timeFeatures(_ t: Double, into out: UnsafeMutablePointer<Float>) {
        let half = features / 2
        for k in 0..<half {
            let a = 1000 * t * exp(-log(10000.0) * Double(k) / Double(half))
            out[k] = Float(sin(a))
            out[half + k] = Float(cos(a))
        }
    }

    /// temb[r] (C) = W_t (C, F) · φ(t_r) (F) + b_t, for rows 0..<R of `feats`.
    func timeEmbedding(rows R: Int) {
        let C = dim, F = features, w = params.pointer + timeW, b = params.pointer + timeB
        for r in 0..<R {
            let f = feats.pointer + r * F, out = temb.pointer + r * C
            for c in 0..<C {
                var acc = b[c]
                for k in 0..<F { acc += w[c * F + k] * f[k] }
                out[c] = acc
            }
        }
    }

    /// x0 (N, C) = sqrt(C)·E[w]/‖E[w]‖ for the ids in `ids`, with 1/‖E[w]‖ in `invNorm`.
    func embed(model: Transformer, count N: Int) {
        let C = dim, s = Float(Double(C).squareRoot())
        let table = model.tokenEmbeddings.baseAddress!
        let x0 = x0.pointer, inv = invNorm.pointer, ids = ids
        parallelFor((N + 63) / 64, threads: threads) { chunk in
            for n in (chunk * 64)..<min(N, chunk * 64 + 64) {
                let id = Int(ids[n])
                precondition(id >= 0 && id < self.vocab, "token id \(id) outside the vocabulary (0..<\(self.vocab))")
                let e = table + id * C
                var ss = 0.0
                for c in 0..<C { ss += Double(e[c]) * Double(e[c]) }
                let r = Float(max(ss.squareRoot(), 1e-20))
                inv[n] = 1 / r
                for c in 0..<C { x0[n * C + c] = s * e[c] / r }
            }
        }
    }

    /// ε̂ (N, C) = h (N, C) · W_εᵀ (C, C) + b_ε.
    func epsHead(_ h: UnsafePointer<Float>, count N: Int) {
        let C = dim
        BLAS.product(transB: true, m: N, n: C, k: C, a: h, lda: C, b: params.pointer + epsW, ldb: C,
                     c: epsHat.pointer, ldc: C, threads: threads)
        let b = params.pointer + epsB, out = epsHat.pointer
        for n in 0..<N { for c in 0..<C { out[n * C + c] += b[c] } }
    }

    /// The rounding head's logits (N, V) = x (N, C) · headᵀ (C, V) into the model's logits buffer (free
    /// after a forward that computed no logits).
    func roundingLogits(model: Transformer, x: UnsafePointer<Float>, count N: Int) -> UnsafeMutablePointer<Float> {
        let logits = model.logits.baseAddress!
        precondition(model.logits.count >= N * vocab)
        BLAS.product(transB: true, m: N, n: vocab, k: dim, a: x, lda: dim, b: model.params.pointer + model.layout.head, ldb: dim,
                     c: logits, ldc: vocab, threads: threads)
        return logits
    }

    // MARK: loss and gradient

    /// The loss of rows of token ids (R, L) at noise levels t (abar = alpha-bar(t)) with the rows' noise
    /// keys. With `backward`, adds ∂loss/∂params to the model's gradients and to `grads` (zero them first).
    @discardableResult
    public func lossAndGradient(model: Transformer, tokens: UnsafePointer<Int32>, rows R: Int, seq L: Int,
                                t: [Double], alphaBar: [Double], keys: [UInt64], backward: Bool) -> Losses {
        precondition(R > 0 && R <= maxRows && L > 0 && L <= maxSeq && t.count >= R && alphaBar.count >= R && keys.count >= R)
        precondition(model.config.dim == dim && model.config.vocabSize == vocab)
        let C = dim, F = features, V = vocab, N = R * L
        ids.update(from: tokens, count: N)
        embed(model: model, count: N)
        // ε: each row's L×C noise from its key (rows are independent).
        let epsP = eps.pointer
        parallelFor(R, threads: threads) { r in
            GaussianDraw.fill(UnsafeMutableBufferPointer(start: epsP + r * L * C, count: L * C), key: keys[r])
        }
        for r in 0..<R {
            timeFeatures(t[r], into: feats.pointer + r * F)
            rowScale[r] = (Float(alphaBar[r].squareRoot()), Float((1 - alphaBar[r]).squareRoot()))
        }
        timeEmbedding(rows: R)
        // input (N, C) = sqrt(abar)·x0 + sqrt(1 − abar)·ε + temb[row]
        let x0p = x0.pointer, inp = input.pointer, te = temb.pointer
        for r in 0..<R {
            let (a, b) = rowScale[r]
            for j in 0..<L {
                let o = (r * L + j) * C
                for c in 0..<C { inp[o + c] = a * x0p[o + c] + b * epsP[o + c] + te[r * C + c] }
            }
        }
        model.forward(embeddings: inp, batch: R, seq: L, causal: false, computeLogits: false)
        let h = model.finalHidden.baseAddress!
        epsHead(h, count: N)
        // mse = Σ (ε̂ − ε)² / (N·C) (x0 prediction: Σ (x̂0 − x0)²): per-row sums in Double, added in row
        // order. With backward, the head's output becomes ∂mse/∂output = 2(output − target)/(N·C) in place.
        let ehp = epsHat.pointer
        let target = UnsafePointer(prediction == .eps ? epsP : x0.pointer)
        var rowSums = [Double](repeating: 0, count: R)
        let scale = Float(2) / Float(N * C)
        rowSums.withUnsafeMutableBufferPointer { sums in
            let s = sums.baseAddress!
            parallelFor(R, threads: threads) { r in
                var acc = 0.0
                for i in (r * L * C)..<((r + 1) * L * C) {
                    let d = ehp[i] - target[i]
                    acc += Double(d * d)
                    if backward { ehp[i] = scale * d }
                }
                s[r] = acc
            }
        }
        let mse = rowSums.reduce(0, +) / Double(N * C)
        // Rounding: cross-entropy of the token from the head applied to x0; dLogits in place.
        let logits = roundingLogits(model: model, x: x0p, count: N)
        let ceSum = CrossEntropy.forwardBackward(logits: logits, targets: ids, weights: nil, rows: N, vocab: V,
                                                 excluding: excludedId, dLogits: backward ? logits : nil,
                                                 scale: 1 / Float(N), threads: threads)
        let losses = Losses(mse: mse, roundingCE: ceSum / Double(N))
        guard backward else { return losses }

        let g = grads.pointer, dEps = UnsafePointer(ehp)
        // ε head: dW_ε (C, C) += dεᵀ (C, N) · h (N, C);  db_ε += Σ_n dε[n];  dh (N, C) = dε · W_ε
        BLAS.product(transA: true, m: C, n: C, k: N, a: dEps, lda: C, b: h, ldb: C, beta: 1, c: g + epsW, ldc: C, threads: threads)
        for n in 0..<N { for c in 0..<C { g[epsB + c] += dEps[n * C + c] } }
        BLAS.product(m: N, n: C, k: C, a: dEps, lda: C, b: params.pointer + epsW, ldb: C, c: dh.pointer, ldc: C, threads: threads)
        // Through the transformer: du (N, C) = ∂loss/∂(x_t + temb).
        model.backward(dLogits: nil, dFinalHidden: dh.pointer)
        let du = model.inputEmbeddingGradient.baseAddress!
        // Time embedding: dtemb[r] = Σ_j du[r, j];  dW_t (C, F) += dtemb ⊗ φ;  db_t += dtemb
        let dte = dtemb.pointer, fp = feats.pointer
        dte.update(repeating: 0, count: R * C)
        for r in 0..<R {
            for j in 0..<L { for c in 0..<C { dte[r * C + c] += du[(r * L + j) * C + c] } }
            for c in 0..<C {
                let d = dte[r * C + c]
                g[timeB + c] += d
                for k in 0..<F { g[timeW + c * F + k] += d * fp[r * F + k] }
            }
        }
        // x0: from the ε path dx0 = sqrt(abar)·du, from the rounding path dx0 += dLogits (N, V) · head (V, C);
        // the head (tied: the embedding) gets dhead (V, C) += dLogitsᵀ (V, N) · x0 (N, C).
        let dx = dx0.pointer
        for r in 0..<R {
            let a = rowScale[r].signal
            for i in (r * L * C)..<((r + 1) * L * C) { dx[i] = a * du[i] }
        }
        // x0 prediction: x0 is also the target, ∂mse/∂x0 = −∂mse/∂x̂0.
        if prediction == .x0 { for i in 0..<(N * C) { dx[i] -= dEps[i] } }
        let head = model.params.pointer + model.layout.head
        BLAS.product(m: N, n: C, k: V, a: logits, lda: V, b: head, ldb: C, beta: 1, c: dx, ldc: C, threads: threads)
        BLAS.product(transA: true, m: V, n: C, k: N, a: logits, lda: V, b: x0p, ldb: C, beta: 1,
                     c: model.grads.pointer + model.layout.head, ldc: C, threads: threads)
        // Through the normalisation x0 = s·e/‖e‖ (s = sqrt(C)): de = (s/‖e‖)·(dx0 − x0·(x0·dx0)/C), in place,
        // then scattered into the embedding table's rows.
        let s = Float(Double(C).squareRoot()), inv = invNorm.pointer, invC = 1 / Float(C)
        parallelFor((N + 63) / 64, threads: threads) { chunk in
            for n in (chunk * 64)..<min(N, chunk * 64 + 64) {
                let xo = x0p + n * C, d = dx + n * C
                var dot: Float = 0
                for c in 0..<C { dot += xo[c] * d[c] }
                let k = s * inv[n], proj = dot * invC
                for c in 0..<C { d[c] = k * (d[c] - xo[c] * proj) }
            }
        }
        model.addEmbeddingGradient(dx, tokens: ids, count: N)
        return losses
    }

    /// One training batch of a plan (rows of seqLen + 1 tokens, the first seqLen used).
    public func step(batch b: PlanBatch, model: Transformer) -> Losses {
        let R = b.rows, L = b.seqLen
        var tok = [Int32](repeating: 0, count: R * L)
        for r in 0..<R { for j in 0..<L { tok[r * L + j] = Int32(b.tokens[r * (L + 1) + j]) } }
        return lossAndGradient(model: model, tokens: tok, rows: R, seq: L, t: b.t, alphaBar: b.alpha, keys: b.keys,
                               backward: true)
    }

    // MARK: optimisation

    /// Global-norm clipping over the model's and this objective's gradients together (as one
    /// `clip_grad_norm_` over all parameters); returns the norm before clipping.
    public func clipGradients(model: Transformer, maxNorm: Double) -> Double {
        let a = GradientClipping.globalNorm(model.grads, threads: threads)
        let b = GradientClipping.globalNorm(grads, threads: threads)
        let norm = (a * a + b * b).squareRoot()
        let factor = maxNorm / (norm + 1e-6)
        if factor < 1 {
            let f = Float(factor)
            for buffer in [model.grads, grads] {
                let p = buffer.pointer
                for i in 0..<buffer.count { p[i] *= f }
            }
        }
        return norm
    }

    /// One AdamW update of the extra parameters: the model's `AdamW` step (PyTorch order) with the same
    /// hyperparameters, decay on the two matrices only.
    public func update(lr: Float) {
        adamStep += 1
        let c = AdamW.coefficients(step: adamStep, lr: lr, weightDecay: weightDecay, beta1: beta1, beta2: beta2, eps: adamEps)
        for t in tensors {
            AdamW.apply(c, range: t.range, decays: t.decays, params: params.pointer, grads: grads.pointer,
                        m: m.pointer, v: v.pointer)
        }
    }

    // MARK: checkpoints

    /// Writes DIR/extra.safetensors (parameters under `gaussian.*`, moments under `m.` / `v.` + name, the
    /// AdamW step in the metadata); returns its SHA-256 (recorded in state.json as `extra_sha256`).
    @discardableResult
    public func save(dir: String) throws -> String {
        var entries: [SafetensorsEntry] = []
        for (prefix, buffer) in [("", params), ("m.", m), ("v.", v)] {
            for t in tensors {
                entries.append(SafetensorsEntry(name: prefix + t.name, shape: t.shape,
                                                buffer: UnsafeBufferPointer(start: buffer.pointer + t.offset, count: t.count)))
            }
        }
        return try Safetensors.write(entries, metadata: ["format": "pt", "objective": "gaussian", "adam_step": String(adamStep),
                                                         "time_features": String(features), "prediction": prediction.rawValue],
                                     to: dir + "/" + Self.fileName)
    }

    /// Reads DIR/extra.safetensors, checking it against `sha256` when given; with `optimizer`, also the
    /// AdamW moments and step.
    public func load(dir: String, sha256: String?, optimizer: Bool) throws {
        let path = dir + "/" + Self.fileName
        guard FileManager.default.fileExists(atPath: path) else {
            throw RepriseError("\(path): missing; a gaussian run's checkpoint keeps its time embedding and ε head there")
        }
        if let sha256, try Hashing.sha256Hex(file: path) != sha256 {
            throw RepriseError("\(path): SHA-256 differs from state.json (damaged checkpoint)")
        }
        let file = try SafetensorsFile(path: path)
        let buffers = optimizer ? [("", params), ("m.", m), ("v.", v)] : [("", params)]
        for (prefix, buffer) in buffers {
            for t in tensors {
                try file.copy(prefix + t.name, into: UnsafeMutableBufferPointer(start: buffer.pointer + t.offset, count: t.count),
                              shape: t.shape)
            }
        }
        if optimizer {
            guard let s = file.metadata?["adam_step"], let step = Int(s) else {
                throw RepriseError("\(path): no adam_step in the metadata")
            }
            adamStep = step
        }
    }

    /// The objective of a gaussian run's checkpoint (eval, sample): noise schedule from the run's schedule,
    /// parameters from DIR/extra.safetensors (checked against DIR/state.json).
    public static func load(run manifest: RunManifest, checkpointDir dir: String, model: Transformer,
                            maxRows: Int, maxSeq: Int) throws -> GaussianObjective {
        let schedule = try Schedule(manifest.scheduleDir)
        guard let noise = schedule.config.gaussianNoise else {
            throw RepriseError("\(manifest.scheduleDir): not a gaussian schedule")
        }
        let g = GaussianObjective(model: model, maxRows: maxRows, maxSeq: maxSeq, noise: noise, excludedId: manifest.maskTokenId,
                                  weightDecay: Float(manifest.train.weightDecay))
        g.prediction = manifest.train.gaussianPrediction
        let state = try Checkpoints.state(dir: dir)
        guard let sha256 = state.extraSha256 else {
            throw RepriseError("\(dir)/state.json: no extra_sha256, which a gaussian run's checkpoint records for \(fileName)")
        }
        try g.load(dir: dir, sha256: sha256, optimizer: false)
        return g
    }

    // MARK: evaluation

    /// The loss over the schedule's fixed validation plan (its t codes, and noise keys from
    /// `PlanRandom.validationKey`) for the first `sequences` validation sequences (0: all), averaged over
    /// every draw.
    public func validate(model: Transformer, schedule: Schedule, shards: String, sequences: Int, batchSize: Int) throws -> EvalResult {
        let pack = try PackManifest.load(shards)
        let val = try pack.dataset(shards, split: "val")
        let L = pack.config.seqLen
        guard let plan = try schedule.validation(), plan.sequences > 0 else {
            throw RepriseError("\(schedule.dir): no validation plan (the validation split is empty?)")
        }
        let n = sequences == 0 ? plan.sequences : min(sequences, plan.sequences)
        let rowsTotal = n * plan.draws
        let step = min(batchSize, maxRows)
        var mse = 0.0, ce = 0.0
        var start = 0
        var tok = [Int32](repeating: 0, count: step * L)
        var d = Diagnostics()
        while start < rowsTotal {
            let rows = min(step, rowsTotal - start)
            let b = try schedule.validationBatch(plan, rows: start..<(start + rows), dataset: val)
            for r in 0..<rows { for j in 0..<L { tok[r * L + j] = Int32(b.tokens[r * (L + 1) + j]) } }
            let l = lossAndGradient(model: model, tokens: tok, rows: rows, seq: L, t: b.t, alphaBar: b.alpha, keys: b.keys,
                                    backward: false)
            // Batch means weighted by their rows: the mean over every (row, position).
            mse += l.mse * Double(rows)
            ce += l.roundingCE * Double(rows)
            diagnose(model: model, rows: rows, seq: L, t: b.t, alphaBar: b.alpha, into: &d)
            start += rows
        }
        mse /= Double(rowsTotal)
        ce /= Double(rowsTotal)
        var components = ["mse": mse, "rounding_ce": ce]
        for (k, v) in d.values(embeddings: embeddingStatistics(model: model)) { components[k] = v }
        return EvalResult(loss: mse + ce, tokens: n * L, bytes: 0, isBound: false, isLikelihood: false,
                          components: components, note: Self.validationNote)
    }

    // MARK: diagnostics

    /// Noise-level buckets of the diagnostics: t in [0, 0.25), [0.25, 0.5), [0.5, 0.75), [0.75, 1].
    public static let diagnosticBuckets = 4

    /// Sums behind the validation diagnostics, so that a collapsing run shows: the ε MSE and the accuracy of
    /// the denoised x̂0 per noise-level bucket, and the rounding accuracy on the clean x0.
    struct Diagnostics {
        var positions = 0, cleanRight = 0, denoisedRight = 0
        var bucketPositions = [Int](repeating: 0, count: GaussianObjective.diagnosticBuckets)
        var bucketSquares = [Double](repeating: 0, count: GaussianObjective.diagnosticBuckets)
        var bucketRight = [Int](repeating: 0, count: GaussianObjective.diagnosticBuckets)

        /// Named values, logged as `val_<name>`.
        func values(embeddings e: (norm: Double, cosine: Double)) -> [String: Double] {
            var out = ["rounding_accuracy": Double(cleanRight) / Double(max(1, positions)),
                       "denoised_accuracy": Double(denoisedRight) / Double(max(1, positions)),
                       "embedding_norm": e.norm, "embedding_cosine": e.cosine]
            for k in 0..<GaussianObjective.diagnosticBuckets {
                let n = Double(max(1, bucketPositions[k]))
                out["mse_t\(k)"] = bucketSquares[k] / n
                out["denoised_accuracy_t\(k)"] = Double(bucketRight[k]) / n
            }
            return out
        }
    }

    /// The arg-max token of each of N rows of rounding logits (N, V), never the excluded id.
    func argmaxTokens(_ logits: UnsafePointer<Float>, count N: Int) -> [Int] {
        (0..<N).map { n in
            let row = logits + n * vocab
            var best = excludedId == 0 ? 1 : 0
            for v in 0..<vocab where v != excludedId && row[v] > row[best] { best = v }
            return best
        }
    }

    /// After a forward without gradient (`lossAndGradient(backward: false)`): the model's logits hold the
    /// rounding logits of the clean x0, `epsHat` the head's output (ε̂, or x̂0) and `eps` ε. Adds the rounding
    /// accuracy of x0, and per noise-level bucket the head's MSE and the accuracy of the denoised embedding
    /// x̂0 (= x0 + sqrt((1 − abar)/abar)·(ε − ε̂) for ε prediction, the output itself for x0 prediction),
    /// projected to norm sqrt(C) as in sampling, read by the rounding head.
    func diagnose(model: Transformer, rows R: Int, seq L: Int, t: [Double], alphaBar: [Double], into d: inout Diagnostics) {
        let C = dim, N = R * L, B = Self.diagnosticBuckets
        let clean = argmaxTokens(model.logits.baseAddress!, count: N)
        let x0p = x0.pointer, ep = eps.pointer, ehp = epsHat.pointer, xh = dx0.pointer
        let s = Float(Double(C).squareRoot())
        for r in 0..<R {
            let k = min(B - 1, max(0, Int(t[r] * Double(B))))
            let ratio = Float(((1 - alphaBar[r]) / max(alphaBar[r], 1e-12)).squareRoot())
            for j in 0..<L {
                let o = (r * L + j) * C
                var sq = 0.0, ss = 0.0
                for c in 0..<C {
                    let diff = ehp[o + c] - (prediction == .eps ? ep[o + c] : x0p[o + c])
                    sq += Double(diff * diff)
                    let v = prediction == .eps ? x0p[o + c] - ratio * diff : ehp[o + c]
                    xh[o + c] = v
                    ss += Double(v) * Double(v)
                }
                let scale = ss > 0 ? s / Float(ss.squareRoot()) : 0
                for c in 0..<C { xh[o + c] *= scale }
                d.bucketSquares[k] += sq / Double(C)
                d.bucketPositions[k] += 1
                if clean[r * L + j] == Int(ids[r * L + j]) { d.cleanRight += 1 }
            }
        }
        let denoised = argmaxTokens(roundingLogits(model: model, x: xh, count: N), count: N)
        for r in 0..<R {
            let k = min(B - 1, max(0, Int(t[r] * Double(B))))
            for j in 0..<L where denoised[r * L + j] == Int(ids[r * L + j]) { d.denoisedRight += 1; d.bucketRight[k] += 1 }
        }
        d.positions += N
    }

    /// The mean norm of the token embeddings (the raw rows, before x0's normalisation) and the mean cosine
    /// between the rows of up to 256 tokens spread over the vocabulary (every ⌈V/256⌉-th id, the mask left
    /// out): rows collapsing onto each other push the cosine towards 1.
    public func embeddingStatistics(model: Transformer) -> (norm: Double, cosine: Double) {
        let C = dim, table = model.tokenEmbeddings.baseAddress!
        let ids = Array(stride(from: 0, to: vocab, by: max(1, (vocab + 255) / 256))).filter { $0 != excludedId }
        func norm(_ id: Int) -> Double {
            var ss = 0.0
            for c in 0..<C { ss += Double(table[id * C + c]) * Double(table[id * C + c]) }
            return ss.squareRoot()
        }
        let all = (0..<vocab).filter { $0 != excludedId }
        let meanNorm = all.reduce(0.0) { $0 + norm($1) } / Double(max(1, all.count))
        let norms = ids.map(norm)
        var sum = 0.0, pairs = 0
        for a in 0..<ids.count {
            for b in (a + 1)..<ids.count {
                var dot = 0.0
                for c in 0..<C { dot += Double(table[ids[a] * C + c]) * Double(table[ids[b] * C + c]) }
                sum += dot / max(norms[a] * norms[b], 1e-30)
                pairs += 1
            }
        }
        return (meanNorm, pairs > 0 ? sum / Double(pairs) : 0)
    }

    // MARK: sampling

    /// DDIM sampling (deterministic, η = 0) of `length` tokens after `prompt` over `steps` steps of the
    /// run's alpha-bar schedule: x_1 ~ N(0, I) from `seed`; at t_i = 1 − i/S, ε̂ from the model,
    ///     x̂0 = (x_t − sqrt(1 − abar_t)·ε̂) / sqrt(abar_t), projected to norm sqrt(C) per position (where
    ///          every x0 lives), and with `clamp` replaced by the embedding of the token the rounding head
    ///          picks (Diffusion-LM's clamping trick); prompt positions are set to their own x0;
    ///     ε' = (x_t − sqrt(abar_t)·x̂0) / sqrt(1 − abar_t)   (the noise consistent with the clamped x̂0)
    ///     x_s = sqrt(abar_s)·x̂0 + sqrt(1 − abar_s)·ε',  s = t_i − 1/S.
    /// The tokens are the rounding head's argmax of the last x̂0 (ids in `excluded` and the mask never).
    /// The same seed gives the same tokens.
    public func sample(model: Transformer, prompt: [UInt32], length: Int, steps: Int, seed: UInt64, clamp: Bool = true,
                       excluded: Set<Int> = []) -> [UInt32] {
        let P = prompt.count, L = P + length, C = dim, V = vocab
        precondition(length > 0 && steps > 0 && L <= maxSeq && L <= model.maxSeq, "\(L) positions exceed the buffers")
        var banned = excluded
        if let excludedId { banned.insert(excludedId) }
        let allowed = (0..<V).filter { !banned.contains($0) }
        precondition(!allowed.isEmpty)
        var x = [Float](repeating: 0, count: L * C)
        x.withUnsafeMutableBufferPointer { GaussianDraw.fill($0, key: Hashing.mix64(seed ^ 0x6761_7573)) }
        var chosen = [Int](repeating: 0, count: L)
        let s = Float(Double(C).squareRoot())
        let table = model.tokenEmbeddings.baseAddress!
        func x0Of(_ id: Int, into out: UnsafeMutablePointer<Float>) {
            let e = table + id * C
            var ss = 0.0
            for c in 0..<C { ss += Double(e[c]) * Double(e[c]) }
            let r = Float(max(ss.squareRoot(), 1e-20))
            for c in 0..<C { out[c] = s * e[c] / r }
        }
        let xh = x0.pointer, inp = input.pointer
        for i in 0..<steps {
            let t = 1 - Double(i) / Double(steps), sNext = max(0, 1 - Double(i + 1) / Double(steps))
            let at = noise.alphaBar(t), an = noise.alphaBar(sNext)
            timeFeatures(t, into: feats.pointer)
            timeEmbedding(rows: 1)
            for j in 0..<L { for c in 0..<C { inp[j * C + c] = x[j * C + c] + temb[c] } }
            model.forward(embeddings: inp, batch: 1, seq: L, causal: false, computeLogits: false)
            epsHead(model.finalHidden.baseAddress!, count: L)
            let sa = Float(at.squareRoot()), sb = Float((1 - at).squareRoot())
            for j in 0..<L {
                let o = j * C
                var ss = 0.0
                for c in 0..<C {
                    let v = prediction == .eps ? (x[o + c] - sb * epsHat[o + c]) / sa : epsHat[o + c]
                    xh[o + c] = v
                    ss += Double(v) * Double(v)
                }
                let k = ss > 0 ? s / Float(ss.squareRoot()) : 0
                for c in 0..<C { xh[o + c] *= k }
            }
            let last = i == steps - 1
            if clamp || last {
                let logits = roundingLogits(model: model, x: xh, count: L)
                for j in P..<L {
                    let row = logits + j * V
                    var best = allowed[0]
                    for id in allowed where row[id] > row[best] { best = id }
                    chosen[j] = best
                    if clamp { x0Of(best, into: xh + j * C) }
                }
            }
            for j in 0..<P { x0Of(Int(prompt[j]), into: xh + j * C) }
            if last { break }
            let na = Float(an.squareRoot()), nb = Float((1 - an).squareRoot())
            for q in 0..<(L * C) {
                let epsPrime = sb > 0 ? (x[q] - sa * xh[q]) / sb : 0
                x[q] = na * xh[q] + nb * epsPrime
            }
        }
        return (P..<L).map { UInt32(chosen[$0]) }
    }
}
