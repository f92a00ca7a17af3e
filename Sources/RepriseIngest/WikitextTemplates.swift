// MediaWiki wikitext → plain text: pass 2, templates (see Wikitext.swift for the passes and conventions).

extension Wikitext {
    // MARK: Pass 2: templates

    /// A span matched by the template pass. A removed span becomes one removal mark. A kept one (a template of
    /// `keptTemplates`) becomes the bytes of `text0` then those of `text1`, in which the spans matched inside
    /// them (`firstInner`, chained by `nextInner`, in order) become a mark or their own text in turn.
    private struct BraceSpan {
        var start: Int
        var end: Int
        var text0: Range<Int> = 0..<0
        var text1: Range<Int> = 0..<0
        var firstInner = -1
        var nextInner = -1
        var isKept: Bool { !text0.isEmpty || !text1.isEmpty }
    }

    /// Which arguments of a kept template are its text.
    private enum KeptText {
        /// The first positional argument.
        case first
        /// The second positional argument (`{{lang|fr|bonjour}}`).
        case second
        /// The first two, joined with nothing between them (`{{not a typo|patt|ern}}`).
        case firstTwo
        /// The first two, or the second and third when the first is `?` (`{{sic|?|hte}}`).
        case firstTwoAfterQuestionMark
    }

    /// A template name of at most `capacity` bytes, packed into words so that comparing names is cheap and
    /// allocates nothing.
    private struct TemplateName: Equatable {
        static let capacity = 24
        private(set) var count = 0
        private var w0: UInt64 = 0
        private var w1: UInt64 = 0
        private var w2: UInt64 = 0

        /// The first byte, 0 when empty.
        var first: UInt8 { UInt8(truncatingIfNeeded: w0) }

        /// Appends `c`; false when the name is full.
        mutating func append(_ c: UInt8) -> Bool {
            guard count < TemplateName.capacity else { return false }
            let v = UInt64(c) << UInt64((count & 7) * 8)
            switch count >> 3 {
            case 0: w0 |= v
            case 1: w1 |= v
            default: w2 |= v
            }
            count += 1
            return true
        }
    }

    /// The inline formatting templates whose text stays, by name as `keptTemplate` normalises it (first letter
    /// in lower case, single spaces). Looked up by a linear search: comparing a few words per entry costs less
    /// than hashing.
    private static let keptTemplates: [(name: TemplateName, kept: KeptText)] = {
        var list: [(name: TemplateName, kept: KeptText)] = []
        let names: [(String, KeptText)] = [
            ("sc", .first), ("smallcaps", .first), ("small caps", .first), ("nowrap", .first), ("nobr", .first),
            ("small", .first), ("big", .first), ("em", .first), ("strong", .first), ("var", .first),
            ("mvar", .first), ("code", .first), ("abbr", .first), ("ill", .first),
            ("interlanguage link", .first), ("lang", .second), ("not a typo", .firstTwo),
            ("sic", .firstTwoAfterQuestionMark),
        ]
        for (s, kept) in names {
            var name = TemplateName()
            for c in s.utf8 { _ = name.append(c) }
            list.append((name, kept))
        }
        return list
    }()

    /// Bit `c - 0x61` is set for each first letter `c` of the kept names: most other templates are turned
    /// away on their first letter.
    private static let keptFirstLetters: UInt32 = {
        var mask: UInt32 = 0
        for entry in keptTemplates { mask |= 1 << UInt32(entry.name.first - 0x61) }
        return mask
    }()

    /// The length of the longest kept name.
    private static let keptLongest = keptTemplates.map(\.name.count).max() ?? 0

    /// Whitespace that MediaWiki trims around names and named values, and removal marks.
    @inline(__always) private static func isTrimmed(_ c: UInt8) -> Bool {
        c == cSpace || c == cNewline || c == cTab || c == removedMark
    }

    /// If the template whose `{{` is at `s` and whose `}}` is at `q` is a kept one: what it keeps, and the index
    /// of the `|` that ends its name (`q` when it has no arguments). The name is read as MediaWiki reads it:
    /// blanks and underscores around it go, a run of them inside is one space, the first letter is
    /// case-insensitive. Only the first 64 bytes are looked at; kept names are much shorter.
    private static func keptTemplate(_ b: Bytes, _ s: Int, _ q: Int) -> (KeptText, Int)? {
        var name = TemplateName()
        var gap = false
        var i = s + 2
        let limit = min(q, i + 64)
        while i < limit {
            let c = b[i]
            if isAlpha(c) {
                if name.count == 0 {
                    let l = lower(c)
                    if keptFirstLetters & (1 << UInt32(l - 0x61)) == 0 { return nil }
                    _ = name.append(l)
                } else {
                    if name.count >= keptLongest { return nil }
                    if gap && !name.append(cSpace) { return nil }
                    if !name.append(c) { return nil }
                }
                gap = false
            } else if isTrimmed(c) || c == cUnderscore {
                gap = true
            } else {
                break
            }
            i += 1
        }
        guard name.count > 0, i == q || b[i] == cPipe else { return nil }
        for entry in keptTemplates where entry.name == name { return (entry.kept, i) }
        return nil
    }

    /// The text of a kept template whose arguments are `b[p..<q]` (`p` just after the `|` that ends its name;
    /// `p > q` when there is none): up to two ranges, in the order they are shown. `inner` are the spans matched
    /// inside the template, in order: they are skipped, so `|` and `=` in nested templates do not split or name
    /// arguments, and neither do those inside `[[…]]`. Nil when the text is empty or a `[[` or `]]` is unpaired.
    private static func keptText(_ kept: KeptText, _ b: Bytes, _ p: Int, _ q: Int, _ spans: [BraceSpan],
                                 _ inner: ArraySlice<Int>) -> (Range<Int>, Range<Int>)? {
        // Parameters 1 to 3 as MediaWiki numbers them: positional arguments count up, `2=` names one, and a
        // later definition wins. Positional values are kept as written, named ones are trimmed.
        var p1: Range<Int>? = nil
        var p2: Range<Int>? = nil
        var p3: Range<Int>? = nil
        var positional = 0
        func trimmed(_ from: Int, _ to: Int) -> Range<Int> {
            var f = from
            var t = to
            while f < t && isTrimmed(b[f]) { f += 1 }
            while t > f && isTrimmed(b[t - 1]) { t -= 1 }
            return f..<t
        }
        func define(_ number: Int, _ value: Range<Int>) {
            switch number {
            case 1: p1 = value
            case 2: p2 = value
            case 3: p3 = value
            default: break
            }
        }
        func argument(_ start: Int, _ equals: Int, _ end: Int) {
            if equals < 0 {
                positional += 1
                define(positional, start..<end)
            } else {
                let key = trimmed(start, equals)
                if key.count == 1 && isDigit(b[key.lowerBound]) {
                    define(Int(b[key.lowerBound] - 0x30), trimmed(equals + 1, end))
                }
            }
        }
        if p <= q {
            var i = p
            var start = p
            var equals = -1
            var links = 0
            var next = inner.startIndex
            while true {
                let stop = next < inner.endIndex ? spans[inner[next]].start : q
                let k = scan(b, i, stop, word: { v in
                    bytesEqual(v, cPipe) | bytesEqual(v, cEquals) | bytesEqual(v, cLBracket)
                        | bytesEqual(v, cRBracket)
                }, byte: { $0 == cPipe || $0 == cEquals || $0 == cLBracket || $0 == cRBracket })
                if k == stop {
                    if next == inner.endIndex { break }
                    i = spans[inner[next]].end
                    next += 1
                    continue
                }
                switch b[k] {
                case cPipe:
                    if links == 0 {
                        argument(start, equals, k)
                        start = k + 1
                        equals = -1
                    }
                    i = k + 1
                case cEquals:
                    if links == 0 && equals < 0 { equals = k }
                    i = k + 1
                case cLBracket:
                    if k + 1 < q && b[k + 1] == cLBracket {
                        links += 1
                        i = k + 2
                    } else {
                        i = k + 1
                    }
                default:
                    if k + 1 < q && b[k + 1] == cRBracket {
                        if links == 0 { return nil }
                        links -= 1
                        i = k + 2
                    } else {
                        i = k + 1
                    }
                }
            }
            if links != 0 { return nil }
            argument(start, equals, q)
        }
        var first: Range<Int>? = nil
        var second: Range<Int>? = nil
        switch kept {
        case .first:
            first = p1
        case .second:
            first = p2
        case .firstTwo:
            first = p1
            second = p2
        case .firstTwoAfterQuestionMark:
            let mark = p1.map { trimmed($0.lowerBound, $0.upperBound) }
            if let t = mark, t.count == 1, b[t.lowerBound] == cQuestion {
                first = p2
                second = p3
            } else {
                first = p1
                second = p2
            }
        }
        let t0 = first ?? 0..<0
        let t1 = second ?? 0..<0
        return t0.isEmpty && t1.isEmpty ? nil : (t0, t1)
    }

    /// Matches brace runs the way the MediaWiki preprocessor does: an opening run of two or more braces waits
    /// on a stack; a closing run consumes three braces from it when both sides have three (a parameter),
    /// otherwise two (a template), repeatedly. A matched template of `keptTemplates` becomes its text, any
    /// other matched span is removed; unmatched braces stay as text.
    @inline(never) static func templatePass(_ b: Bytes) -> [UInt8] {
        let n = b.count
        var stack: [(start: Int, count: Int)] = []
        // Every matched span, and the outermost ones so far (indices into `spans`, sorted and disjoint): a new
        // span takes the outermost ones it contains as its inner spans.
        var spans: [BraceSpan] = []
        var outer: [Int] = []
        var i = 0
        while i < n {
            i = scan(b, i, n, word: { bytesEqual($0, cLBrace) | bytesEqual($0, cRBrace) },
                     byte: { $0 == cLBrace || $0 == cRBrace })
            if i >= n { break }
            let c = b[i]
            if c == cLBrace {
                var j = i + 1
                while j < n && b[j] == cLBrace { j += 1 }
                if j - i >= 2 { stack.append((i, j - i)) }
                i = j
            } else if c == cRBrace {
                var j = i + 1
                while j < n && b[j] == cRBrace { j += 1 }
                var left = j - i
                var pos = i
                while left >= 2, var top = stack.last {
                    let take = top.count >= 3 && left >= 3 ? 3 : 2
                    let s = top.start + top.count - take
                    let e = pos + take
                    var first = outer.count
                    while first > 0 && spans[outer[first - 1]].start >= s { first -= 1 }
                    var span = BraceSpan(start: s, end: e)
                    if take == 2, let (kept, nameEnd) = keptTemplate(b, s, pos),
                       let (t0, t1) = keptText(kept, b, nameEnd + 1, pos, spans, outer[first...]) {
                        span.text0 = t0
                        span.text1 = t1
                        // The inner spans in the text stay, in order; the others go with the rest.
                        var last = -1
                        for k in outer[first...] {
                            let inner = spans[k]
                            if (inner.start >= t0.lowerBound && inner.end <= t0.upperBound)
                                || (inner.start >= t1.lowerBound && inner.end <= t1.upperBound) {
                                if last < 0 { span.firstInner = k } else { spans[last].nextInner = k }
                                last = k
                            }
                        }
                    }
                    outer.removeSubrange(first...)
                    outer.append(spans.count)
                    spans.append(span)
                    pos = e
                    left -= take
                    top.count -= take
                    if top.count < 2 { stack.removeLast() } else { stack[stack.count - 1] = top }
                }
                i = j
            } else {
                i += 1
            }
        }
        return writingTemplates(spans, outer, from: b)
    }

    /// `b` with its outermost matched spans replaced: a removed one by a removal mark, a kept one by its text.
    private static func writingTemplates(_ spans: [BraceSpan], _ outer: [Int], from b: Bytes) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        // Kept spans being written, innermost last: the span, which of its two texts, the next of its inner
        // spans and the position written up to. A stack of our own, as kept templates may nest deeply.
        var work: [(span: Int, part: Int, inner: Int, pos: Int)] = []
        var pos = 0
        for k in outer {
            let span = spans[k]
            copy(b, pos, span.start, into: &out)
            pos = span.end
            if !span.isKept {
                out.append(removedMark)
                continue
            }
            work.append((k, 0, span.firstInner, span.text0.lowerBound))
            while var w = work.popLast() {
                let text = w.part == 0 ? spans[w.span].text0 : spans[w.span].text1
                // Inner spans before this text belong to the other one.
                while w.inner >= 0 && spans[w.inner].start < text.lowerBound { w.inner = spans[w.inner].nextInner }
                if w.inner >= 0 && spans[w.inner].end <= text.upperBound {
                    let inner = spans[w.inner]
                    copy(b, w.pos, inner.start, into: &out)
                    work.append((w.span, w.part, inner.nextInner, inner.end))
                    if inner.isKept {
                        work.append((w.inner, 0, inner.firstInner, inner.text0.lowerBound))
                    } else {
                        out.append(removedMark)
                    }
                    continue
                }
                copy(b, w.pos, text.upperBound, into: &out)
                let span = spans[w.span]
                if w.part == 0 && !span.text1.isEmpty {
                    work.append((w.span, 1, span.firstInner, span.text1.lowerBound))
                }
            }
        }
        copy(b, pos, b.count, into: &out)
        return out
    }

}
