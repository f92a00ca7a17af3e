// MediaWiki wikitext → plain text: pass 3, tables, and pass 4, links (see Wikitext.swift for the passes and conventions).

extension Wikitext {
    // MARK: Pass 3: tables

    @inline(never) static func tablePass(_ b: Bytes) -> [UInt8] {
        let n = b.count
        var openers: [Int] = []  // line starts of open tables
        var spans: [(Int, Int)] = []
        var ls = 0
        while ls < n {
            let le = find(cNewline, b, ls, n)
            var p = ls
            while p < le && (isBlankOrMark(b[p]) || b[p] == cColon) { p += 1 }
            if p + 1 < le {
                if b[p] == cLBrace && b[p + 1] == cPipe {
                    openers.append(ls)
                } else if b[p] == cPipe && b[p + 1] == cRBrace, let o = openers.popLast() {
                    spans.append((o, p + 2))
                }
            }
            ls = le + 1
        }
        // Tables never closed: the opening line and the table-syntax lines right after it.
        var coveredUntil = -1
        for o in openers where o >= coveredUntil {
            var end = find(cNewline, b, o, n)
            var next = end + 1
            while next < n {
                let le = find(cNewline, b, next, n)
                var p = next
                while p < le && isBlankOrMark(b[p]) { p += 1 }
                guard p < le, b[p] == cPipe || b[p] == cBang || (b[p] == cLBrace && p + 1 < le && b[p + 1] == cPipe)
                else { break }
                end = le
                next = le + 1
            }
            spans.append((o, end))
            coveredUntil = end
        }
        if spans.isEmpty { return Array(b) }
        spans.sort { $0.0 < $1.0 }
        var merged: [(Int, Int)] = []
        merged.reserveCapacity(spans.count)
        for s in spans {
            if let last = merged.last, s.0 <= last.1 {
                merged[merged.count - 1].1 = max(last.1, s.1)
            } else {
                merged.append(s)
            }
        }
        return removing(merged, from: b)
    }

    // MARK: Pass 4: links

    @inline(never) static func linkPass(_ b: Bytes) -> [UInt8] {
        let n = b.count
        // Pair `[[` with `]]` on a stack. Of a longer opening run, the last two brackets open; a closing run
        // closes as many links as it can with its last brackets, so `[[a|[http://x b]]]` pairs as expected.
        var openers: [Int] = []
        var closeOf: [Int] = []
        var stack: [Int] = []  // indices into openers
        var i = 0
        while i < n {
            i = scan(b, i, n, word: { bytesEqual($0, cLBracket) | bytesEqual($0, cRBracket) },
                     byte: { $0 == cLBracket || $0 == cRBracket })
            if i >= n { break }
            let c = b[i]
            if c == cLBracket {
                var j = i + 1
                while j < n && b[j] == cLBracket { j += 1 }
                if j - i >= 2 {
                    stack.append(openers.count)
                    openers.append(j - 2)
                    closeOf.append(-1)
                }
                i = j
            } else if c == cRBracket {
                var j = i + 1
                while j < n && b[j] == cRBracket { j += 1 }
                let pairs = min((j - i) / 2, stack.count)
                var pos = j - 2 * pairs
                for _ in 0..<pairs {
                    closeOf[stack.removeLast()] = pos
                    pos += 2
                }
                i = j
            } else {
                i += 1
            }
        }
        if openers.isEmpty && !containsExternalLinkStart(b) { return Array(b) }

        var out: [UInt8] = []
        out.reserveCapacity(n)
        // Closing brackets to skip once the label before them has been copied: (position, length).
        var pending: [(pos: Int, len: Int)] = []
        var cursor = 0
        var externalFailUntil = -1
        i = 0
        while i < n {
            if let top = pending.last, i >= top.pos {
                i = top.pos + top.len
                pending.removeLast()
                continue
            }
            let limit = pending.last?.pos ?? n
            let j = find(cLBracket, b, i, limit)
            copy(b, i, j, into: &out)
            i = j
            if i >= limit { continue }

            // Internal link.
            if i + 1 < limit && b[i + 1] == cLBracket {
                while cursor < openers.count && openers[cursor] < i { cursor += 1 }
                if cursor < openers.count && openers[cursor] == i {
                    let close = closeOf[cursor]
                    if close >= 0 && close + 2 <= limit,
                       let next = internalLink(b, open: i, close: close, out: &out, pending: &pending) {
                        i = next
                        continue
                    }
                }
            }
            // External link.
            if i >= externalFailUntil, let scheme = urlSchemeLength(b, at: i + 1, limit: limit), scheme > 0 {
                var e = i + 1
                while e < limit && b[e] != cRBracket && b[e] != cNewline { e += 1 }
                if e < limit && b[e] == cRBracket {
                    var u = i + 1 + scheme
                    while u < e && !(b[u] == cSpace || b[u] == cTab || b[u] == cLT || b[u] == cQuote) { u += 1 }
                    var l = u
                    while l < e && isBlankOrMark(b[l]) { l += 1 }
                    if l == e {
                        out.append(removedMark)
                        i = e + 1
                    } else {
                        pending.append((e, 1))
                        i = l
                    }
                    continue
                }
                externalFailUntil = e
            }
            out.append(cLBracket)
            i += 1
        }
        return out
    }

    private static func containsExternalLinkStart(_ b: Bytes) -> Bool {
        find(cLBracket, b, 0, b.count) < b.count
    }

    /// Handles the link `b[open..<close+2]`. Returns where to continue, or nil when the brackets do not form
    /// a valid link (they are then copied as text).
    private static func internalLink(_ b: Bytes, open: Int, close: Int, out: inout [UInt8],
                                     pending: inout [(pos: Int, len: Int)]) -> Int? {
        // The target runs to the first `|`; a title cannot hold brackets, braces, `<`, `>` or newlines.
        var t = open + 2
        while t < close {
            let c = b[t]
            if isTitleStop(c) {
                if c == cPipe { break }
                return nil
            }
            t += 1
        }
        var ts = open + 2
        var te = t
        while ts < te && (isBlankOrMark(b[ts]) || b[ts] == cUnderscore) { ts += 1 }
        while te > ts && (isBlankOrMark(b[te - 1]) || b[te - 1] == cUnderscore) { te -= 1 }
        var leadingColon = false
        if ts < te && b[ts] == cColon {
            leadingColon = true
            ts += 1
            while ts < te && (isBlankOrMark(b[ts]) || b[ts] == cUnderscore) { ts += 1 }
        }
        if ts == te { return nil }
        // `[[http://x label]]` is an external link inside brackets, not a title.
        if urlSchemeLength(b, at: ts, limit: te) != nil { return nil }

        // Namespace or language prefix.
        var colon = ts
        while colon < te && b[colon] != cColon { colon += 1 }
        var prefixEnd = colon
        if colon < te && !leadingColon {
            var ps = ts
            while ps < prefixEnd && isBlank(b[ps]) { ps += 1 }
            while prefixEnd > ps && (isBlank(b[prefixEnd - 1]) || b[prefixEnd - 1] == cUnderscore) {
                prefixEnd -= 1
            }
            if isRemovedNamespace(b, ps, prefixEnd) || isLanguagePrefix(b, ps, prefixEnd)
                || hasMediaExtension(b, colon + 1, te) {
                out.append(removedMark)
                return close + 2
            }
        }

        if t == close {
            appendTitle(b, ts, te, into: &out)
            return close + 2
        }
        var ls = t + 1
        while ls < close && isBlankOrMark(b[ls]) { ls += 1 }
        if ls == close {
            // Pipe trick: no namespace, no trailing "(…)" or ", …".
            var s = ts
            if colon < te { s = colon + 1 }
            var e = te
            var k = s
            while k < e {
                if b[k] == cComma { e = k; break }
                k += 1
            }
            if e > s && b[e - 1] == cRParen {
                var k = e - 1
                while k > s && b[k] != cLParen { k -= 1 }
                if b[k] == cLParen { e = k }
            }
            while s < e && (isBlank(b[s]) || b[s] == cUnderscore) { s += 1 }
            while e > s && (isBlank(b[e - 1]) || b[e - 1] == cUnderscore) { e -= 1 }
            appendTitle(b, s, e, into: &out)
            return close + 2
        }
        pending.append((close, 2))
        return t + 1
    }

    /// `|` or a byte a page title cannot contain: `[`, `]`, `{`, `}`, `<`, `>`, newline.
    @inline(__always) private static func isTitleStop(_ c: UInt8) -> Bool {
        let low: UInt64 = 1 << 0x0A | 1 << 0x3C | 1 << 0x3E
        let high: UInt64 = 1 << (0x5B - 64) | 1 << (0x5D - 64) | 1 << (0x7B - 64) | 1 << (0x7C - 64)
            | 1 << (0x7D - 64)
        if c < 64 { return (low >> UInt64(c)) & 1 != 0 }
        if c < 128 { return (high >> UInt64(c - 64)) & 1 != 0 }
        return false
    }

    /// A title as displayed: underscores are spaces, removal marks are dropped.
    private static func appendTitle(_ b: Bytes, _ s: Int, _ e: Int, into out: inout [UInt8]) {
        var k = s
        while k < e {
            let j = scan(b, k, e, word: { bytesEqual($0, cUnderscore) | bytesBelow($0, 0x04) },
                         byte: { $0 == cUnderscore || $0 < 0x04 })
            copy(b, k, j, into: &out)
            if j >= e { break }
            if b[j] == cUnderscore { out.append(cSpace) } else if b[j] != removedMark { out.append(b[j]) }
            k = j + 1
        }
    }

    /// Whether `b[s..<e]`, with ASCII letters lowercased and `_` read as a space, is `word`.
    static func equalsLowercase(_ b: Bytes, _ s: Int, _ e: Int, _ word: StaticString) -> Bool {
        guard e - s == word.utf8CodeUnitCount else { return false }
        let w = word.utf8Start
        var k = 0
        while k < e - s {
            let c = b[s + k]
            if (c == cUnderscore ? cSpace : lower(c)) != w[k] { return false }
            k += 1
        }
        return true
    }

    /// Namespaces whose links are removed: files and categories. Category namespaces of the larger
    /// Wikipedias are recognised by name too; files in any language are recognised by their extension
    /// (`hasMediaExtension`).
    private static func isRemovedNamespace(_ b: Bytes, _ s: Int, _ e: Int) -> Bool {
        for name: StaticString in ["file", "image", "media", "category"] where equalsLowercase(b, s, e, name) {
            return true
        }
        guard e - s >= 4 else { return false }
        for name: StaticString in [
            "kategorie", "catégorie", "categoría", "categoria", "categorie", "kategoria", "kategori", "kategória",
            "kategorija", "luokka", "категория", "Категория", "категорія", "Категорія", "категорија",
            "Категорија", "κατηγορία", "Κατηγορία", "カテゴリ", "分类", "分類", "분류", "تصنيف", "رده",
            "קטגוריה", "thể loại", "Thể loại",
        ] where equalsLowercase(b, s, e, name) {
            return true
        }
        return false
    }

    /// Whether the title `b[s..<e]` ends in the extension of an image, sound, video or document file.
    private static func hasMediaExtension(_ b: Bytes, _ s: Int, _ e: Int) -> Bool {
        var k = e - 1
        while k > s && e - k <= 5 && b[k] != cDot { k -= 1 }
        guard k > s, b[k] == cDot else { return false }
        for ext: StaticString in ["jpg", "jpeg", "png", "gif", "svg", "tif", "tiff", "webp", "xcf", "ogg", "oga",
                                  "ogv", "opus", "webm", "mp3", "wav", "flac", "mid", "midi", "mpg", "mpeg", "pdf",
                                  "djvu", "stl"]
        where equalsLowercase(b, k + 1, e, ext) {
            return true
        }
        return false
    }

    /// A lowercase language code: two or three letters, optionally followed by `-letters` parts
    /// (`de`, `als`, `zh-yue`, `be-x-old`), or `simple`. A few interwiki prefixes of that shape are not languages.
    private static func isLanguagePrefix(_ b: Bytes, _ s: Int, _ e: Int) -> Bool {
        let len = e - s
        guard len >= 2 && len <= 12 else { return false }
        var k = s
        while k < e && b[k] >= 0x61 && b[k] <= 0x7A { k += 1 }
        let first = k - s
        if k == e && len == 6 { return equalsLowercase(b, s, e, "simple") }
        guard first == 2 || first == 3 else { return false }
        while k < e {
            guard b[k] == cMinus else { return false }
            k += 1
            let partStart = k
            while k < e && b[k] >= 0x61 && b[k] <= 0x7A { k += 1 }
            if k == partStart { return false }
        }
        for word: StaticString in ["mw", "wmf", "voy", "doi", "rfc", "bug"]
        where equalsLowercase(b, s, e, word) {
            return false
        }
        return true
    }

    /// Length of the URL scheme at `i` (`http://`, `//`, `mailto:`, …), or nil.
    private static func urlSchemeLength(_ b: Bytes, at i: Int, limit: Int) -> Int? {
        if i + 1 < limit && b[i] == cSlash && b[i + 1] == cSlash { return 2 }
        var k = i
        while k < limit && k - i < 12 && isAlpha(b[k]) { k += 1 }
        guard k < limit, k > i, b[k] == cColon else { return nil }
        let slashes = k + 2 < limit && b[k + 1] == cSlash && b[k + 2] == cSlash
        for scheme: StaticString in ["http", "https", "ftp", "ftps", "sftp", "irc", "ircs", "git", "svn",
                                     "ssh", "telnet", "gopher", "mms", "nntp", "worldwind", "redis"]
        where equalsLowercase(b, i, k, scheme) {
            return slashes ? k - i + 3 : nil
        }
        for scheme: StaticString in ["mailto", "news", "urn", "tel", "sip", "sips", "sms", "xmpp", "geo",
                                     "magnet", "bitcoin"]
        where equalsLowercase(b, i, k, scheme) {
            return k - i + 1
        }
        return nil
    }

}
