// MediaWiki wikitext → plain text: pass 5, lines; redirects; character references; the line writer (see Wikitext.swift for the passes and conventions).

extension Wikitext {
    // MARK: Pass 5: lines

    @inline(never) static func linePass(_ b: Bytes, _ literals: LiteralStore) -> [UInt8] {
        var w = LineWriter(literals: literals)
        w.out.reserveCapacity(b.count)
        let n = b.count
        var ls = 0
        while ls < n {
            let le = find(cNewline, b, ls, n)
            w.line(b, ls, le)
            ls = le + 1
        }
        return w.out
    }

    // MARK: Redirects

    static func redirectTarget(_ b: Bytes) -> String? {
        let n = b.count
        var i = 0
        if n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { i = 3 }
        @inline(__always) func isSpace(_ c: UInt8) -> Bool {
            c == cSpace || c == cTab || c == cNewline || c == 0x0D
        }
        while i < n && isSpace(b[i]) { i += 1 }
        guard i + 9 <= n, b[i] == cHash, equalsLowercase(b, i + 1, i + 9, "redirect") else { return nil }
        i += 9
        while i < n && isSpace(b[i]) { i += 1 }
        if i < n && b[i] == cColon { i += 1 }
        while i < n && isSpace(b[i]) { i += 1 }
        guard i + 1 < n, b[i] == cLBracket, b[i + 1] == cLBracket else { return nil }
        i += 2
        let start = i
        while i < n {
            let c = b[i]
            if c == cRBracket || c == cPipe { break }
            if c == cLBracket || c == cNewline { return nil }
            i += 1
        }
        guard i < n, b[i] == cPipe || (i + 1 < n && b[i + 1] == cRBracket) else { return nil }
        var s = start
        var e = i
        @inline(__always) func isTrim(_ c: UInt8) -> Bool { c == cSpace || c == cTab || c == cUnderscore }
        while s < e && isTrim(b[s]) { s += 1 }
        if s < e && b[s] == cColon { s += 1 }
        while s < e && isTrim(b[s]) { s += 1 }
        while e > s && isTrim(b[e - 1]) { e -= 1 }
        guard e > s else { return nil }
        var out: [UInt8] = []
        var k = s
        while k < e {
            let c = b[k]
            if c == cUnderscore || c == cSpace || c == cTab {
                if out.last != cSpace { out.append(cSpace) }
                k += 1
            } else if c == cAmp, let (v, end) = decodeEntity(b, at: k, limit: e) {
                appendScalar(v, to: &out)
                k = end
            } else {
                out.append(c)
                k += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Character references

    /// The character reference at `b[i]` (an `&`): its scalar value and the index past the `;`, or nil.
    static func decodeEntity(_ b: Bytes, at i: Int, limit: Int) -> (UInt32, Int)? {
        var k = i + 1
        guard k < limit else { return nil }
        if b[k] == cHash {
            k += 1
            var hex = false
            if k < limit && (b[k] | 0x20) == 0x78 { hex = true; k += 1 }
            var v: UInt32 = 0
            var digits = 0
            while k < limit && digits <= 8 {
                let c = b[k]
                var d: UInt32
                if isDigit(c) { d = UInt32(c - 0x30) }
                else if hex && (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 { d = UInt32((c | 0x20) - 0x61 + 10) }
                else { break }
                v = v &* (hex ? 16 : 10) &+ d
                digits += 1
                k += 1
            }
            guard digits > 0, digits <= 8, k < limit, b[k] == cSemicolon else { return nil }
            guard v > 0, v <= 0x10FFFF, !(v >= 0xD800 && v <= 0xDFFF) else { return nil }
            return (v, k + 1)
        }
        let s = k
        while k < limit && k - s <= 32 && isAlnum(b[k]) { k += 1 }
        guard k > s, k < limit, b[k] == cSemicolon else { return nil }
        let name = String(decoding: UnsafeBufferPointer(rebasing: b[s..<k]), as: UTF8.self)
        guard let v = namedEntities[name] else { return nil }
        return (v, k + 1)
    }

    static let namedEntities: [String: UInt32] = [
        "quot": 34, "amp": 38, "apos": 39, "lt": 60, "gt": 62,
        "nbsp": 160, "iexcl": 161, "cent": 162, "pound": 163, "curren": 164, "yen": 165, "brvbar": 166,
        "sect": 167, "uml": 168, "copy": 169, "ordf": 170, "laquo": 171, "not": 172, "shy": 173, "reg": 174,
        "macr": 175, "deg": 176, "plusmn": 177, "sup2": 178, "sup3": 179, "acute": 180, "micro": 181,
        "para": 182, "middot": 183, "cedil": 184, "sup1": 185, "ordm": 186, "raquo": 187, "frac14": 188,
        "frac12": 189, "frac34": 190, "iquest": 191, "Agrave": 192, "Aacute": 193, "Acirc": 194,
        "Atilde": 195, "Auml": 196, "Aring": 197, "AElig": 198, "Ccedil": 199, "Egrave": 200, "Eacute": 201,
        "Ecirc": 202, "Euml": 203, "Igrave": 204, "Iacute": 205, "Icirc": 206, "Iuml": 207, "ETH": 208,
        "Ntilde": 209, "Ograve": 210, "Oacute": 211, "Ocirc": 212, "Otilde": 213, "Ouml": 214, "times": 215,
        "Oslash": 216, "Ugrave": 217, "Uacute": 218, "Ucirc": 219, "Uuml": 220, "Yacute": 221, "THORN": 222,
        "szlig": 223, "agrave": 224, "aacute": 225, "acirc": 226, "atilde": 227, "auml": 228, "aring": 229,
        "aelig": 230, "ccedil": 231, "egrave": 232, "eacute": 233, "ecirc": 234, "euml": 235, "igrave": 236,
        "iacute": 237, "icirc": 238, "iuml": 239, "eth": 240, "ntilde": 241, "ograve": 242, "oacute": 243,
        "ocirc": 244, "otilde": 245, "ouml": 246, "divide": 247, "oslash": 248, "ugrave": 249, "uacute": 250,
        "ucirc": 251, "uuml": 252, "yacute": 253, "thorn": 254, "yuml": 255,
        "OElig": 338, "oelig": 339, "Scaron": 352, "scaron": 353, "Yuml": 376, "fnof": 402, "circ": 710,
        "tilde": 732,
        "Alpha": 913, "Beta": 914, "Gamma": 915, "Delta": 916, "Epsilon": 917, "Zeta": 918, "Eta": 919,
        "Theta": 920, "Iota": 921, "Kappa": 922, "Lambda": 923, "Mu": 924, "Nu": 925, "Xi": 926,
        "Omicron": 927, "Pi": 928, "Rho": 929, "Sigma": 931, "Tau": 932, "Upsilon": 933, "Phi": 934,
        "Chi": 935, "Psi": 936, "Omega": 937,
        "alpha": 945, "beta": 946, "gamma": 947, "delta": 948, "epsilon": 949, "zeta": 950, "eta": 951,
        "theta": 952, "iota": 953, "kappa": 954, "lambda": 955, "mu": 956, "nu": 957, "xi": 958,
        "omicron": 959, "pi": 960, "rho": 961, "sigmaf": 962, "sigma": 963, "tau": 964, "upsilon": 965,
        "phi": 966, "chi": 967, "psi": 968, "omega": 969, "thetasym": 977, "upsih": 978, "piv": 982,
        "ensp": 0x2002, "emsp": 0x2003, "thinsp": 0x2009, "zwnj": 0x200C, "zwj": 0x200D, "lrm": 0x200E,
        "rlm": 0x200F, "ndash": 0x2013, "mdash": 0x2014, "horbar": 0x2015, "lsquo": 0x2018, "rsquo": 0x2019,
        "sbquo": 0x201A, "ldquo": 0x201C, "rdquo": 0x201D, "bdquo": 0x201E, "dagger": 0x2020,
        "Dagger": 0x2021, "bull": 0x2022, "hellip": 0x2026, "permil": 0x2030, "prime": 0x2032,
        "Prime": 0x2033, "lsaquo": 0x2039, "rsaquo": 0x203A, "oline": 0x203E, "frasl": 0x2044,
        "euro": 0x20AC, "image": 0x2111, "weierp": 0x2118, "real": 0x211C, "trade": 0x2122,
        "alefsym": 0x2135, "larr": 0x2190, "uarr": 0x2191, "rarr": 0x2192, "darr": 0x2193, "harr": 0x2194,
        "crarr": 0x21B5, "lArr": 0x21D0, "uArr": 0x21D1, "rArr": 0x21D2, "dArr": 0x21D3, "hArr": 0x21D4,
        "forall": 0x2200, "part": 0x2202, "exist": 0x2203, "empty": 0x2205, "nabla": 0x2207, "isin": 0x2208,
        "notin": 0x2209, "ni": 0x220B, "prod": 0x220F, "sum": 0x2211, "minus": 0x2212, "lowast": 0x2217,
        "radic": 0x221A, "prop": 0x221D, "infin": 0x221E, "ang": 0x2220, "and": 0x2227, "or": 0x2228,
        "cap": 0x2229, "cup": 0x222A, "int": 0x222B, "there4": 0x2234, "sim": 0x223C, "cong": 0x2245,
        "asymp": 0x2248, "ne": 0x2260, "equiv": 0x2261, "le": 0x2264, "ge": 0x2265, "sub": 0x2282,
        "sup": 0x2283, "nsub": 0x2284, "sube": 0x2286, "supe": 0x2287, "oplus": 0x2295, "otimes": 0x2297,
        "perp": 0x22A5, "sdot": 0x22C5, "lceil": 0x2308, "rceil": 0x2309, "lfloor": 0x230A,
        "rfloor": 0x230B, "lang": 0x2329, "rang": 0x232A, "loz": 0x25CA, "spades": 0x2660, "clubs": 0x2663,
        "hearts": 0x2665, "diams": 0x2666,
    ]
}

extension Wikitext {
    // MARK: - Line writer

    /// The state of the line pass: output so far and paragraph bookkeeping.
    struct LineWriter {
        let literals: LiteralStore
        var out: [UInt8] = []
        /// Whether any line has been written (no blank lines before the first).
        var wroteLine = false
        /// Whether an empty input line came since the last written line.
        var blankPending = false

        // Inline state, reset per line.
        private var lineStart = 0
        /// A removal mark came since the last byte written.
        private var markSeen = false
        /// `(` and `[` written on this line and not closed yet, innermost last; at most `maxOpen` are tracked.
        private var open: [OpenBracket] = []
        private static let maxOpen = 16

        private struct OpenBracket {
            /// Output index of the bracket.
            var at: Int
            /// `)` or `]`.
            var closer: UInt8
            /// Something other than blanks, `,` and `;` was written inside.
            var hasText = false
            /// Something inside was removed.
            var sawMark = false
        }

        init(literals: LiteralStore) { self.literals = literals }

        mutating func line(_ b: Bytes, _ ls: Int, _ le: Int) {
            var p = ls
            var q = le
            var removed = false
            while p < q && b[p] == removedMark { p += 1; removed = true }
            if removed { while p < q && isBlankOrMark(b[p]) { p += 1 } }
            while q > p && isBlankOrMark(b[q - 1]) {
                if b[q - 1] == removedMark { removed = true }
                q -= 1
            }
            if p == q {
                if !removed && wroteLine { blankPending = true }
                return
            }
            let rollback = out.count
            if wroteLine {
                out.append(cNewline)
                if blankPending { out.append(cNewline) }
            }
            lineStart = out.count
            markSeen = false
            open.removeAll(keepingCapacity: true)

            let first = b[p]
            if first == cEquals && b[q - 1] == cEquals {
                var l1 = 0
                while p + l1 < q && b[p + l1] == cEquals { l1 += 1 }
                if p + l1 < q {
                    var l2 = 0
                    while b[q - 1 - l2] == cEquals { l2 += 1 }
                    let level = min(l1, l2, 6)
                    p += level
                    q -= level
                    while p < q && isBlankOrMark(b[p]) { p += 1 }
                    while q > p && isBlankOrMark(b[q - 1]) { q -= 1 }
                }
            } else if first == cMinus && q - p >= 4 && b[p + 1] == cMinus && b[p + 2] == cMinus && b[p + 3] == cMinus {
                while p < q && b[p] == cMinus { p += 1 }
                while p < q && isBlankOrMark(b[p]) { p += 1 }
            } else if first == cStar || first == cHash || first == cColon || first == cSemicolon {
                while p < q && (b[p] == cStar || b[p] == cHash || b[p] == cColon || b[p] == cSemicolon) { p += 1 }
                while p < q && isBlankOrMark(b[p]) { p += 1 }
            }

            inline(b, p, q)
            trimTrailingSpace()
            // Kept-aside content may have ended the line with a newline and blanks.
            while out.count > lineStart && out[out.count - 1] == cNewline {
                out.removeLast()
                trimTrailingSpace()
            }
            if out.count == lineStart {
                out.removeSubrange(rollback...)
            } else {
                wroteLine = true
                blankPending = false
            }
        }

        private mutating func trimTrailingSpace() {
            while out.count > lineStart {
                let c = out[out.count - 1]
                if c == cSpace || c == cTab {
                    out.removeLast()
                } else if c == 0xA0 && out.count - 2 >= lineStart && out[out.count - 2] == 0xC2 {
                    out.removeLast(2)
                } else {
                    break
                }
            }
        }

        @inline(__always) private static func isSpecial(_ c: UInt8) -> Bool {
            switch c {
            case 0x00, literalOpen, literalClose, removedMark, cApos, cAmp, cUnderscore, cLParen, cRParen, cLBracket,
                 cRBracket:
                return true
            default: return false
            }
        }

        @inline(__always) private static func isPunctuation(_ c: UInt8) -> Bool {
            switch c {
            case cDot, cComma, cSemicolon, cColon, cBang, cQuestion, cRParen, cRBracket: return true
            default: return false
            }
        }

        @inline(__always) private mutating func emit(_ c: UInt8) {
            out.append(c)
            markSeen = false
            if !open.isEmpty && !open[open.count - 1].hasText
                && !(c == cSpace || c == cTab || c == cComma || c == cSemicolon) {
                open[open.count - 1].hasText = true
            }
        }

        @inline(__always) private mutating func noteText() {
            if !open.isEmpty { open[open.count - 1].hasText = true }
        }

        @inline(never) private mutating func inline(_ b: Bytes, _ p: Int, _ q: Int) {
            var j = p
            while j < q {
                // Fast path: copy a run of ordinary bytes.
                if !markSeen && (open.isEmpty || open[open.count - 1].hasText) {
                    let k = scan(b, j, q, word: { v in
                        bytesBelow(v, 0x04) | bytesEqual(v, cApos) | bytesEqual(v, cAmp) | bytesEqual(v, cUnderscore)
                            | bytesEqual(v, cLParen) | bytesEqual(v, cRParen) | bytesEqual(v, cLBracket)
                            | bytesEqual(v, cRBracket)
                    }, byte: { LineWriter.isSpecial($0) })
                    if k > j {
                        copy(b, j, k, into: &out)
                        j = k
                        if j >= q { break }
                    }
                }
                let c = b[j]
                switch c {
                case removedMark:
                    markSeen = true
                    if !open.isEmpty { open[open.count - 1].sawMark = true }
                    j += 1
                case 0x00, literalClose:
                    j += 1  // never produced by the earlier passes
                case literalOpen:
                    var k = j + 1
                    var index = 0
                    while k < q && isDigit(b[k]) { index = index * 10 + Int(b[k] - 0x30); k += 1 }
                    if k < q && b[k] == literalClose { k += 1 }
                    if index < literals.spans.count { appendLiteral(literals.spans[index]) }
                    markSeen = false
                    noteText()
                    j = k
                case cApos:
                    var k = j + 1
                    while k < q && b[k] == cApos { k += 1 }
                    let run = k - j
                    let keep = run == 1 ? 1 : run == 4 ? 1 : run > 5 ? run - 5 : 0
                    for _ in 0..<keep { emit(cApos) }
                    j = k
                case cAmp:
                    if let (v, end) = Wikitext.decodeEntity(b, at: j, limit: q) {
                        if v < 0x20 { emit(cSpace) }
                        else if v >= 0x7F && v < 0xA0 { markSeen = false }
                        else {
                            appendScalar(v, to: &out)
                            markSeen = false
                            noteText()
                        }
                        j = end
                    } else {
                        emit(c)
                        j += 1
                    }
                case cUnderscore:
                    if let end = magicWordEnd(b, j, q) {
                        markSeen = true
                        j = end
                    } else {
                        emit(c)
                        j += 1
                    }
                case cSpace, cTab:
                    if markSeen {
                        let last = out.count > lineStart ? out[out.count - 1] : 0
                        if last == 0 || last == cSpace || last == cTab || last == cLParen || last == cLBracket {
                            j += 1
                            continue
                        }
                    }
                    emit(c)
                    j += 1
                case cLParen, cLBracket:
                    if open.count < LineWriter.maxOpen {
                        // Not text for the enclosing bracket until it is closed with something in it.
                        out.append(c)
                        markSeen = false
                        open.append(OpenBracket(at: out.count - 1, closer: c == cLParen ? cRParen : cRBracket))
                    } else {
                        emit(c)
                    }
                    j += 1
                default:
                    if let top = open.last, c == top.closer {
                        open.removeLast()
                        if !top.hasText && top.sawMark {
                            // Only removed things were inside: drop the brackets too.
                            out.removeSubrange(top.at...)
                            markSeen = true
                            if !open.isEmpty { open[open.count - 1].sawMark = true }
                            j += 1
                            continue
                        }
                        noteText()
                    }
                    if markSeen && LineWriter.isPunctuation(c) {
                        if (c == cComma || c == cSemicolon), let top = open.last, out.count == top.at + 1 {
                            j += 1  // "(<removed>; born …" → "(born …"
                            continue
                        }
                        if out.count > lineStart && out[out.count - 1] == cSpace { out.removeLast() }
                    }
                    emit(c)
                    j += 1
                }
            }
        }

        /// End of a behaviour switch like `__NOTOC__` at `j`, or nil.
        private func magicWordEnd(_ b: Bytes, _ j: Int, _ q: Int) -> Int? {
            guard j + 1 < q, b[j + 1] == cUnderscore else { return nil }
            var k = j + 2
            while k < q && k - j < 40 && b[k] >= 0x41 && b[k] <= 0x5A { k += 1 }
            guard k - (j + 2) >= 2, k + 1 < q, b[k] == cUnderscore, b[k + 1] == cUnderscore else { return nil }
            return k + 2
        }

        /// Writes kept-aside content. Newlines in it start new lines (trailing spaces trimmed, at most one blank
        /// line in a row); newlines at its start and end are dropped, the line structure around it provides those.
        private mutating func appendLiteral(_ span: (start: Int, end: Int, decodeEntities: Bool)) {
            let store = literals.bytes
            store.withUnsafeBufferPointer { b in
                var newlines = 0
                var k = span.start
                while k < span.end {
                    let c = b[k]
                    if c == cNewline {
                        newlines += 1
                        k += 1
                        continue
                    }
                    if newlines > 0 {
                        trimTrailingSpace()
                        if out.count > lineStart {
                            var existing = 0
                            while existing < 2 && out.count - existing > lineStart
                                && out[out.count - 1 - existing] == cNewline { existing += 1 }
                            let total = min(2, existing + newlines)
                            for _ in existing..<max(existing, total) { out.append(cNewline) }
                        }
                        newlines = 0
                    }
                    if c == cAmp && span.decodeEntities,
                       let (v, end) = Wikitext.decodeEntity(b, at: k, limit: span.end) {
                        appendScalar(v < 0x20 ? 0x20 : v, to: &out)
                        k = end
                    } else {
                        out.append(c)
                        k += 1
                    }
                }
            }
        }
    }
}
