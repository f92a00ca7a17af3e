import Foundation
import RepriseCore

/// Small vector helpers for the kernels: 16-wide loads and stores, reductions, a vector `exp`, and a
/// parallel loop over fixed chunks.
///
/// Floating-point sums are not reassociated by the compiler, so reductions use explicit SIMD16
/// accumulators; element-wise loops over unsafe pointers vectorise on their own.
typealias V16 = SIMD16<Float>

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> V16 {
    UnsafeRawPointer(p).loadUnaligned(as: V16.self)
}

@inline(__always) func store16(_ v: V16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V16.self)
}

/// Loads n < 16 floats, the other lanes set to `fill`.
@inline(__always) func loadPartial(_ p: UnsafePointer<Float>, _ n: Int, fill: Float = 0) -> V16 {
    var v = V16(repeating: fill)
    for i in 0..<n { v[i] = p[i] }
    return v
}

@inline(__always) func storePartial(_ v: V16, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { p[i] = v[i] }
}

/// Σ a[i]·b[i], 16 lanes at a time (lane sums added in a fixed order, so the result depends only on n).
@inline(__always) func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = V16(), acc1 = V16()
    var i = 0
    while i + 32 <= n {
        acc0 += load16(a + i) * load16(b + i)
        acc1 += load16(a + i + 16) * load16(b + i + 16)
        i += 32
    }
    if i + 16 <= n { acc0 += load16(a + i) * load16(b + i); i += 16 }
    if i < n { acc1 += loadPartial(a + i, n - i) * loadPartial(b + i, n - i) }
    return (acc0 + acc1).sum()
}

/// max over n ≥ 1 floats.
@inline(__always) func maxValue(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = V16(repeating: -.infinity)
    var i = 0
    while i + 16 <= n {
        let v = load16(a + i)
        m = m.replacing(with: v, where: v .> m)
        i += 16
    }
    if i < n {
        let v = loadPartial(a + i, n - i, fill: -.infinity)
        m = m.replacing(with: v, where: v .> m)
    }
    return m.max()
}

/// e^x for 16 lanes: Cephes' expf (range reduction by ln 2 in two parts, degree-6 polynomial), relative
/// error below 3e-7 (tested against libm). Lanes below -87.3 give 0, above 88.7 give +inf. Pure SIMD
/// arithmetic, so the softmax, cross-entropy and SwiGLU loops stay vectorised (libm's `expf` is a call
/// per element).
@inline(__always) func vexp(_ x: V16) -> V16 {
    let hi = V16(repeating: 88.72283), lo = V16(repeating: -87.33654)
    // `replacing(with:where:)` compiles to compare + blend; the generic pointwiseMin/Max were not inlined
    // and took 10% of a training step (perf, `small` preset).
    let xc = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
    // n = round(x / ln 2) via the 1.5·2^23 trick, whose bit pattern then holds n in its low bits.
    let magic = V16(repeating: 12582912)
    let t = xc * V16(repeating: 1.44269504088896341) + magic
    let n = t - magic
    var r = xc - n * V16(repeating: 0.693359375)
    r = r - n * V16(repeating: -2.12194440e-4)
    var p = V16(repeating: 1.9875691500e-4)
    p = p * r + V16(repeating: 1.3981999507e-3)
    p = p * r + V16(repeating: 8.3334519073e-3)
    p = p * r + V16(repeating: 4.1665795894e-2)
    p = p * r + V16(repeating: 1.6666665459e-1)
    p = p * r + V16(repeating: 5.0000001201e-1)
    p = p * (r * r) + r + V16(repeating: 1)
    let bits = unsafeBitCast(t, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B40_0000 - 127)
    let scale = unsafeBitCast(bits &<< 23, to: V16.self)
    return (p * scale).replacing(with: 0, where: x .< lo).replacing(with: .infinity, where: x .> hi)
}

/// Scalar form of `vexp` (same bits as one lane of it).
@inline(__always) func sexp(_ x: Float) -> Float { vexp(V16(repeating: x))[0] }

/// 1 / (1 + e^-x) for 16 lanes.
@inline(__always) func vsigmoid(_ x: V16) -> V16 { 1 / (1 + vexp(-x)) }

/// Runs `body` over 0..<count in chunks of `chunk` (the last one shorter) on up to `threads` threads.
/// The chunks do not depend on the thread count, so per-chunk partial sums combined in chunk order give
/// the same bits whatever the thread count.
@inline(__always)
func parallelChunks(_ count: Int, chunk: Int, threads: Int, _ body: (_ chunkIndex: Int, _ range: Range<Int>) -> Void) {
    let chunks = (count + chunk - 1) / chunk
    parallelFor(chunks, threads: threads) { c in
        body(c, (c * chunk)..<min(count, (c + 1) * chunk))
    }
}
