// Whole-chunk exceptions of the word splitter: contractions, abbreviations with periods, emoticons,
// clock times. A chunk (or the core left after peeling punctuation) that equals a key exactly is
// split into the listed pieces (or kept whole when the list has one piece) instead of being cut by
// the general rules. The table is built once from the small word lists below.

enum SplitterExceptions {
    /// key -> pieces (concatenating the pieces gives the key back).
    static func build() -> [String: [String]] {
        var t: [String: [String]] = [:]
        func cased(_ w: String) -> [String] { [w, w.prefix(1).uppercased() + w.dropFirst()] }

        // Standalone characters and a few fixed tokens.
        for k in [" ", "\t", "\\t", "\n", "\\n", "\u{2014}", "\u{00A0}", "'", "\\\")", "<space>", "''", "C++"] {
            t[k] = [k]
        }
        // Single letters followed by a period ("a." ... "z.", and three umlauts).
        for scalar in Array("abcdefghijklmnopqrstuvwxyzäöü") { t[String(scalar) + "."] = [String(scalar) + "."] }
        for k in emoticons { t[k] = [k] }
        for u in ["c", "f", "k", "C", "F", "K"] { t["°\(u)."] = ["°", u, "."] }

        // "I'm" and friends.
        for w in cased("i") {
            t[w + "'m"] = [w, "'m"]; t[w + "m"] = [w, "m"]
            t[w + "'ma"] = [w, "'m", "a"]; t[w + "ma"] = [w, "m", "a"]
        }
        // Pronouns + will / would (+ have).
        for p in ["i", "you", "he", "she", "it", "we", "they"] {
            for w in cased(p) { addWillWould(&t, w) }
        }
        for p in ["i", "you", "we", "they"] {
            for w in cased(p) { t[w + "'ve"] = [w, "'ve"]; t[w + "ve"] = [w, "ve"] }
        }
        for p in ["you", "we", "they"] {
            for w in cased(p) { t[w + "'re"] = [w, "'re"]; t[w + "re"] = [w, "re"] }
        }
        for p in ["he", "she", "it"] {
            for w in cased(p) { t[w + "'s"] = [w, "'s"]; t[w + "s"] = [w, "s"] }
        }
        // Question words, demonstratives, "there".
        let singular: Set = ["that", "this"], plural: Set = ["these", "those"]
        for q in ["who", "what", "when", "where", "why", "how", "there", "that", "this", "these", "those"] {
            for w in cased(q) {
                if !plural.contains(q) { t[w + "'s"] = [w, "'s"]; t[w + "s"] = [w, "s"] }
                t[w + "'ll"] = [w, "'ll"]; t[w + "ll"] = [w, "ll"]
                t[w + "'ll've"] = [w, "'ll", "'ve"]; t[w + "llve"] = [w, "ll", "ve"]
                if !singular.contains(q) {
                    t[w + "'re"] = [w, "'re"]; t[w + "re"] = [w, "re"]
                    t[w + "'ve"] = [w, "'ve"]; t[w + "ve"] = [w, "ve"]
                }
                t[w + "'d"] = [w, "'d"]; t[w + "d"] = [w, "d"]
                t[w + "'d've"] = [w, "'d", "'ve"]; t[w + "dve"] = [w, "d", "ve"]
            }
        }
        // Negated auxiliaries.
        for v in ["ca", "could", "do", "does", "did", "had", "may", "might", "must", "need", "ought", "sha",
                  "should", "wo", "would"] {
            for w in cased(v) {
                t[w + "n't"] = [w, "n't"]; t[w + "nt"] = [w, "nt"]
                t[w + "n't've"] = [w, "n't", "'ve"]; t[w + "ntve"] = [w, "nt", "ve"]
            }
        }
        for v in ["could", "might", "must", "should", "would"] {
            for w in cased(v) { t[w + "'ve"] = [w, "'ve"]; t[w + "ve"] = [w, "ve"] }
        }
        for v in ["ai", "are", "is", "was", "were", "have", "has", "dare"] {
            for w in cased(v) { t[w + "n't"] = [w, "n't"]; t[w + "nt"] = [w, "nt"] }
        }
        // Dropped final g, with or without the apostrophe: kept whole.
        for v in ["doin", "goin", "nothin", "nuthin", "ol", "somethin"] {
            for w in cased(v) { t[w] = [w]; t[w + "'"] = [w + "'"] }
        }
        for v in ["em", "ll", "nuff"] { t[v] = [v]; t["'" + v] = ["'" + v] }
        // Clock times: "3pm" -> "3" "pm".
        for h in 1...12 {
            for period in ["a.m.", "am", "p.m.", "pm"] { t["\(h)\(period)"] = ["\(h)", period] }
        }
        // Assorted.
        let pairs: [(String, [String])] = [
            ("y'all", ["y'", "all"]), ("yall", ["y", "all"]),
            ("how'd'y", ["how", "'d", "'y"]), ("How'd'y", ["How", "'d", "'y"]),
            ("not've", ["not", "'ve"]), ("notve", ["not", "ve"]),
            ("Not've", ["Not", "'ve"]), ("Notve", ["Not", "ve"]),
            ("cannot", ["can", "not"]), ("Cannot", ["Can", "not"]),
            ("gonna", ["gon", "na"]), ("Gonna", ["Gon", "na"]),
            ("gotta", ["got", "ta"]), ("Gotta", ["Got", "ta"]),
            ("let's", ["let", "'s"]), ("Let's", ["Let", "'s"]),
            ("c'mon", ["c'm", "on"]), ("C'mon", ["C'm", "on"]),
        ]
        for (k, v) in pairs { t[k] = v }
        for k in wholeWords { t[k] = [k] }
        for k in ["Ill", "ill", "Its", "its", "Hell", "hell", "Shell", "shell", "Shed", "shed", "were", "Were",
                  "Well", "well", "Whore", "whore"] {
            t[k] = nil
        }
        // Every entry written with a straight apostrophe also exists with a typographic one.
        for (k, v) in t where k.contains("'") {
            t[k.replacingApostrophes()] = v.map { $0.replacingApostrophes() }
        }
        return t
    }

    private static func addWillWould(_ t: inout [String: [String]], _ w: String) {
        t[w + "'ll"] = [w, "'ll"]; t[w + "ll"] = [w, "ll"]
        t[w + "'ll've"] = [w, "'ll", "'ve"]; t[w + "llve"] = [w, "ll", "ve"]
        t[w + "'d"] = [w, "'d"]; t[w + "d"] = [w, "d"]
        t[w + "'d've"] = [w, "'d", "'ve"]; t[w + "dve"] = [w, "d", "ve"]
    }

    /// Entries kept as one token.
    static let wholeWords: [String] = [
        "'S", "'s", "\u{2018}S", "\u{2018}s", "and/or", "w/o", "'re", "'Cause", "'cause", "'cos", "'Cos", "'coz",
        "'Coz", "'cuz", "'Cuz", "'bout", "ma'am", "Ma'am", "o'clock", "O'clock", "lovin'", "Lovin'", "lovin",
        "Lovin", "havin'", "Havin'", "havin", "Havin", "doin'", "Doin'", "doin", "Doin", "goin'", "Goin'", "goin",
        "Goin", "'d",
        // Abbreviations ending in a period.
        "Mt.", "Ak.", "Ala.", "Apr.", "Ariz.", "Ark.", "Aug.", "Calif.", "Colo.", "Conn.", "Dec.", "Del.", "Feb.",
        "Fla.", "Ga.", "Ia.", "Id.", "Ill.", "Ind.", "Jan.", "Jul.", "Jun.", "Kan.", "Kans.", "Ky.", "La.", "Mar.",
        "Mass.", "Mich.", "Minn.", "Miss.", "N.C.", "N.D.", "N.H.", "N.J.", "N.M.", "N.Y.", "Neb.", "Nebr.", "Nev.",
        "Nov.", "Oct.", "Okla.", "Ore.", "Pa.", "S.C.", "Sep.", "Sept.", "Tenn.", "Va.", "Wash.", "Wis.",
        "a.m.", "Adm.", "Bros.", "co.", "Co.", "Corp.", "D.C.", "Dr.", "e.g.", "E.g.", "E.G.", "Gen.", "Gov.",
        "i.e.", "I.e.", "I.E.", "Inc.", "Jr.", "Ltd.", "Md.", "Messrs.", "Mo.", "Mont.", "Mr.", "Mrs.", "Ms.",
        "p.m.", "Ph.D.", "Prof.", "Rep.", "Rev.", "Sen.", "St.", "vs.", "v.s.",
    ]

    static let emoticons: [String] = [
        ":)", ":-)", ":))", ":-))", ":)))", ":-)))", "(:", "(-:", "=)", "(=", ":]", ":-]", "[:", "[-:", "[=", "=]",
        ":o)", "(o:", ":}", ":-}", "8)", "8-)", "(-8", ";)", ";-)", "(;", "(-;", ":(", ":-(", ":((", ":-((", ":(((",
        ":-(((", "):", ")-:", "=(", ">:(", ":')", ":'-)", ":'(", ":'-(", ":/", ":-/", "=/", "=|", ":|", ":-|", "]=",
        "=[", ":1", ":P", ":-P", ":p", ":-p", ":O", ":-O", ":o", ":-o", ":0", ":-0", ":()", ">:o", ":*", ":-*",
        ":3", ":-3", "=3", ":>", ":->", ":X", ":-X", ":x", ":-x", ":D", ":-D", ";D", ";-D", "=D", "xD", "XD", "xDD",
        "XDD", "8D", "8-D", "^_^", "^__^", "^___^", ">.<", ">.>", "<.<", "._.", ";_;", "-_-", "-__-", "v.v", "V.V",
        "v_v", "V_V", "o_o", "o_O", "O_o", "O_O", "0_o", "o_0", "0_0", "o.O", "O.o", "O.O", "o.o", "0.0", "o.0",
        "0.o", "@_@", "<3", "<33", "<333", "</3", "(^_^)", "(-_-)", "(._.)", "(>_<)", "(*_*)", "(¬_¬)", "ಠ_ಠ",
        "ಠ︵ಠ", "(ಠ_ಠ)", "¯\\(ツ)/¯", "(╯°□°）╯︵┻━┻", "><(((*>",
    ]
}

extension String {
    fileprivate func replacingApostrophes() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "'" ? "\u{2019}" : $0 }))
    }
}
