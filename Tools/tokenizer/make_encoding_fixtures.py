#!/usr/bin/env python3
"""Expected token ids for Reprise's exported tokenizers, computed by the peer libraries.

Setup (once):  python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tiktoken tokenizers
Usage:         /tmp/tokvenv/bin/python Tools/tokenizer/make_encoding_fixtures.py TOKENIZER_DIR... --output FILE

Each TOKENIZER_DIR is an output of `reprise tokenizer train` (tokenizer.json, tokenizer.tiktoken,
manifest.json). For a fixed list of inputs (prose, code, CJK, emoji, combining marks, CRLF, tabs, long
digit runs, random mixtures from a seeded generator), the script records the ids that tiktoken gives with
our rank file and pattern, and the ids that HuggingFace tokenizers gives with our tokenizer.json, and
checks that both agree. Special-token strings inside ordinary text are ordinary text for tiktoken
(disallowed_special=()); HuggingFace always matches added tokens, so such inputs are compared with
tiktoken only. The Swift tests load the same tokenizer directories and compare their ids with these.
"""
import argparse, base64, json, os, random, sys

import tiktoken
from tiktoken.load import load_tiktoken_bpe
from tokenizers import Tokenizer


def inputs():
    fixed = [
        "", " ", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
        "In the beginning God created the heaven and the earth.\n\nAnd the earth was without form, and void.",
        "I'm you're he'll we've they'd IT'S DON'T She's", "  leading and trailing spaces   ",
        "line one\r\nline two\r\n\r\nline four\rlone CR", "tabs\tand\t\tmore\ttabs\n\t\tindented",
        "def f(x):\n    return x ** 2  # square\n\nprint(f(12345678901234567890))",
        "{\"key\": [1, 2, 3], 'other': None}", "1234567890 12 345 6789 0.5 -3e10 1,000,000",
        "床前明月光，疑是地上霜。举头望明月，低头思故乡。", "日本語のテキストとカタカナ、ひらがな。한국어 문장입니다.",
        "emoji 👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇩🇪 and ❤️", "combining: e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937",
        "Ελληνικά κείμενα και Русский текст", "مرحبا بالعالم שלום עולם",
        "many     spaces      here", "trailing newline\n", "\n\n\n", "   \n   \n", "a" * 300, "9" * 100,
        "^^^^^^^^^^^^^^^^", "<|endoftext|> is just text here", "text<|pad|>with<|mask|>specials",
        "URL https://example.org/path?q=1&x=2#frag", "snake_case camelCase PascalCase kebab-case",
        "Mixed123Numbers456and789letters", "...!!!???---___===+++", "naïve café résumé coöperate",
    ]
    rng = random.Random(1234)
    alphabet = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + list(" \t\n\r.,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`")
                + list("éüßøåçñ日本語中文한국어") + ["👍", "🏽", "\u0301", "\u200d", "  ", "\r\n", "'s", "'LL", "123456"])
    for _ in range(300):
        n = rng.randint(1, 80)
        fixed.append("".join(rng.choice(alphabet) for _ in range(n)))
    return fixed


def load(dirpath):
    with open(os.path.join(dirpath, "manifest.json")) as f:
        manifest = json.load(f)
    ranks = load_tiktoken_bpe(os.path.join(dirpath, "tokenizer.tiktoken"))
    specials = manifest["special_tokens"]
    enc = tiktoken.Encoding(name="reprise", pat_str=manifest["pattern_tiktoken"], mergeable_ranks=ranks,
                            special_tokens=specials)
    hf = Tokenizer.from_file(os.path.join(dirpath, "tokenizer.json"))
    return manifest, enc, hf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    texts = inputs()
    out = {"inputs": [base64.b64encode(t.encode()).decode() for t in texts], "tokenizers": {}}
    for d in args.dirs:
        manifest, enc, hf = load(d)
        specials = list(manifest["special_tokens"])
        rows, hf_checked = [], 0
        for t in texts:
            ids = enc.encode(t, disallowed_special=())
            assert enc.decode_bytes(ids) == t.encode()
            if not any(s in t for s in specials):
                hf_ids = hf.encode(t, add_special_tokens=False).ids
                if hf_ids != ids:
                    sys.exit(f"{d}: tiktoken and HF disagree on {t!r}:\n{ids}\n{hf_ids}")
                hf_checked += 1
            rows.append(ids)
        out["tokenizers"][os.path.basename(os.path.normpath(d))] = {"ids": rows, "hf_checked": hf_checked}
        print(f"{d}: {len(rows)} inputs, {hf_checked} also checked against HF tokenizers", file=sys.stderr)
    with open(args.output, "w") as f:
        json.dump(out, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
