"""Readers for the free texts that Debian packages ship, shared by Tools/corpus/build and
Tools/bench/make-bench-corpus.

Every reader returns plain Python data in a fixed order, so the scripts built on them are
deterministic. Nothing here installs anything: when a file is missing, `require` stops with a
message naming the Debian package that ships it.

Only the standard library is used, plus the system `gzip` command for the one format the library
cannot read (the LZW stream inside the King James text data file).
"""

from __future__ import annotations

import gzip
import html
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser

# --------------------------------------------------------------------------------------------
# Packages and files
# --------------------------------------------------------------------------------------------


class MissingSource(SystemExit):
    pass


def require(path: str, package: str) -> str:
    """Returns `path` if it exists, else stops naming the package that ships it."""
    if not os.path.exists(path):
        raise MissingSource(
            f"missing {path}: it is shipped by the Debian package '{package}'; "
            f"install it with: apt-get install --no-install-recommends {package}"
        )
    return path


_VERSIONS: dict[str, str] = {}


def package_version(package: str) -> str:
    """The installed version of a Debian package (stops if it is not installed)."""
    if package not in _VERSIONS:
        try:
            out = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", package],
                check=True, capture_output=True, text=True,
            ).stdout.strip()
        except (subprocess.CalledProcessError, FileNotFoundError):
            out = ""
        if not out:
            raise MissingSource(
                f"the Debian package '{package}' is not installed; "
                f"install it with: apt-get install --no-install-recommends {package}"
            )
        _VERSIONS[package] = out
    return _VERSIONS[package]


def package_files(package: str) -> list[str]:
    """Regular files a package installed, sorted."""
    package_version(package)
    out = subprocess.run(["dpkg", "-L", package], check=True, capture_output=True, text=True).stdout
    return sorted(p for p in out.splitlines() if os.path.isfile(p) and not os.path.islink(p))


def read_bytes(path: str) -> bytes:
    """File contents, gunzipped when the name ends in .gz or .dz (dictzip)."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith((".gz", ".dz")):
        data = gzip.decompress(data)
    return data


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# King James Bible (bible-kjv-text)
# --------------------------------------------------------------------------------------------

KJV_PACKAGE = "bible-kjv-text"
KJV_DATA = "/usr/lib/bible.data"

# Canonical order of the 66 books, with the names used for files and articles.
KJV_BOOK_NAMES = [
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth",
    "1 Samuel", "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra",
    "Nehemiah", "Esther", "Job", "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon",
    "Isaiah", "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos",
    "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai", "Zechariah",
    "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "1 Corinthians",
    "2 Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "1 Thessalonians",
    "2 Thessalonians", "1 Timothy", "2 Timothy", "Titus", "Philemon", "Hebrews", "James",
    "1 Peter", "2 Peter", "1 John", "2 John", "3 John", "Jude", "Revelation",
]


@dataclass
class Book:
    number: int                 # 1..66
    name: str                   # "Song of Solomon"
    abbrev: str                 # abbreviation used in the data file ("SSol")
    chapters: list[list[tuple[int, str]]] = field(default_factory=list)  # [(verse, text)] per chapter

    @property
    def slug(self) -> str:
        return f"{self.number:02d}-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    @property
    def testament(self) -> str:
        return "Old Testament" if self.number <= 39 else "New Testament"

    def verse_count(self) -> int:
        return sum(len(c) for c in self.chapters)

    def plain_text(self) -> str:
        """The book as a plain text document: a title, then each chapter with numbered verses."""
        out = [f"The Book of {self.name}" if self.number <= 39 else self.name, ""]
        for i, chapter in enumerate(self.chapters, 1):
            out.append(f"CHAPTER {i}")
            out.append("")
            for verse, text in chapter:
                out.append(f"{i}:{verse} {text}")
            out.append("")
        return "\n".join(out)


def _kjv_raw_text() -> str:
    """Decompresses the text data file. It is a small header, a window table, then a Unix
    `compress` (LZW) stream whose dictionary is cleared at every window; `gzip -d` reads that."""
    data = read_bytes(require(KJV_DATA, KJV_PACKAGE))
    if data[:2] != b"EC":
        raise SystemExit(f"{KJV_DATA}: unexpected header")
    wnum = int.from_bytes(data[88:92], "big")
    first_window = int.from_bytes(data[92:96], "big")
    start = first_window - 3                      # the 3-byte compress header precedes window 0
    if data[start:start + 2] != b"\x1f\x9d" or start != 92 + 4 * (wnum + 1):
        raise SystemExit(f"{KJV_DATA}: unexpected layout")
    out = subprocess.run(["gzip", "-dc"], input=data[start:], check=True, capture_output=True).stdout
    return out.decode("ascii")


_KJV_CACHE: list[Book] | None = None


def kjv_books() -> list[Book]:
    """All 66 books, in canonical order."""
    global _KJV_CACHE
    if _KJV_CACHE is not None:
        return _KJV_CACHE
    books: list[Book] = []
    line_re = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")
    for line in _kjv_raw_text().split("\n")[1:]:
        if not line:
            continue
        m = line_re.match(line)
        if not m:
            raise SystemExit(f"{KJV_DATA}: unexpected line {line[:60]!r}")
        abbrev, chapter, verse, text = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
        if not books or books[-1].abbrev != abbrev:
            if len(books) == len(KJV_BOOK_NAMES):
                raise SystemExit(f"{KJV_DATA}: more than 66 books")
            books.append(Book(len(books) + 1, KJV_BOOK_NAMES[len(books)], abbrev))
        book = books[-1]
        while len(book.chapters) < chapter:
            book.chapters.append([])
        book.chapters[chapter - 1].append((verse, text.strip()))
    if len(books) != 66:
        raise SystemExit(f"{KJV_DATA}: found {len(books)} books, expected 66")
    _KJV_CACHE = books
    return books


# --------------------------------------------------------------------------------------------
# fortune cookie files (fortunes, fortunes-min, fortunes-zh)
# --------------------------------------------------------------------------------------------

FORTUNES_DIR = "/usr/share/games/fortunes"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def read_fortunes(name: str, package: str) -> list[str]:
    """The cookies of one fortune file, in file order, ANSI colour codes removed."""
    text = read_text(require(os.path.join(FORTUNES_DIR, name), package))
    text = _ANSI.sub("", text).replace("\r\n", "\n")
    cookies = [c.strip("\n") for c in re.split(r"(?m)^%\n", text + "\n")]
    return [c.rstrip() for c in cookies if c.strip()]


@dataclass
class Poem:
    title: str
    author: str
    author_dates: str
    lines: list[str]


def chinese_poems(name: str) -> list[Poem]:
    """Poems from fortunes-zh's tang300 (Tang dynasty) and song100 (Song dynasty) files."""
    poems = []
    for cookie in read_fortunes(name, "fortunes-zh"):
        lines = [l.strip() for l in cookie.split("\n") if l.strip()]
        title_m = re.match(r"^(?:题目[:：])?\s*《(.*)》\s*(.*)$", lines[0])
        author_m = re.match(r"^作者[:：]\s*([^（(]*)\s*(?:[（(](.*)[)）])?\s*$", lines[1]) if len(lines) > 1 else None
        if not title_m or not author_m:
            raise SystemExit(f"{name}: unexpected poem header {lines[:2]!r}")
        title = title_m.group(1) + (("·" + title_m.group(2)) if title_m.group(2) else "")
        dates = (author_m.group(2) or "").strip()
        # full-width digits and dashes to ASCII
        dates = dates.translate({0xFF10 + i: ord("0") + i for i in range(10)} | {0xFF0D: ord("-")})
        poems.append(Poem(title, author_m.group(1).strip(), dates, lines[2:]))
    return poems


# --------------------------------------------------------------------------------------------
# dictd databases (dict-devil, dict-jargon, dict-foldoc, dict-gcide, dict-wn)
# --------------------------------------------------------------------------------------------

DICTD_DIR = "/usr/share/dictd"
_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def _b64num(s: str) -> int:
    n = 0
    for c in s:
        n = n * 64 + _B64[c]
    return n


def dictd_entries(name: str, package: str) -> list[tuple[str, str]]:
    """(headword, definition text) for every distinct definition of a dictd database, in the
    order of the data file. Several index lines can point at one definition; the first headword
    is kept. The '00...' pseudo entries (database name, url, info) are skipped."""
    index_path = require(os.path.join(DICTD_DIR, f"{name}.index"), package)
    data = read_bytes(require(os.path.join(DICTD_DIR, f"{name}.dict.dz"), package))
    seen: dict[tuple[int, int], str] = {}
    with open(index_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith("00"):
                continue
            key = (_b64num(parts[1]), _b64num(parts[2]))
            if key not in seen:
                seen[key] = parts[0]
    out = []
    for (offset, length) in sorted(seen):
        text = data[offset:offset + length].decode("utf-8", errors="replace").strip("\n")
        out.append((seen[(offset, length)], text))
    return out


def dictd_body(headword: str, text: str) -> str:
    """A definition without its first line when that line only repeats the headword, dedented."""
    lines = text.split("\n")
    if lines and lines[0].strip().lower() == headword.strip().lower():
        lines = lines[1:]
    return dedent_lines(lines)


def dedent_lines(lines: list[str]) -> str:
    indents = [len(l) - len(l.lstrip(" ")) for l in lines if l.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(l[cut:].rstrip() for l in lines).strip("\n")


def dict_paragraphs(text: str) -> list[tuple[bool, str]]:
    """Splits a dictionary definition into (is_verse, text) paragraphs. Prose paragraphs are
    joined into one line. A paragraph indented deeper than the entry's shallowest one whose lines
    are short or unevenly indented (quoted verse, examples) keeps its lines, dedented."""
    paras = [p for p in re.split(r"\n[ \t]*\n", text.strip("\n")) if p.strip()]
    shapes = []
    for p in paras:
        lines = [l for l in p.split("\n") if l.strip()]
        ind = [len(l) - len(l.lstrip(" ")) for l in lines]
        longest = max(len(l.strip()) for l in lines)
        shapes.append((min(ind), len(set(ind[1:])) > 1, longest, len(lines)))  # hanging indents are prose
    lowest = min((s[0] for s in shapes), default=0)
    out = []
    for p, (ind, uneven, longest, n) in zip(paras, shapes):
        if ind > lowest and n >= 2 and (uneven or longest < 58):
            out.append((True, dedent_lines(p.split("\n"))))
        else:
            out.append((False, " ".join(l.strip() for l in p.split("\n") if l.strip())))
    return out


def reflow(text: str) -> str:
    """Joins hard-wrapped lines into paragraphs (blank lines separate paragraphs)."""
    paras = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(l.strip() for l in p.split("\n") if l.strip()) for p in paras if p.strip())


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_BLOCK = {
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td",
    "tfoot", "th", "thead", "title", "tr", "ul",
}
_SKIP = {"script", "style", "noscript", "svg", "template", "object", "iframe", "select", "button"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
         "source", "track", "wbr"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_tag: str | None = None
        self.skip_depth = 0
        self.pre = 0
        self.title: list[str] = []
        self.in_title = False
        self.in_head = False

    def handle_starttag(self, tag, attrs):
        if self.skip_tag:
            if tag == self.skip_tag:
                self.skip_depth += 1
            return
        if tag in _SKIP:
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag == "head":
            self.in_head = True
        elif tag == "body":
            self.in_head = False
        if tag == "title":
            self.in_title = True
        if tag == "pre":
            self.pre += 1
        if tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self.in_head:
                self.parts.append(f" {alt} ")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if self.skip_tag:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag == "title":
            self.in_title = False
        elif tag == "head":
            self.in_head = False
        if tag == "pre" and self.pre:
            self.pre -= 1
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if self.skip_tag:
            return
        if self.in_title:
            self.title.append(data)
            return
        if self.in_head:
            return
        if self.pre:
            self.parts.append(data.replace("\n", "\x00"))     # keep line breaks of <pre>
        else:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> tuple[str, str]:
    """(title, visible text) of an HTML page: scripts and styles dropped, block elements on their
    own lines, whitespace collapsed except inside <pre>."""
    p = _TextExtractor()
    p.feed(markup)
    p.close()
    text = "".join(p.parts)
    lines = [l.strip() for l in text.split("\n")]
    text = "\n".join(lines).replace("\x00", "\n")
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    title = re.sub(r"\s+", " ", "".join(p.title)).strip()
    return title, text


_NAV_CLASS = re.compile(
    r"(?:^|\s)(?:sphinxsidebar\w*|related|navheader|navfooter|footer|header|mobile-nav|menu|"
    r"breadcrumbs?|toc|nav\w*|sidebar|headerlink|copy\w*|sr-only|skip\w*)(?:\s|$)"
)


class _SectionExtractor(HTMLParser):
    """Collects headings, paragraphs, list items and preformatted blocks of a page's main content."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, int, str]] = []
        self.skip_tag: str | None = None
        self.skip_depth = 0
        self.cur: list[str] | None = None
        self.cur_kind = ""
        self.cur_level = 0
        self.pre = 0
        self.in_head = False

    def _flush(self):
        if self.cur is not None:
            raw = "".join(self.cur)
            text = raw.strip("\n") if self.cur_kind == "pre" else re.sub(r"\s+", " ", raw).strip()
            text = text.replace("\u00b6", "").strip() if self.cur_kind == "h" else text
            if text:
                self.blocks.append((self.cur_kind, self.cur_level, text))
        self.cur = None

    def handle_starttag(self, tag, attrs):
        if self.skip_tag:
            if tag == self.skip_tag:
                self.skip_depth += 1
            return
        a = dict(attrs)
        cls = (a.get("class") or "") + " " + (a.get("role") or "")
        if tag in _SKIP or tag in ("nav", "head", "footer") or (cls.strip() and _NAV_CLASS.search(cls.strip())):
            if tag not in _VOID:
                self.skip_tag, self.skip_depth = tag, 1
            return
        if tag in ("h1", "h2", "h3", "h4"):
            self._flush()
            self.cur, self.cur_kind, self.cur_level = [], "h", int(tag[1])
        elif tag == "pre":
            self._flush()
            self.cur, self.cur_kind, self.cur_level = [], "pre", 0
            self.pre += 1
        elif tag in ("p", "dd", "blockquote") and not self.pre:
            self._flush()
            self.cur, self.cur_kind, self.cur_level = [], "p", 0
        elif tag in ("li", "dt") and not self.pre:
            self._flush()
            self.cur, self.cur_kind, self.cur_level = [], "li", 0
        elif tag == "br" and self.cur is not None:
            self.cur.append("\n" if self.pre else " ")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if self.skip_tag:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag == "pre" and self.pre:
            self.pre -= 1
            self._flush()
        elif tag in ("h1", "h2", "h3", "h4", "p", "dd", "li", "dt", "blockquote") and not self.pre:
            self._flush()

    def handle_data(self, data):
        if self.skip_tag or self.cur is None:
            return
        self.cur.append(data)

    def close(self):
        super().close()
        self._flush()


def html_sections(markup: str) -> list[tuple[str, int, str]]:
    """The main content of a page as blocks: ("h", level, text), ("p", 0, text), ("li", 0, text),
    ("pre", 0, text). Navigation, sidebars, headers and footers are left out."""
    p = _SectionExtractor()
    p.feed(markup)
    p.close()
    return p.blocks


# --------------------------------------------------------------------------------------------
# POD (perl-doc)
# --------------------------------------------------------------------------------------------

_POD_CODE = re.compile(r"[BICFSXZEL]<(?:<+\s(.*?)\s>+|([^<>]*))>", re.S)
_POD_ESCAPES = {"lt": "<", "gt": ">", "verbar": "|", "sol": "/"}


def pod_to_text(pod: str) -> str:
    """Plain text of a POD document: headings kept as lines, formatting codes unwrapped."""
    out = []
    in_pod = True
    for para in re.split(r"\n\s*\n", pod):
        if para.startswith("=cut"):
            in_pod = False
            continue
        if para.startswith("="):
            in_pod = True
            cmd, _, rest = para.partition(" ")
            if cmd in ("=head1", "=head2", "=head3", "=head4", "=item"):
                para = rest.strip()
            elif cmd in ("=begin", "=end", "=for", "=over", "=back", "=pod", "=encoding"):
                continue
        if not in_pod:
            continue
        prev = None
        while prev != para:
            prev = para

            def sub(m: re.Match) -> str:
                inner = m.group(1) if m.group(1) is not None else m.group(2)
                code = m.group(0)[0]
                if code == "E":
                    return _POD_ESCAPES.get(inner, html.unescape(f"&{inner};"))
                if code in "XZ":
                    return ""
                if code == "L":
                    return inner.split("|", 1)[0] if "|" in inner else inner.split("/", 1)[0] or inner
                return inner

            para = _POD_CODE.sub(sub, para)
        if para.startswith((" ", "\t")):
            out.append(para.rstrip())
        else:
            out.append(" ".join(para.split()))
    return "\n\n".join(p for p in out if p.strip())


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
