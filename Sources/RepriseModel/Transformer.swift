import Foundation
import RepriseCore

/// A LLaMA-style decoder with its parameters, gradients and activation buffers, sized for batches of up to
/// `maxBatch` sequences of up to `maxSeq` tokens.
///
///     let model = Transformer(config: .tiny(vocabSize: 8192), maxBatch: 8, maxSeq: 128, threads: 2)
///     model.initializeParameters(seed: 1)
///     model.zeroGradients()
///     model.forward(tokens: ids, batch: 8, seq: 128, causal: true)      // model.logits: (B, T, V)
///     let loss = CrossEntropy.forwardBackward(logits: ..., dLogits: ...) // the objective's choice
///     model.backward(dLogits: d)                                          // accumulates into model.grads
///
/// Shapes: B batch, T sequence, C width, H heads, D = C/H, F MLP hidden, V vocabulary, N = B·T rows.
/// Causal (AR) and bidirectional (diffusion) attention share the weights; the flag is per forward call.
/// Not thread-safe: one forward/backward at a time per model (the kernels use `threads` threads inside).
public final class Transformer {
    public let config: ModelConfig
    public let layout: ParameterLayout
    /// All parameters, one contiguous buffer in `layout`.
    public let params: FloatBuffer
    /// ∂loss/∂params in the same layout; `backward` adds to it, `zeroGradients` clears it.
    public let grads: FloatBuffer
    public let maxBatch: Int, maxSeq: Int
    /// Threads for the kernels and the matrix products (OpenBLAS itself is kept on one thread and the
    /// products are split over our threads; see `BLAS.gemm`). Results do not depend on the thread count,
    /// bit for bit (tested with 1, 2 and 3): reductions use fixed chunks combined in order, and products
    /// are split only at rows where OpenBLAS's kernels give the same bits as one call. They do depend on
    /// the OpenBLAS kernel (Zen, Haswell, SkylakeX round differently), which `BLAS.coreName` names.
    public var threads: Int

    let rope: RoPETable
    let acts: Activations
    private let tokenIds: UnsafeMutablePointer<Int32>

    /// What the last forward call saw.
    public private(set) var batch = 0, seq = 0, causal = true
    public private(set) var inputWasEmbeddings = false
    public private(set) var logitsComputed = false

    public init(config: ModelConfig, maxBatch: Int, maxSeq: Int? = nil, threads: Int = 1) {
        precondition((try? config.validate()) != nil, "invalid model config")
        let maxSeq = maxSeq ?? config.context
        precondition(maxBatch > 0 && maxSeq > 0 && maxSeq <= config.context, "maxSeq must be in 1...context")
        self.config = config
        self.layout = ParameterLayout(config)
        self.params = FloatBuffer(count: layout.count)
        self.grads = FloatBuffer(count: layout.count)
        self.maxBatch = maxBatch
        self.maxSeq = maxSeq
        self.threads = max(1, threads)
        self.rope = RoPETable(headDim: config.headDim, context: config.context, theta: config.ropeTheta)
        self.acts = Activations(config: config, batch: maxBatch, seq: maxSeq)
        self.tokenIds = .allocate(capacity: maxBatch * maxSeq)
        tokenIds.initialize(repeating: 0, count: maxBatch * maxSeq)
    }

    deinit { tokenIds.deallocate() }

    // MARK: parameters

    /// Deterministic initialisation (see `ParameterLayout.initialize`).
    public func initializeParameters(seed: UInt64) { layout.initialize(params, seed: seed) }

    public func zeroGradients() { grads.zero() }

    /// A named parameter tensor (HF Llama name).
    public func parameter(_ name: String) -> UnsafeMutableBufferPointer<Float> { layout.view(name, in: params) }

    /// The gradient of a named parameter tensor.
    public func gradient(_ name: String) -> UnsafeMutableBufferPointer<Float> { layout.view(name, in: grads) }

    /// The token embedding table (V, C), e.g. to build noisy input embeddings.
    public var tokenEmbeddings: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: params.pointer + layout.embedding, count: config.vocabSize * config.dim)
    }

    /// Bytes held by activation buffers (parameters, gradients and optimizer state come on top).
    public var activationBytes: Int { acts.totalFloats * 4 }

    /// Bytes a model with these buffers needs, without allocating it: parameters, gradients, activations,
    /// and AdamW's two moments when `withOptimizer` — to refuse a model too large for memory up front.
    public static func estimatedBytes(config: ModelConfig, maxBatch: Int, maxSeq: Int, withOptimizer: Bool = true) -> Int {
        let p = ParameterLayout(config).count
        return 4 * ((withOptimizer ? 4 : 2) * p + Activations.Plan(config: config, batch: maxBatch, seq: maxSeq).total)
    }

    // MARK: outputs of the last forward / backward

    /// (B, T, V) logits of the last forward (when it computed them). The caller may overwrite them, e.g.
    /// with ∂loss/∂logits in place before `backward(dLogits: logits)`.
    public var logits: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: acts.logits, count: batch * seq * config.vocabSize)
    }

    /// (B, T, C) final hidden state: the output of the last RMSNorm, before the output head.
    public var finalHidden: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: acts.lnf, count: batch * seq * config.dim)
    }

    /// (B, T, C) ∂loss/∂(input embeddings), valid after `backward` that followed `forward(embeddings:)`.
    public var inputEmbeddingGradient: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: acts.dx, count: batch * seq * config.dim)
    }

    // MARK: forward

    /// forward from token ids (B, T) → logits (B, T, V) and the final hidden state (B, T, C).
    public func forward(tokens: UnsafePointer<Int32>, batch B: Int, seq T: Int, causal: Bool, computeLogits: Bool = true) {
        precondition(B > 0 && B <= maxBatch && T > 0 && T <= maxSeq, "batch \(B)×\(T) exceeds the model's buffers \(maxBatch)×\(maxSeq)")
        tokenIds.update(from: tokens, count: B * T)
        Embedding.forward(out: acts.xIn(0), tokens: tokenIds, table: params.pointer + layout.embedding,
                          rows: B * T, dim: config.dim, vocab: config.vocabSize, threads: threads)
        run(batch: B, seq: T, causal: causal, embeddings: false, computeLogits: computeLogits)
    }

    public func forward(tokens: [Int32], batch B: Int, seq T: Int, causal: Bool, computeLogits: Bool = true) {
        precondition(tokens.count == B * T)
        tokens.withUnsafeBufferPointer { forward(tokens: $0.baseAddress!, batch: B, seq: T, causal: causal, computeLogits: computeLogits) }
    }

    /// forward from input embeddings (B, T, C) instead of token ids (e.g. noisy embeddings of a Gaussian
    /// diffusion objective); `backward` then leaves ∂/∂(input embeddings) in `inputEmbeddingGradient`.
    public func forward(embeddings: UnsafePointer<Float>, batch B: Int, seq T: Int, causal: Bool, computeLogits: Bool = true) {
        precondition(B > 0 && B <= maxBatch && T > 0 && T <= maxSeq, "batch \(B)×\(T) exceeds the model's buffers \(maxBatch)×\(maxSeq)")
        acts.xIn(0).update(from: embeddings, count: B * T * config.dim)
        run(batch: B, seq: T, causal: causal, embeddings: true, computeLogits: computeLogits)
    }

    private func run(batch B: Int, seq T: Int, causal: Bool, embeddings: Bool, computeLogits: Bool) {
        if BLAS.threads != 1 { BLAS.threads = 1 }
        batch = B; seq = T; self.causal = causal; inputWasEmbeddings = embeddings; logitsComputed = computeLogits
        let C = config.dim, F = config.ffnHidden, H = config.heads, D = config.headDim, V = config.vocabSize
        let N = B * T, eps = Float(config.normEps)
        let w = params.pointer
        for l in 0..<config.layers {
            let p = layout.layers[l]
            let x = acts.xIn(l), ln1 = acts.ln1(l), qkv = acts.qkv(l), y = acts.attnOut(l)
            let mid = acts.xMid(l), ln2 = acts.ln2(l), gu = acts.gu(l), act = acts.act(l), out = acts.xIn(l + 1)
            // attention block: mid = x + o(attn(rope(qkv(norm(x)))))
            RMSNorm.forward(out: ln1, rstd: acts.rstd1(l), x: x, weight: w + p.attnNorm, rows: N, dim: C, eps: eps, threads: threads)
            // qkv (N, 3C) = ln1 (N, C) · [Wq; Wk; Wv]ᵀ (C, 3C)
            BLAS.gemm(transB: true, m: N, n: 3 * C, k: C, a: ln1, lda: C, b: w + p.q, ldb: C, c: qkv, ldc: 3 * C, threads: threads)
            RoPE.forward(qkv: qkv, batch: B, seq: T, heads: H, headDim: D, table: rope, threads: threads)
            Attention.forward(out: y, probs: acts.probs(l), qkv: qkv, batch: B, seq: T, heads: H, headDim: D,
                              causal: causal, threads: threads)
            mid.update(from: x, count: N * C)
            BLAS.gemm(transB: true, m: N, n: C, k: C, a: y, lda: C, b: w + p.o, ldb: C, beta: 1, c: mid, ldc: C, threads: threads)
            // MLP block: out = mid + down(silu(gate(norm(mid))) ⊙ up(norm(mid)))
            RMSNorm.forward(out: ln2, rstd: acts.rstd2(l), x: mid, weight: w + p.mlpNorm, rows: N, dim: C, eps: eps, threads: threads)
            // gu (N, 2F) = ln2 (N, C) · [Wgate; Wup]ᵀ (C, 2F)
            BLAS.gemm(transB: true, m: N, n: 2 * F, k: C, a: ln2, lda: C, b: w + p.gate, ldb: C, c: gu, ldc: 2 * F, threads: threads)
            SwiGLU.forward(out: act, gu: gu, rows: N, hidden: F, threads: threads)
            out.update(from: mid, count: N * C)
            BLAS.gemm(transB: true, m: N, n: C, k: F, a: act, lda: F, b: w + p.down, ldb: F, beta: 1, c: out, ldc: C, threads: threads)
        }
        RMSNorm.forward(out: acts.lnf, rstd: acts.rstdf, x: acts.xIn(config.layers), weight: w + layout.finalNorm,
                        rows: N, dim: C, eps: eps, threads: threads)
        if computeLogits {
            // logits (N, V) = lnf (N, C) · headᵀ (C, V)
            BLAS.gemm(transB: true, m: N, n: V, k: C, a: acts.lnf, lda: C, b: w + layout.head, ldb: C, c: acts.logits, ldc: V, threads: threads)
        }
    }

    // MARK: backward

    /// backward of the last forward call: adds ∂loss/∂params to `grads`, given dLogits (B, T, V) and/or
    /// dFinalHidden (B, T, C) (a gradient into the final hidden state; nil = 0). `dLogits` may be `logits`.
    /// After a forward from embeddings, ∂loss/∂(input embeddings) lands in `inputEmbeddingGradient`;
    /// after a forward from tokens it is added to the embedding table's gradient.
    public func backward(dLogits: UnsafePointer<Float>?, dFinalHidden: UnsafePointer<Float>? = nil) {
        precondition(batch > 0, "backward before forward")
        precondition(dLogits == nil || logitsComputed, "dLogits given but the forward pass computed no logits")
        if BLAS.threads != 1 { BLAS.threads = 1 }
        let B = batch, T = seq
        let C = config.dim, F = config.ffnHidden, H = config.heads, D = config.headDim, V = config.vocabSize
        let N = B * T
        let w = params.pointer, g = grads.pointer
        let dx = acts.dx, dln = acts.dln
        // output head and final norm
        if let dLogits {
            // dlnf (N, C) = dLogits (N, V) · head (V, C);  dhead (V, C) += dLogitsᵀ (V, N) · lnf (N, C)
            BLAS.gemm(m: N, n: C, k: V, a: dLogits, lda: V, b: w + layout.head, ldb: C, c: dln, ldc: C, threads: threads)
            BLAS.gemm(transA: true, m: V, n: C, k: N, a: dLogits, lda: V, b: acts.lnf, ldb: C, beta: 1, c: g + layout.head, ldc: C, threads: threads)
        } else {
            dln.update(repeating: 0, count: N * C)
        }
        if let dFinalHidden {
            for i in 0..<(N * C) { dln[i] += dFinalHidden[i] }
        }
        dx.update(repeating: 0, count: N * C)
        RMSNorm.backward(dx: dx, dweight: g + layout.finalNorm, dout: dln, x: acts.xIn(config.layers), rstd: acts.rstdf,
                         weight: w + layout.finalNorm, rows: N, dim: C, threads: threads, scratch: acts.normScratch)
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let p = layout.layers[l]
            let ln1 = acts.ln1(l), qkv = acts.qkv(l), y = acts.attnOut(l), mid = acts.xMid(l)
            let ln2 = acts.ln2(l), gu = acts.gu(l), act = acts.act(l)
            let dact = acts.dact, dgu = acts.dgu, dy = acts.dy, dqkv = acts.dqkv
            // MLP block; dx holds ∂/∂out (N, C)
            // dact (N, F) = dx (N, C) · Wdown (C, F);  dWdown (C, F) += dxᵀ (C, N) · act (N, F)
            BLAS.gemm(m: N, n: F, k: C, a: dx, lda: C, b: w + p.down, ldb: F, c: dact, ldc: F, threads: threads)
            BLAS.gemm(transA: true, m: C, n: F, k: N, a: dx, lda: C, b: act, ldb: F, beta: 1, c: g + p.down, ldc: F, threads: threads)
            SwiGLU.backward(dgu: dgu, dout: dact, gu: gu, rows: N, hidden: F, threads: threads)
            // dln2 (N, C) = dgu (N, 2F) · [Wgate; Wup] (2F, C);  d[Wgate; Wup] (2F, C) += dguᵀ · ln2
            BLAS.gemm(m: N, n: C, k: 2 * F, a: dgu, lda: 2 * F, b: w + p.gate, ldb: C, c: dln, ldc: C, threads: threads)
            BLAS.gemm(transA: true, m: 2 * F, n: C, k: N, a: dgu, lda: 2 * F, b: ln2, ldb: C, beta: 1, c: g + p.gate, ldc: C, threads: threads)
            RMSNorm.backward(dx: dx, dweight: g + p.mlpNorm, dout: dln, x: mid, rstd: acts.rstd2(l), weight: w + p.mlpNorm,
                             rows: N, dim: C, threads: threads, scratch: acts.normScratch)
            // attention block; dx holds ∂/∂mid
            // dy (N, C) = dx · Wo;  dWo (C, C) += dxᵀ · y
            BLAS.gemm(m: N, n: C, k: C, a: dx, lda: C, b: w + p.o, ldb: C, c: dy, ldc: C, threads: threads)
            BLAS.gemm(transA: true, m: C, n: C, k: N, a: dx, lda: C, b: y, ldb: C, beta: 1, c: g + p.o, ldc: C, threads: threads)
            Attention.backward(dqkv: dqkv, dout: dy, qkv: qkv, probs: acts.probs(l), scratch: acts.dprobs,
                               batch: B, seq: T, heads: H, headDim: D, causal: causal, threads: threads)
            RoPE.backward(dqkv: dqkv, batch: B, seq: T, heads: H, headDim: D, table: rope, threads: threads)
            // dln1 (N, C) = dqkv (N, 3C) · [Wq; Wk; Wv] (3C, C);  d[Wq; Wk; Wv] (3C, C) += dqkvᵀ · ln1
            BLAS.gemm(m: N, n: C, k: 3 * C, a: dqkv, lda: 3 * C, b: w + p.q, ldb: C, c: dln, ldc: C, threads: threads)
            BLAS.gemm(transA: true, m: 3 * C, n: C, k: N, a: dqkv, lda: 3 * C, b: ln1, ldb: C, beta: 1, c: g + p.q, ldc: C, threads: threads)
            RMSNorm.backward(dx: dx, dweight: g + p.attnNorm, dout: dln, x: acts.xIn(l), rstd: acts.rstd1(l),
                             weight: w + p.attnNorm, rows: N, dim: C, threads: threads, scratch: acts.normScratch)
        }
        // dx holds ∂/∂(input embeddings)
        if !inputWasEmbeddings {
            Embedding.backward(dtable: g + layout.embedding, dout: dx, tokens: tokenIds, rows: N, dim: C, threads: threads)
        }
    }

    /// Adds rows of an embedding gradient (count, C) to the embedding table's gradient at `tokens`: for
    /// objectives that build input embeddings from the table themselves.
    public func addEmbeddingGradient(_ dEmbeddings: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, count: Int) {
        Embedding.backward(dtable: grads.pointer + layout.embedding, dout: dEmbeddings, tokens: tokens, rows: count,
                           dim: config.dim, threads: threads)
    }
}

/// The forward pass's saved tensors and the backward pass's scratch, carved out of one allocation.
/// Per layer l: xIn (N, C) its input, ln1 (N, C) + rstd1 (N), qkv (N, 3C) with q, k rotated, probs
/// (B, H, T, T), attnOut (N, C), xMid (N, C), ln2 (N, C) + rstd2 (N), gu (N, 2F), act (N, F); xIn(L) is the
/// last block's output. Sized for the largest batch; a smaller batch uses the start of each tensor.
final class Activations {
    let storage: FloatBuffer
    let totalFloats: Int
    private let N: Int, C: Int, F: Int, P: Int
    private let xInBase, ln1Base, rstd1Base, qkvBase, probsBase, attnBase, midBase, ln2Base, rstd2Base, guBase, actBase: Int
    let lnf, rstdf, logits: UnsafeMutablePointer<Float>
    let dx, dln, dqkv, dy, dprobs, dgu, dact, normScratch: UnsafeMutablePointer<Float>

    /// Offsets of every tensor (in floats), 64-byte aligned, and the total.
    struct Plan {
        var xIn = 0, ln1 = 0, rstd1 = 0, qkv = 0, probs = 0, attn = 0, mid = 0, ln2 = 0, rstd2 = 0, gu = 0, act = 0
        var lnf = 0, rstdf = 0, logits = 0, dx = 0, dln = 0, dqkv = 0, dy = 0, dprobs = 0, dgu = 0, dact = 0, norm = 0
        var total = 0

        init(config: ModelConfig, batch B: Int, seq T: Int) {
            let L = config.layers, N = B * T, C = config.dim, F = config.ffnHidden, P = B * config.heads * T * T
            func take(_ n: Int) -> Int {
                let o = total
                total += (n + 15) / 16 * 16
                return o
            }
            xIn = take((L + 1) * N * C)
            ln1 = take(L * N * C); rstd1 = take(L * N)
            qkv = take(L * N * 3 * C); probs = take(L * P); attn = take(L * N * C); mid = take(L * N * C)
            ln2 = take(L * N * C); rstd2 = take(L * N); gu = take(L * N * 2 * F); act = take(L * N * F)
            lnf = take(N * C); rstdf = take(N); logits = take(N * config.vocabSize)
            dx = take(N * C); dln = take(N * C); dqkv = take(N * 3 * C); dy = take(N * C); dprobs = take(P)
            dgu = take(N * 2 * F); dact = take(N * F); norm = take(RMSNorm.scratchCount(rows: N, dim: C))
        }
    }

    init(config: ModelConfig, batch B: Int, seq T: Int) {
        N = B * T; C = config.dim; F = config.ffnHidden; P = B * config.heads * T * T
        let plan = Plan(config: config, batch: B, seq: T)
        xInBase = plan.xIn; ln1Base = plan.ln1; rstd1Base = plan.rstd1; qkvBase = plan.qkv; probsBase = plan.probs
        attnBase = plan.attn; midBase = plan.mid; ln2Base = plan.ln2; rstd2Base = plan.rstd2; guBase = plan.gu; actBase = plan.act
        totalFloats = plan.total
        storage = FloatBuffer(count: plan.total)
        let s = storage.pointer
        lnf = s + plan.lnf; rstdf = s + plan.rstdf; logits = s + plan.logits
        dx = s + plan.dx; dln = s + plan.dln; dqkv = s + plan.dqkv; dy = s + plan.dy; dprobs = s + plan.dprobs
        dgu = s + plan.dgu; dact = s + plan.dact; normScratch = s + plan.norm
    }

    @inline(__always) private func at(_ base: Int, _ l: Int, _ size: Int) -> UnsafeMutablePointer<Float> {
        storage.pointer + base + l * size
    }
    func xIn(_ l: Int) -> UnsafeMutablePointer<Float> { at(xInBase, l, N * C) }
    func ln1(_ l: Int) -> UnsafeMutablePointer<Float> { at(ln1Base, l, N * C) }
    func rstd1(_ l: Int) -> UnsafeMutablePointer<Float> { at(rstd1Base, l, N) }
    func qkv(_ l: Int) -> UnsafeMutablePointer<Float> { at(qkvBase, l, N * 3 * C) }
    func probs(_ l: Int) -> UnsafeMutablePointer<Float> { at(probsBase, l, P) }
    func attnOut(_ l: Int) -> UnsafeMutablePointer<Float> { at(attnBase, l, N * C) }
    func xMid(_ l: Int) -> UnsafeMutablePointer<Float> { at(midBase, l, N * C) }
    func ln2(_ l: Int) -> UnsafeMutablePointer<Float> { at(ln2Base, l, N * C) }
    func rstd2(_ l: Int) -> UnsafeMutablePointer<Float> { at(rstd2Base, l, N) }
    func gu(_ l: Int) -> UnsafeMutablePointer<Float> { at(guBase, l, N * 2 * F) }
    func act(_ l: Int) -> UnsafeMutablePointer<Float> { at(actBase, l, N * F) }
}
