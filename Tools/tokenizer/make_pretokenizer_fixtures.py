#!/usr/bin/env python3
"""Ground truth for `PreTokenizer` (Sources/RepriseTokenizer/PreTokenizer.swift).

Writes Tests/RepriseTokenizerTests/Fixtures/pretokenizer.json: a fixed, diverse list of inputs and, for
each split pattern (cl100k, gpt2, o200k), the byte offsets where each pre-token ends.

Needs three PyPI packages, best in a throwaway virtual environment:

    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tiktoken tokenizers regex
    /tmp/tokvenv/bin/python Tools/tokenizer/make_pretokenizer_fixtures.py

How the expected splits are obtained and cross-checked (the script stops on any disagreement):
1. The `regex` module with tiktoken's own pattern strings (read from `tiktoken_ext.openai_public`, and
   compared with the spellings below, which the Swift code also carries) gives the splits.
2. tiktoken's own engine (the Rust regex it compiles `pat_str` with) must split every input the same
   way. tiktoken's real encodings are downloaded at first use, which this machine cannot do, so the
   script builds a synthetic `tiktoken.Encoding` per pattern whose vocabulary is the 256 bytes plus every
   expected piece plus every concatenation of two neighbouring pieces. A piece in the vocabulary encodes
   to one token, and BPE never merges across pieces, so `encode_ordinary(text)` equals the per-piece
   tokens exactly when tiktoken's splitter cuts at the same offsets: a cut that is missing, extra or
   moved changes the tokens. (The check is run on a deliberately wrong split first, to prove it bites.)
   If the real encodings happen to be cached, the script also checks that encoding each piece alone
   concatenates to encoding the whole text.
3. HuggingFace tokenizers' `pre_tokenizers.Split(Regex(hf), behavior="isolated")` with the
   `huggingFaceRegex` spelling must give the same pieces for every input.

Unicode versions: the `regex` module and Swift 6.3's standard library use Unicode 17.0; tiktoken's Rust
engine and HF's Oniguruma use Unicode 16.0. The inputs use only code points assigned in Unicode 14.0 or
earlier (checked below with Python's `unicodedata`, which is 14.0 on Python 3.11), so all agree.
"""
import ast
import base64
import inspect
import json
import os
import random
import sys
import unicodedata

import regex
import tiktoken
import tokenizers
from tiktoken_ext import openai_public
from tokenizers import Regex, pre_tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "RepriseTokenizerTests", "Fixtures", "pretokenizer.json")

# tiktoken's spellings (the Swift enum `SplitPattern.tiktokenRegex` carries the same strings).
TIKTOKEN = {
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    "o200k": "|".join([
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]),
}

# Spellings for HuggingFace tokenizers (Oniguruma, Ruby syntax). Oniguruma reads `X{1,3}+` as
# `(?:X{1,3})+`, an unbounded repeat, so cl100k's `\p{N}{1,3}+` becomes `\p{N}{1,3}` (the same language
# here: nothing follows it in its alternative). Ruby's `$` means end of line, so `\s++$` becomes
# `\s++(?!\S)`: after a possessive run of whitespace, "no non-space follows" holds only at the end of
# the input, which is what tiktoken's `$` means. (The older non-possessive cl100k spelling,
# `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
# differs on whitespace that contains a newline at the end of the input, e.g. "a\n  ".)
HUGGINGFACE = {
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++(?!\S)|\s*[\r\n]|\s+(?!\S)|\s""",
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++(?!\S)|\s+(?!\S)|\s""",
    "o200k": TIKTOKEN["o200k"],
}

TIKTOKEN_ENCODING = {"cl100k": "cl100k_base", "gpt2": "gpt2", "o200k": "o200k_base"}
PATTERNS = ["cl100k", "gpt2", "o200k"]


def check_tiktoken_spellings():
    """Our spellings must be tiktoken's, read from the source of `tiktoken_ext.openai_public`."""
    tree = ast.parse(inspect.getsource(openai_public))
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assigned = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets}

    def pat_str_of(fn):
        for node in ast.walk(functions[fn]):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pat_str" for t in node.targets):
                call = node.value  # "|".join([...])
                return ast.literal_eval(call.func.value).join(ast.literal_eval(call.args[0]))
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    if isinstance(k, ast.Constant) and k.value == "pat_str":
                        if isinstance(v, ast.Name):
                            return ast.literal_eval(assigned[v.id])
                        if isinstance(v, ast.Constant):
                            return v.value
        raise SystemExit(f"no pat_str found in tiktoken's {fn}()")

    for name, fn in (("cl100k", "cl100k_base"), ("gpt2", "gpt2"), ("o200k", "o200k_base")):
        assert pat_str_of(fn) == TIKTOKEN[name], f"{name}: tiktoken's {fn} pattern differs from ours"


# ---------------------------------------------------------------------------------------------------
# Inputs

FIXED = [
    ("empty", ""),
    ("prose", "The quick brown fox jumps over the lazy dog. It's 3:45pm on 2024-01-31, and we'll pay "
              "$1,234.56 (about 1.2e3) for 12 items; \"quoted\", 'single', rock 'n' roll — em dash… ok?"),
    ("prose-2", "I'm sure you've seen it: they're here, he'd go, she'll stay. Don't! WON'T? "
                "IT'S THEY'RE WE'VE I'D I'M YOU'LL. Mixed: It'S, It'Ll, dOn'T. Curly: don’t it’s.\n"),
    ("contractions", "'s 'd 'm 't 'll 've 're 'S 'D 'M 'T 'LL 'VE 'RE 'Ll 'lL 'Ve 'rE 'x ''s '' ' 's' "
                     "'ſ 'ſt ſ's dog's DOG'S Dog'S ǅ'S ǆ's x'''s 'twas 'tis '123 '\t's\n'S"),
    ("code-crlf", "def f(x):\r\n\tif x >= 10:\r\n\t\treturn x**2  # square\r\n\treturn -1\r\n\r\n"
                  "    y = [a+b for a, b in zip(xs, ys)]  \r\n"),
    ("code-swift", "func split(_ b: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {\n    var i = 0\n"
                   "    while i < b.count { i &+= 1 } // TODO: fix\n    return []\n}\n\n\n"),
    ("code-misc", "<div class=\"x\">a/b//c</div>\n<!-- c -->\n/* comment */ // line\n"
                  "https://example.com/a/b?c=d&e=f#g C:\\path\\to\\file.txt ~/.config/ ../x/./y\n"
                  "!/\n/x ?\r\n !\n\n/\r x=>{y}; a||b && !c;;; ...\t...\n"),
    ("digits", "1 12 123 1234 12345 123456 1234567 12345678901234567890 3.14159 1,000,000 x=12345 "
               "v1.2.3 0x1F 1e-9 ٠١٢٣٤٥٦٧ ١٢ ０１２３４ ⅫⅣ x² ½¾ ①②③④ 𝟙𝟚𝟛𝟜 𐍈 ¹²³⁴"),
    ("digits-long", "0" * 50 + " " + "9" * 7 + "a" + "12" * 11),
    ("case-o200k", "HELLOworld HELLOWorld helloWORLD CamelCaseString XMLHttpRequest iPhone IPHONE'S "
                   "ǅungla ǅUNGLA ʰello ʰELLO ΣΊΣΥΦΟΣ'S Σίσυφος'Ll ÀÉÎõü ǈǋǲ ABCdef'VE ABC'll abc'Re "
                   "ALLCAPS. A B C. aBcDeF xYz'D"),
    ("cjk", "我爱北京天安门。你好，世界！今天是2024年1月1日。「引用」『二重』…… "
            "日本語のテキストです、カタカナもあります。ｶﾀｶﾅ ＡＢＣａｂｃ 한국어 텍스트입니다. 𠀀𠀁𪜀"),
    ("emoji", "I 👍🏽 it! 👨‍👩‍👧‍👦 family 🏳️‍🌈 flag 🇺🇸🇫🇷 keycap 1️⃣ #️⃣ ❤️ heart ☺︎ 🤷‍♀️ "
              "a😀b 😀😀😀 ©® ™ ✓✗ ★☆ ⌘ 🀄"),
    ("marks", "e\u0301 cafe\u0301 a\u0301\u0302\u0303 \u0301abc \u0301 x \u0301X \u0301'S "
              "Z\u0351\u0352\u0353a\u0354lgo\u0355 \u20dd\u20de A\u0301BC a\u0308'Ll \u0301\u0301\u0301"),
    ("indic", "नमस्ते दुनिया। हिन्दी भाषा१२३ ক্ষ தமிழ் ภาษาไทย สวัสดี ພາສາລາວ မြန်မာ ཀཁག"),
    ("rtl", "مرحبا بالعالم! مَرْحَبًا ١٢٣ שָׁלוֹם עוֹלָם! שלום, עולם. \u200fRTL\u200e LTR"),
    ("scripts", "Привет, МИР! Ελληνικά ΑΒΓ αβγ Ἀθῆναι Ǳ ǲ ǳ ß ẞ İı ﬁ ﬀ Ꭰ ꭰ 𝐀𝐁𝐂 𝐚𝐛𝐜 Ⓐⓐ Ⓐ ꙮ"),
    ("whitespace-1", "a\rb\r\rc\n\rd\r\ne\n\nf \r g\t\r\n\th   \n   i \n\n \n j"),
    ("whitespace-2", "trailing spaces   "),
    ("whitespace-3", "spaces before newline   \n  next"),
    ("whitespace-4", "a" + " " * 40 + "b" + "\t" * 5 + "c" + " \t" * 7 + "\n"),
    ("whitespace-5", "\u00a0word \u3000word \u2028line\u2029para \x85nel \x0b\x0cvt \u1680ogham "
                     "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205fx"),
    ("not-whitespace", "\x1c\x1d\x1e\x1f a\x1cb \u180e \u200b zero\u200bwidth \ufeffbom \u00adsoft \x00nul\x7f"),
    ("ws-only-space", " "),
    ("ws-only-spaces", "     "),
    ("ws-only-newline", "\n"),
    ("ws-only-newlines", "\n\n\n"),
    ("ws-only-mixed", " \n \t\r\n  "),
    ("ws-lone-cr", "\r"),
    ("ws-trailing-nl-spaces", "a\n  "),
    ("ws-trailing-nl", "end.\n"),
    ("ws-leading", "   lead"),
    ("ws-leading-nl", "\n\n  lead\n"),
    ("ws-nbsp-before-word", "x\u00a0\u00a0y \u00a0z"),
    ("punct", "!!! ?? ... ,,, ;;; ::: \"\"\" ''' ``` ~~~ @#$%^&*()_+-=[]{}|\\<>/ \t!\n!\r\n ! \n"),
    ("slashes", "a/b /c //d ///\n/ /\r\n/e !//\n\n// x/\ny /\n"),
    ("single-chars", "a"),
    ("single-digit", "7"),
    ("single-punct", "!"),
    ("single-apostrophe", "'"),
    ("astral", "𝐀𝐁𝐂 𐍈𐍉 𠀀 𝒜𝒷𝒸 𓀀𓀁 🄰 🅰 𝟘 𑁦 \U000e0041\U000e0042 \U000f0000\U00100000 \U000e0100x"),
    ("misc-cats", "\u0378\u0379 \ue000\uf8ff \ufffd\ufffc \u2028 ʰʱ ᵃᵇ ꜀ ǅ ‿⁀ ¡¿ «» „“ ‹› ‐‑‒–—― ˈˌ ˆ˜ ¨´"),
    ("long-letters", "a" * 300),
    ("long-caps-then-lower", "A" * 100 + "b" * 5 + " " + "Ж" * 50 + "'s"),
    ("long-spaces", " " * 300 + "x"),
    ("long-punct", "^" * 200 + "\n" * 3 + "x"),
    ("long-mixed", " a" * 100),
]

ASCII_WORDS = ["the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are",
               "with", "as", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by",
               "The", "THE", "Hello", "WORLD", "iPhone", "XMLHttp", "camelCase", "snake_case", "x", "I", "a"]
POOLS = {
    "ascii-word": None,
    "digits": None,
    "space": [" "],
    "ws": ["\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x85", "\u00a0", "\u1680", "\u2000", "\u2009",
           "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "  ", "   ", "\n\n", " \n", "\t\t"],
    "near-ws": ["\x1c", "\x1d", "\x1e", "\x1f", "\u200b", "\u180e", "\ufeff", "\u00ad", "\x00", "\x7f"],
    "punct": list("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~") + ["'", "'", "/", "//", "…", "—", "“", "”", "’",
                                                       "«", "»", "¿", "。", "、", "！", "·", "§", "¶", "€", "£"],
    "contraction": ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'m", "'M", "'ll", "'LL",
                    "'lL", "'d", "'D", "'ſ", "'x", "''"],
    "latin": list("àéîõüçñøåæœßÀÉÎÕÜÇÑØÅÆŒẞſǅǈǋǲıİ"),
    "greek-cyrillic": list("αβγδεζηθΣΩΑΒΓάέήίόύώЖжЯяЁёЪъЩщ"),
    "lm-lt": list("ʰʱʲˠˡᵃᵇᵈꜝꜞǅǈǋǲ々〻ー"),
    "cjk": list("我爱北京天安门你好世界日本語のテキストですカタカナ한국어텍스트ｶﾀｶﾅＡＢＣａｂｃ𠀀𪜀"),
    "marks": ["\u0301", "\u0300", "\u0308", "\u0327", "\u20dd", "\u0903", "\u093f", "\u094d", "\u0e31",
              "\u05b8", "\u064e", "\u0651", "\ufe0f", "\ufe0e", "\U000e0100", "\u1ab0", "\u0488"],
    "rtl-indic": list("مرحبابالعالمשלוםעולםनमस्तेदुनियाভাষাதமிழ்ภาษาไทย") + ["١٢٣", "१२३", "٠"],
    "numbers-other": list("٠١٢٣٤٥६७८९０１２ⅠⅡⅫⅰⅱ²³¹½¾①②⑩𝟙𝟚𐍈〇〡〢"),
    "emoji": ["😀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸", "1️⃣", "❤️", "🤷‍♀️", "©", "™", "★", "\u200d"],
    "astral-letters": ["𝐀", "𝐚", "𝒜", "𝓍", "𐌰", "𐐀", "𐐨", "𞤀", "𞤢", "𓀀", "𖼀"],
}
WEIGHTS = {"ascii-word": 10, "digits": 4, "space": 12, "ws": 5, "near-ws": 1, "punct": 6, "contraction": 3,
           "latin": 2, "greek-cyrillic": 2, "lm-lt": 1, "cjk": 2, "marks": 2, "rtl-indic": 2,
           "numbers-other": 1, "emoji": 2, "astral-letters": 1}


def random_inputs(count, seed=20240131):
    rng = random.Random(seed)
    names = list(WEIGHTS)
    weights = [WEIGHTS[n] for n in names]
    out = []
    for k in range(count):
        atoms = []
        for _ in range(rng.randint(1, 40)):
            pool = rng.choices(names, weights)[0]
            if pool == "ascii-word":
                atoms.append(rng.choice(ASCII_WORDS))
            elif pool == "digits":
                atoms.append("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 9))))
            else:
                atoms.append(rng.choice(POOLS[pool]))
        out.append((f"random-{k:03d}", "".join(atoms)))
    return out


def check_code_points(text, name):
    for ch in text:
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF:
            sys.exit(f"{name}: surrogate U+{cp:04X}")
        # Unassigned in Unicode 14.0 (Python's unicodedata) means it might be assigned later; the only
        # unassigned ones allowed are U+0378/U+0379, whose category all engines still agree on (Cn).
        if unicodedata.category(ch) == "Cn" and cp not in (0x378, 0x379):
            sys.exit(f"{name}: U+{cp:04X} is not assigned in Unicode {unicodedata.unidata_version}")


# ---------------------------------------------------------------------------------------------------
# Splitting and cross-checks

def regex_split(pattern, text):
    pieces = regex.findall(pattern, text)
    assert "".join(pieces) == text, "pattern does not cover the input"
    return pieces


def hf_split(pattern, text):
    pre = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    return [p for p, _ in pre.pre_tokenize_str(text)]


def synthetic_encoding(pattern, all_pieces):
    ranks = {bytes([i]): i for i in range(256)}
    for pieces in all_pieces:
        for j, p in enumerate(pieces):
            for s in (p, p + pieces[j + 1] if j + 1 < len(pieces) else None):
                if s is not None and s.encode() not in ranks:
                    ranks[s.encode()] = len(ranks)
    enc = tiktoken.Encoding("splitcheck", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    return enc, ranks


def tiktoken_agrees(enc, ranks, text, pieces):
    return enc.encode_ordinary(text) == [ranks[p.encode()] for p in pieces]


def real_encodings():
    """tiktoken's real encodings, only if they are already cached (no network here)."""
    out = {}
    for name, enc_name in TIKTOKEN_ENCODING.items():
        try:
            out[name] = tiktoken.get_encoding(enc_name)
        except Exception as e:  # download attempt fails offline
            print(f"  real encoding {enc_name} not available offline ({type(e).__name__}); skipped")
    return out


def main():
    check_tiktoken_spellings()
    cases = FIXED + random_inputs(400)
    names = [n for n, _ in cases]
    assert len(set(names)) == len(names)
    for name, text in cases:
        check_code_points(text, name)

    splits = {p: [regex_split(TIKTOKEN[p], t) for _, t in cases] for p in PATTERNS}

    for p in PATTERNS:
        enc, ranks = synthetic_encoding(TIKTOKEN[p], splits[p])
        # The check must catch a wrong split: merge the first two pieces of a case that has >= 2.
        j = next(j for j, s in enumerate(splits[p]) if len(s) >= 2 and len(s[0]) > 1 and len(s[1]) > 1)
        wrong = [splits[p][j][0] + splits[p][j][1]] + splits[p][j][2:]
        assert not tiktoken_agrees(enc, ranks, cases[j][1], wrong), "self-check of the tiktoken check failed"
        bad = [cases[k][0] for k in range(len(cases))
               if not tiktoken_agrees(enc, ranks, cases[k][1], splits[p][k])]
        if bad:
            sys.exit(f"{p}: tiktoken's engine splits differently from the regex module on {bad}")
        print(f"{p}: tiktoken engine agrees on all {len(cases)} inputs")

        hf_bad = [cases[k][0] for k in range(len(cases))
                  if hf_split(HUGGINGFACE[p], cases[k][1]) != splits[p][k]]
        if hf_bad:
            sys.exit(f"{p}: HuggingFace spelling splits differently on {hf_bad}")
        print(f"{p}: HuggingFace spelling agrees on all {len(cases)} inputs")

    real = real_encodings()
    for p, enc in real.items():
        for k, (_, text) in enumerate(cases):
            whole = enc.encode_ordinary(text)
            parts = [t for piece in splits[p][k] for t in enc.encode_ordinary(piece)]
            assert whole == parts, f"{p}: real encoding disagrees on {cases[k][0]}"
        print(f"{p}: real tiktoken encoding agrees")

    fixture = {
        "format": 1,
        "generator": "Tools/tokenizer/make_pretokenizer_fixtures.py",
        "versions": {"regex": regex.__version__, "tiktoken": tiktoken.__version__,
                     "tokenizers": tokenizers.__version__, "python_unicodedata": unicodedata.unidata_version},
        "checked": {"tiktoken_engine": "synthetic vocabulary, every input",
                    "huggingface": "every input",
                    "real_encodings": sorted(real)},
        "patterns": {p: {"tiktoken": TIKTOKEN[p], "huggingface": HUGGINGFACE[p]} for p in PATTERNS},
        "cases": [],
    }
    for k, (name, text) in enumerate(cases):
        entry = {"name": name, "utf8": base64.b64encode(text.encode()).decode()}
        for p in PATTERNS:
            ends, pos = [], 0
            for piece in splits[p][k]:
                pos += len(piece.encode())
                ends.append(pos)
            entry[p] = ends
        fixture["cases"].append(entry)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    pieces = {p: sum(len(s) for s in splits[p]) for p in PATTERNS}
    total = sum(len(t.encode()) for _, t in cases)
    print(f"wrote {os.path.relpath(OUT)}: {len(cases)} inputs, {total} bytes of text, pieces {pieces}, "
          f"{os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
