/// Per-code-point class bits for the split patterns, looked up from UTF-8 bytes.
///
/// The bits answer exactly the questions the patterns ask (`\p{L}`, `\p{N}`, `\s`, and o200k's two letter
/// sets); "other" (`[^\s\p{L}\p{N}]`) is "none of letter, number, space".
///
/// Source: Swift's `Unicode.Scalar.Properties` (`generalCategory`, and `isWhitespace`, the Unicode
/// White_Space property, which is what `\s` means in tiktoken's Rust engine, in the Python `regex` module
/// and in Oniguruma). Swift 6.3's standard library carries Unicode 17.0; tiktoken's engine and
/// HuggingFace's Oniguruma (tokenizers 0.23) carry 16.0, so they differ on code points first assigned in
/// 17.0 (a new letter is "other" to them). The fixtures use only code points assigned by Unicode 14.0.
enum CharClass {
    static let letter: UInt8 = 1 << 0  // \p{L}
    static let number: UInt8 = 1 << 1  // \p{N}
    static let space: UInt8 = 1 << 2   // \s (White_Space)
    static let upper: UInt8 = 1 << 3   // o200k [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
    static let lower: UInt8 = 1 << 4   // o200k [\p{Ll}\p{Lm}\p{Lo}\p{M}]
    static let mark: UInt8 = 1 << 5    // \p{M} (no pattern asks on its own; kept for tests)
    /// Characters of `[^\s\p{L}\p{N}]` have none of these.
    static let notOther: UInt8 = letter | number | space

    /// The class bits of one scalar, straight from the standard library (what the tables cache).
    static func bits(of scalar: Unicode.Scalar) -> UInt8 {
        let p = scalar.properties
        var b: UInt8 = 0
        let category = p.generalCategory
        switch category {
        case .uppercaseLetter, .titlecaseLetter: b = letter | upper
        case .lowercaseLetter: b = letter | lower
        case .modifierLetter, .otherLetter: b = letter | upper | lower
        case .nonspacingMark, .spacingMark, .enclosingMark: b = mark | upper | lower
        case .decimalNumber, .letterNumber, .otherNumber: b = number
        // Every White_Space character is a separator or a control; asking only for those saves a
        // property look-up per code point (about 50 ms of the table build). The table test checks all.
        case .spaceSeparator, .lineSeparator, .paragraphSeparator, .control:
            if p.isWhitespace { b = space }
        default: break
        }
        return b
    }
}

/// Class bits of the Basic Multilingual Plane, one byte per code point (64 KB), built on first use from
/// the standard library (65,536 look-ups, a few ms). A direct table because nearly all text is in the
/// BMP: one load per character. Surrogate code points have no bits (the decoder never asks for them).
final class BMPClassTable: @unchecked Sendable {
    // Immutable after init and never freed (one per process), so sharing it across threads is safe.
    let bits: UnsafeMutablePointer<UInt8>

    static let shared = BMPClassTable()

    private init() {
        bits = .allocate(capacity: 0x10000)
        for cp in 0..<0x10000 {
            bits[cp] = Unicode.Scalar(UInt32(cp)).map(CharClass.bits(of:)) ?? 0
        }
    }
}

/// Class bits of U+10000...U+10FFFF in two stages: `index[(cp >> 8) - 0x100]` names a 256-entry block
/// of `blocks`; identical blocks are stored once (a few hundred distinct ones). Built on the first
/// character outside the BMP (about 1 M look-ups, ~70 ms in a release build), so text without one never
/// pays for it.
final class AstralClassTable: @unchecked Sendable {
    // Immutable after init and never freed (one per process), so sharing it across threads is safe.
    let index: UnsafeMutablePointer<UInt16>
    let blocks: UnsafeMutablePointer<UInt8>
    let blockCount: Int

    static let shared = AstralClassTable()

    private init() {
        let first = 0x100, end = 0x1100  // blocks of 256 code points
        index = .allocate(capacity: end - first)
        var unique: [[UInt8]] = []
        var seen: [[UInt8]: UInt16] = [:]
        var block = [UInt8](repeating: 0, count: 256)
        for b in first..<end {
            for k in 0..<256 {
                block[k] = Unicode.Scalar(UInt32(b << 8 | k)).map(CharClass.bits(of:)) ?? 0
            }
            let id: UInt16
            if let known = seen[block] {
                id = known
            } else {
                id = UInt16(unique.count)
                seen[block] = id
                unique.append(block)
            }
            index[b - first] = id
        }
        blockCount = unique.count
        blocks = .allocate(capacity: unique.count * 256)
        for (i, u) in unique.enumerated() {
            u.withUnsafeBufferPointer { (blocks + i * 256).update(from: $0.baseAddress!, count: 256) }
        }
    }

    /// Bits of `cp`, which must be in U+10000...U+10FFFF.
    @inline(__always)
    func bits(_ cp: UInt32) -> UInt8 {
        blocks[Int(index[Int(cp &>> 8) &- 0x100]) &<< 8 | Int(cp & 0xFF)]
    }
}

/// Class bits of any code point, from the two tables (for tests and slow paths).
func classBits(_ cp: UInt32) -> UInt8 {
    if cp < 0x10000 { return BMPClassTable.shared.bits[Int(cp)] }
    return cp <= 0x10FFFF ? AstralClassTable.shared.bits(cp) : 0
}
