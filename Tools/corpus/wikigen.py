"""MediaWiki XML export writer and deterministic wikitext generator.

Shared by Tools/corpus/build (the small embedded export) and Tools/bench/make-bench-corpus (the
large benchmark export). The exports follow the export-0.10 schema: a <siteinfo> with the
namespace table, then one <page> per title with a <revision> holding the wikitext.

The wikitext is made from real texts (Bible books, manual pages, glossary entries) and dressed
with the markup a real wiki uses: internal and piped links, external links, templates (nested
too), <ref> citations and named re-uses, HTML comments, tables, bold and italic, headings, file
embeds, categories, redirects and pages in the Talk, User, Template and Category namespaces.
Every random choice comes from a random.Random seeded from the page title, so the same inputs
always give the same bytes.
"""

from __future__ import annotations

import datetime
import hashlib
import random
import re
from typing import BinaryIO, Iterable
from xml.sax.saxutils import escape, quoteattr

EXPORT_NS = "http://www.mediawiki.org/xml/export-0.10/"


def seeded(*parts: object) -> random.Random:
    """A random generator that depends only on `parts` (never on the process's hash seed)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def sha1_base36(text: str) -> str:
    """The revision checksum MediaWiki stores: SHA-1 of the UTF-8 text in base 36, 31 digits."""
    n = int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(31, "0")


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean_text(text: str) -> str:
    """Wikitext as MediaWiki stores it: \n line ends, no characters that XML 1.0 forbids."""
    return _XML_BAD.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


# --------------------------------------------------------------------------------------------
# Export writer
# --------------------------------------------------------------------------------------------

NS_MAIN, NS_TALK, NS_USER, NS_USER_TALK, NS_PROJECT = 0, 1, 2, 3, 4
NS_FILE, NS_TEMPLATE, NS_HELP, NS_CATEGORY = 6, 10, 12, 14

USERS = [
    ("Ferrington", 1042), ("Quillmaker", 2207), ("Ashgrove", 3318), ("Lantern Moth", 4471),
    ("Verity Hale", 5120), ("Oakshott", 6093), ("Marlowe Finch", 7735), ("Tidewater", 8864),
    ("Brackenfold", 9917), ("Wren Castellan", 10428),
]
ANON_IPS = ["192.0.2.17", "192.0.2.88", "198.51.100.23", "198.51.100.140", "203.0.113.9"]
COMMENTS = [
    "copyedit", "fix typo", "expand section", "add citation", "wikilinks", "formatting",
    "restore text removed without explanation", "/* References */ reflist", "add infobox",
    "categorise", "tidy up table", "clarify wording", "Reverted edits by [[Special:Contributions/192.0.2.88|192.0.2.88]]",
]


class ExportWriter:
    """Writes a MediaWiki XML export to a binary stream, page by page."""

    def __init__(self, out: BinaryIO, sitename: str, dbname: str, base: str,
                 first_page_id: int = 1, first_rev_id: int = 1000) -> None:
        self.out = out
        self.sitename = sitename
        self.next_page_id = first_page_id
        self.next_rev_id = first_rev_id
        self.pages = 0
        self.bytes_text = 0
        self.namespaces = [
            (-2, "Media"), (-1, "Special"), (0, ""), (1, "Talk"), (2, "User"), (3, "User talk"),
            (4, sitename), (5, f"{sitename} talk"), (6, "File"), (7, "File talk"),
            (8, "MediaWiki"), (9, "MediaWiki talk"), (10, "Template"), (11, "Template talk"),
            (12, "Help"), (13, "Help talk"), (14, "Category"), (15, "Category talk"),
        ]
        self._w(
            f'<mediawiki xmlns="{EXPORT_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:schemaLocation="{EXPORT_NS} http://www.mediawiki.org/xml/export-0.10.xsd" '
            'version="0.10" xml:lang="en">\n'
            "  <siteinfo>\n"
            f"    <sitename>{escape(sitename)}</sitename>\n"
            f"    <dbname>{escape(dbname)}</dbname>\n"
            f"    <base>{escape(base)}</base>\n"
            "    <generator>MediaWiki 1.39.3</generator>\n"
            "    <case>first-letter</case>\n"
            "    <namespaces>\n"
        )
        for key, name in self.namespaces:
            if name:
                self._w(f'      <namespace key="{key}" case="first-letter">{escape(name)}</namespace>\n')
            else:
                self._w(f'      <namespace key="{key}" case="first-letter" />\n')
        self._w("    </namespaces>\n  </siteinfo>\n")

    def _w(self, s: str) -> None:
        self.out.write(s.encode("utf-8"))

    def ns_prefix(self, ns: int) -> str:
        for key, name in self.namespaces:
            if key == ns:
                return name + ":" if name else ""
        raise ValueError(f"unknown namespace {ns}")

    def page(self, title: str, ns: int, text: str | Iterable[str], redirect: str | None = None,
             revisions: int = 1) -> None:
        """Writes one page. `title` is without namespace prefix. With revisions > 1, earlier
        revisions hold shorter prefixes of the text (as a history export would), and the last
        revision holds the full text."""
        texts = [clean_text(t) for t in ([text] if isinstance(text, str) else list(text))]
        final = texts[-1]
        if revisions > 1 and len(texts) == 1:
            paras = final.split("\n\n")
            texts = ["\n\n".join(paras[: max(1, len(paras) * (i + 1) // (revisions + 1))])
                     for i in range(revisions - 1)] + [final]
        full_title = clean_text(self.ns_prefix(ns) + title).replace("\n", " ")
        rng = seeded("page", full_title)
        page_id = self.next_page_id
        self.next_page_id += 1
        self._w(f"  <page>\n    <title>{escape(full_title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n")
        if redirect is not None:
            self._w(f"    <redirect title={quoteattr(redirect)} />\n")
        when = datetime.datetime(2006, 1, 1) + datetime.timedelta(seconds=rng.randrange(15 * 365 * 86400))
        parent = None
        last_used = self.next_rev_id - 1
        self.next_rev_id += rng.randrange(0, 40)          # revision ids are sparse, as in a real wiki
        for i, t in enumerate(texts):
            rev_id = self.next_rev_id
            self.next_rev_id += 1
            when += datetime.timedelta(seconds=rng.randrange(3600, 400 * 86400)) if i else datetime.timedelta()
            self._w("    <revision>\n")
            self._w(f"      <id>{rev_id}</id>\n")
            if parent is not None:
                self._w(f"      <parentid>{parent}</parentid>\n")
            elif rev_id - last_used > 1 and rng.random() < 0.7:
                # an earlier revision, not part of this export (and not the id of any revision in it)
                self._w(f"      <parentid>{rng.randrange(last_used + 1, rev_id)}</parentid>\n")
            self._w(f"      <timestamp>{when.strftime('%Y-%m-%dT%H:%M:%SZ')}</timestamp>\n")
            if rng.random() < 0.12:
                self._w(f"      <contributor>\n        <ip>{rng.choice(ANON_IPS)}</ip>\n      </contributor>\n")
            else:
                name, uid = rng.choice(USERS)
                self._w(f"      <contributor>\n        <username>{escape(name)}</username>\n        <id>{uid}</id>\n      </contributor>\n")
            if rng.random() < 0.2:
                self._w("      <minor />\n")
            if rng.random() < 0.85:
                comment = "Redirect" if redirect is not None else rng.choice(COMMENTS)
                self._w(f"      <comment>{escape(comment)}</comment>\n")
            body = escape(t, {'"': "&quot;"})
            self._w("      <model>wikitext</model>\n      <format>text/x-wiki</format>\n")
            self._w(f'      <text bytes="{len(t.encode("utf-8"))}" xml:space="preserve">{body}</text>\n')
            self._w(f"      <sha1>{sha1_base36(t)}</sha1>\n")
            self._w("    </revision>\n")
            parent = rev_id
            self.bytes_text += len(t.encode("utf-8"))
        self._w("  </page>\n")
        self.pages += 1

    def redirect(self, title: str, target: str, ns: int = NS_MAIN, rcat: str = "R from alternative name") -> None:
        self.page(title, ns, f"#REDIRECT [[{target}]]\n\n{{{{{rcat}}}}}", redirect=target)

    def close(self) -> None:
        self._w("</mediawiki>\n")


# --------------------------------------------------------------------------------------------
# Shared helpers for wikitext
# --------------------------------------------------------------------------------------------

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


def human_date(rng: random.Random, year_from: int = 2006, year_to: int = 2021) -> str:
    return f"{rng.randrange(1, 29)} {rng.choice(MONTHS)} {rng.randrange(year_from, year_to + 1)}"


def signature(rng: random.Random) -> str:
    name, _ = rng.choice(USERS)
    return (f"[[User:{name}|{name}]] ([[User talk:{name}|talk]]) "
            f"{rng.randrange(0, 24):02d}:{rng.randrange(0, 60):02d}, {human_date(rng)} (UTC)")


def ordinal(n: int) -> str:
    words = ["zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
             "sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth"]
    if n < len(words):
        return words[n]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def inside_markup(before: str) -> bool:
    """Whether the end of `before` lies inside a link, a template, a <ref> or a <code> span."""
    if before.count("[[") != before.count("]]") or before.count("{{") != before.count("}}"):
        return True
    if before.count("<code>") != before.count("</code>"):
        return True
    opened = len(re.findall(r"<ref(?:\s[^>]*)?(?<!/)>", before))
    return opened != before.count("</ref>")


def link_terms(text: str, vocab: list[tuple[str, str | None]], rng: random.Random,
               linked: set[str], rate: float = 0.9) -> str:
    """Turns the first occurrence (per call) of each vocabulary phrase into an internal link:
    `[[Phrase]]` when target is None, otherwise a piped link `[[target|phrase as written]]`.
    `linked` collects the phrases linked so far, so a page links each phrase once."""
    for phrase, target in vocab:
        if phrase in linked or rng.random() > rate:
            continue
        m = re.search(r"(?<![\w\[|])" + re.escape(phrase) + r"(?![\w\]|])", text)
        if not m:
            continue
        shown = m.group(0)
        link = f"[[{shown}]]" if target is None else f"[[{target}|{shown}]]"
        before = text[: m.start()]
        if inside_markup(before):
            continue
        text = before + link + text[m.end():]
        linked.add(phrase)
    return text


def emphasise(text: str, rng: random.Random, words: list[str], style: str = "''") -> str:
    """Wraps the first occurrence of one of `words` in bold or italic quotes."""
    for w in rng.sample(words, min(len(words), 3)):
        m = re.search(r"(?<![\w'\[])" + re.escape(w) + r"(?![\w'\]])", text)
        if m and not inside_markup(text[: m.start()]):
            return text[: m.start()] + style + m.group(0) + style + text[m.end():]
    return text


def cite_book(title: str, year: str, publisher: str, extra: str = "") -> str:
    return f"{{{{cite book |title={title} |year={year} |publisher={{{{nowrap|{publisher}}}}}{extra}}}}}"


def cite_web(url: str, title: str, rng: random.Random, website: str = "example.org") -> str:
    return (f"{{{{cite web |url={url} |title={title} |website={website} "
            f"|access-date={human_date(rng, 2012, 2022)}}}}}")


def wiki_escape(text: str) -> str:
    """Neutralises characters that would be read as markup in running text."""
    text = text.replace("[[", "[ [").replace("]]", "] ]").replace("{{", "{ {").replace("}}", "} }")
    text = text.replace("''", "\u2019\u2019").replace("~~~", "~ ~ ~")
    text = re.sub(r"<(/?[A-Za-z!])", r"&lt;\1", text)
    text = re.sub(r"^([*#:;=|!-])", r"<nowiki>\1</nowiki>", text, flags=re.M)
    return text


# --------------------------------------------------------------------------------------------
# Bible books
# --------------------------------------------------------------------------------------------

BIBLE_VOCAB: list[tuple[str, str | None]] = [
    ("Moses", None), ("Aaron", None), ("Abraham", None), ("Isaac", None), ("Jacob", None),
    ("Joseph", None), ("David", None), ("Solomon", None), ("Saul", "Saul (king)"),
    ("Samuel", None), ("Elijah", None), ("Jerusalem", None), ("Egypt", "Ancient Egypt"),
    ("Babylon", None), ("Israel", "Israelites"), ("Judah", "Kingdom of Judah"),
    ("Jordan", "Jordan River"), ("Zion", "Mount Zion"), ("Pharaoh", None), ("Jesus", None),
    ("Peter", "Saint Peter"), ("Paul", "Paul the Apostle"), ("Galilee", None),
    ("Nazareth", None), ("the prophet", "Prophets in Judaism"), ("the law", "Mosaic law"),
    ("the temple", "Temple in Jerusalem"), ("the sabbath", "Sabbath"), ("Moab", None),
    ("Philistines", None), ("Assyria", None), ("Persia", "Achaemenid Empire"),
    ("Pharisees", None), ("Gentiles", "Gentile"), ("the wilderness", "Desert"),
    ("Nineveh", None), ("Bethlehem", None), ("Samaria", None), ("Levites", None),
]


def bible_book_article(book, books, max_verses_per_chapter: int | None = None) -> str:
    """An article about one book of the Bible, holding its text chapter by chapter.
    `book`/`books` are debsources.Book objects."""
    rng = seeded("bible", book.name)
    n_ch = len(book.chapters)
    n_v = book.verse_count()
    words = sum(len(t.split()) for ch in book.chapters for _, t in ch)
    prev_b = books[book.number - 2] if book.number > 1 else None
    next_b = books[book.number] if book.number < len(books) else None
    out = [f"{{{{Short description|Book of the {book.testament} in the King James Version}}}}"]
    if rng.random() < 0.3:
        out.append("{{Use dmy dates|date=" + " ".join(human_date(rng).split()[1:]) + "}}")
    out.append("{{Infobox book")
    out.append(f"| name          = {book.name}")
    out.append(f"| image         = {book.name} title page.jpg")
    out.append(f"| caption       = Opening of ''{book.name}'' in a 1611 printing")
    out.append("| language      = [[Early Modern English]]")
    out.append(f"| series        = {{{{nowrap|[[{book.testament}]]}}}}")
    out.append(f"| genre         = {{{{hlist|Scripture|{rng.choice(['History', 'Poetry', 'Prophecy', 'Epistle', 'Law', 'Gospel'])}}}}}")
    out.append(f"| chapters      = {n_ch}")
    out.append(f"| verses        = {{{{formatnum:{n_v}}}}}")
    out.append(f"| words         = {{{{formatnum:{words}}}}}")
    if prev_b:
        out.append(f"| preceded_by   = [[{prev_b.name}]]")
    if next_b:
        out.append(f"| followed_by   = [[{next_b.name}]]")
    out.append("}}")
    out.append(f"<!-- This article carries the full text of {book.name}; verse numbers are kept in the table below only. -->")
    kjv_ref = cite_book("The Holy Bible, Conteyning the Old Testament, and the New", "1611", "Robert Barker",
                        " |location=London |edition=Authorized Version")
    lead = (f"'''{book.name}''' is the {ordinal(book.number if book.number <= 39 else book.number - 39)} book of the "
            f"[[{book.testament}]] in the ''[[King James Version]]'' of the [[Bible]], the English translation "
            f"first printed in 1611.<ref name=\"kjv1611\">{kjv_ref}</ref> It is divided into {n_ch} "
            f"{'chapter' if n_ch == 1 else 'chapters'} and {n_v} verses, about {words} words in all.")
    if prev_b and next_b:
        lead += f" In the usual order of the canon it follows [[{prev_b.name}]] and comes before [[{next_b.name}]]."
    out.append(lead)
    out.append("")
    out.append(f"The text given here is that of the translation itself, with the spelling of the later "
               f"standard editions and without the marginal notes; each chapter is printed as one "
               f"paragraph.<ref name=\"kjv1611\" /> For the wording of individual verses, see the "
               f"[[#Chapters|table of chapters]] and the [[Concordance (publishing)|concordance]].")
    out.append("")
    out.append(f"[[File:{book.name} illustration.jpg|thumb|upright=1.2|An engraving for ''{book.name}'' "
               f"from a {rng.randrange(1700, 1890)} family Bible]]")
    out.append("")
    out.append("== Text ==")
    linked: set[str] = set()
    for i, chapter in enumerate(book.chapters, 1):
        verses = chapter if max_verses_per_chapter is None else chapter[:max_verses_per_chapter]
        para = " ".join(t for _, t in verses)
        para = wiki_escape(para)
        para = para.replace("LORD", "{{sc|Lord}}", 1)
        para = link_terms(para, BIBLE_VOCAB, rng, linked, rate=0.8)
        para = emphasise(para, rng, ["God", "heaven", "earth", "people", "king", "house"], rng.choice(["''", "'''"]))
        out.append(f"=== Chapter {i} ===")
        if i == 1 and rng.random() < 0.5:
            out.append("{{Main|" + f"{book.name} {i}" + "}}")
        r = rng.random()
        if r < 0.25:
            para += '<ref name="kjv1611" />'
        elif r < 0.4:
            para += ("<ref>" + cite_web(f"http://example.org/kjv/{book.slug}/{i}",
                                        f"{book.name} chapter {i}", rng) + "</ref>")
        elif r < 0.45:
            para += "<!-- check against the 1769 Oxford edition -->"
        out.append(para)
        if max_verses_per_chapter is not None and len(chapter) > max_verses_per_chapter:
            out.append(f"''The remaining {len(chapter) - max_verses_per_chapter} verses of this chapter are omitted here.''")
        out.append("")
    out.append("== Chapters ==")
    out.append('{| class="wikitable sortable"')
    out.append(f"|+ Chapters of {book.name}")
    out.append("! Chapter !! Verses !! Words !! Opening words")
    for i, chapter in enumerate(book.chapters, 1):
        first = " ".join(chapter[0][1].split()[:6]) if chapter else ""
        w = sum(len(t.split()) for _, t in chapter)
        out.append("|-")
        out.append(f"| {i} || {len(chapter)} || {{{{formatnum:{w}}}}} || ''{wiki_escape(first)}'' &hellip;")
    out.append("|}")
    out.append("")
    out.append("== See also ==")
    for other in ([prev_b] if prev_b else []) + ([next_b] if next_b else []):
        out.append(f"* [[{other.name}]]")
    out.append(f"* [[Books of the Bible|List of books of the Bible]]")
    out.append("")
    out.append("== References ==")
    out.append("{{Reflist}}")
    out.append("")
    out.append("== External links ==")
    out.append(f"* [http://example.org/kjv/{book.slug} {book.name}] in a plain text edition")
    out.append(f"* [https://example.org/concordance?book={book.slug} Concordance for ''{book.name}'']")
    out.append("")
    out.append("{{Books of the Bible|state=collapsed}}")
    out.append("{{Authority control}}")
    out.append("")
    out.append("[[Category:Books of the King James Version]]")
    out.append(f"[[Category:{book.testament} books]]")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Manual pages (from debsources.html_sections blocks)
# --------------------------------------------------------------------------------------------

TECH_VOCAB: list[tuple[str, str | None]] = [
    ("Python", "Python (programming language)"), ("Unix", None), ("Linux", None),
    ("Debian", None), ("Windows", "Microsoft Windows"), ("macOS", None), ("SQL", None),
    ("PostgreSQL", None), ("SQLite", None), ("HTTP", "Hypertext Transfer Protocol"),
    ("Unicode", None), ("UTF-8", None), ("ASCII", None), ("XML", None), ("HTML", None),
    ("JSON", None), ("regular expression", "Regular expression"), ("compiler", "Compiler"),
    ("interpreter", "Interpreter (computing)"), ("kernel", "Kernel (operating system)"),
    ("shell", "Unix shell"), ("file system", "File system"), ("thread", "Thread (computing)"),
    ("process", "Process (computing)"), ("hash table", "Hash table"), ("database", "Database"),
    ("operating system", "Operating system"), ("Apache", "Apache HTTP Server"), ("Perl", None),
    ("Git", None), ("Emacs", None), ("Vim", "Vim (text editor)"), ("TCP/IP", "Internet protocol suite"),
    ("garbage collection", "Garbage collection (computer science)"), ("iterator", "Iterator"),
    ("exception", "Exception handling"), ("module", "Modular programming"), ("package", "Package manager"),
]

_CODEISH = re.compile(r"(?<![\w`<])([A-Za-z_][\w.]*\(\)|[a-z_]+\.[a-z_][\w.]*|--[a-z][\w-]+)(?![\w`])")


def manual_article(title: str, blocks: list[tuple[str, int, str]], source: dict,
                   code_lang: str = "text", min_words: int = 80) -> str | None:
    """An article made from a manual page's blocks. `source` describes where it comes from:
    keys `work` (the manual's name), `publisher`, `license`, `url`, `category`.
    Returns None when the page has too little prose."""
    rng = seeded("manual", source.get("work", ""), title)
    prose_words = sum(len(t.split()) for k, _, t in blocks if k in ("p", "li"))
    if prose_words < min_words:
        return None
    out = [f"{{{{Short description|Section of the {source['work']}}}}}"]
    if rng.random() < 0.4:
        out.append("{{Technical|date=" + " ".join(human_date(rng).split()[1:]) + "}}")
    out.append("{{Infobox document")
    out.append(f"| name      = {title}")
    out.append(f"| work      = ''{source['work']}''")
    out.append(f"| publisher = {{{{nowrap|{source['publisher']}}}}}")
    out.append(f"| license   = {source['license']}")
    out.append(f"| language  = {source.get('language', 'English')}")
    out.append(f"| website   = {{{{URL|{source['url']}}}}}")
    out.append("}}")
    ref = ("<ref name=\"manual\">" + cite_book(source["work"], source.get("year", "2023"), source["publisher"],
                                              f" |chapter={title}") + "</ref>")
    lead_done = False
    linked: set[str] = set()
    list_open = False
    sections = 0
    paragraphs = 0
    for kind, level, text in blocks:
        if kind == "h":
            if level <= 1:
                continue
            sections += 1
            heading = wiki_escape(text).replace("=", "&#61;")
            out.append("")
            out.append(("==" if level == 2 else "===") + f" {heading} " + ("==" if level == 2 else "==="))
            list_open = False
            continue
        if kind == "pre":
            body = text.replace("</syntaxhighlight", "&lt;/syntaxhighlight")
            out.append(f'<syntaxhighlight lang="{code_lang}">\n{body}\n</syntaxhighlight>')
            continue
        t = wiki_escape(text)
        t = _CODEISH.sub(lambda m: f"<code>{m.group(1)}</code>", t, count=2)
        t = link_terms(t, TECH_VOCAB, rng, linked, rate=0.85)
        if kind == "li":
            out.append(("* " if rng.random() < 0.85 or list_open else "# ") + t)
            list_open = True
            continue
        list_open = False
        if not lead_done:
            out.append(f"'''{wiki_escape(title)}''' is a section of the ''{source['work']}''.{ref} " + t)
            lead_done = True
            if rng.random() < 0.6:
                out.append("")
                out.append(f"[[File:{re.sub(r'[^A-Za-z0-9]+', ' ', title).strip() or 'Manual'} diagram.png|"
                           f"thumb|right|A diagram for ''{wiki_escape(title)}'']]")
        else:
            paragraphs += 1
            r = rng.random()
            if r < 0.08:
                t += '<ref name="manual" />'
            elif r < 0.12:
                t += "<ref>" + cite_web(source["url"], title, rng) + "</ref>"
            elif r < 0.15:
                t += "<!-- needs an example -->"
            elif r < 0.18:
                t = emphasise(t, rng, t.split()[:12], "'''")
            out.append(t)
        out.append("")
    if not lead_done:
        return None
    if paragraphs > 4 and rng.random() < 0.5:
        out.append("== Summary ==")
        out.append('{| class="wikitable"')
        out.append("! Item !! Value")
        out.append("|-")
        out.append(f"| Sections || {sections}")
        out.append("|-")
        out.append(f"| Paragraphs || {paragraphs}")
        out.append("|-")
        out.append(f"| Words || {{{{formatnum:{prose_words}}}}}")
        out.append("|}")
        out.append("")
    out.append("== References ==")
    out.append("<references />" if rng.random() < 0.3 else "{{Reflist}}")
    out.append("")
    out.append("== External links ==")
    out.append(f"* [{source['url']} ''{source['work']}''] (official)")
    out.append("")
    out.append(f"[[Category:{source['category']}]]")
    if rng.random() < 0.3:
        out.append("[[Category:Articles with example code]]")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Glossary entries (dictd databases)
# --------------------------------------------------------------------------------------------


def glossary_article(headword: str, paragraphs: list[tuple[bool, str]], source: dict) -> str:
    """An article for one glossary entry, from (is_verse, text) paragraphs (see
    debsources.dict_paragraphs). Cross references written {like this} become links."""
    rng = seeded("glossary", source.get("work", ""), headword)

    def markup(text: str) -> str:
        text = wiki_escape(text.replace("{", "\x01").replace("}", "\x02"))
        text = re.sub(r"\[\x01([^\x01\x02\n]{1,80})\x02\]", "(\x01\\1\x02)", text)   # [{Jargon File}]
        def link(m: re.Match) -> str:
            term = " ".join(m.group(1).split())
            if rng.random() < 0.3 and term[:1].isupper() and term[1:].islower():
                return f"[[{term}|{term.lower()}]]"
            return f"[[{term}]]"

        text = re.sub(r"\x01([^\x01\x02\n]{1,80})\x02", link, text)
        return text.replace("\x01", "(").replace("\x02", ")")

    out = []
    if rng.random() < 0.25:
        out.append("{{Glossary entry|source=" + source["work"] + "}}")
    first = markup(paragraphs[0][1]) if paragraphs else ""
    out.append(f"'''{wiki_escape(headword)}''' &ndash; " + first
               + f"<ref name=\"src\">{cite_book(source['work'], source['year'], source['publisher'])}</ref>")
    for is_verse, p in paragraphs[1:]:
        out.append("")
        if is_verse:
            out.append("<blockquote>" + markup(p).replace("\n", "<br />\n") + "</blockquote>")
        else:
            out.append(markup(p))
    if rng.random() < 0.2:
        out.append('\nSee the [[#References|source]].<ref name="src" />')
    out.append("")
    out.append("== References ==")
    out.append("{{Reflist}}")
    out.append("")
    out.append(f"[[Category:{source['category']}]]")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Non-article pages
# --------------------------------------------------------------------------------------------

TALK_OPENERS = [
    "I have gone through the section on {section} again and checked the wording against the printed edition.",
    "Is there a reason the article on {subject} does not say where the text was taken from?",
    "The table near the end of {subject} had a few counts that did not add up, so I recounted them by hand.",
    "Someone removed the paragraph about {section} without an edit summary; I have put it back for now.",
    "Would anyone object if I split the material on {section} into a page of its own?",
    "The lead of {subject} reads rather flatly, and I think it could say more plainly what the page covers.",
]
TALK_REPLIES = [
    "That seems sensible to me, as long as the references stay attached to the sentences they support.",
    "I agree, and I would rather we keep the original spelling than modernise it silently.",
    "No objection from me, but please leave a note here once it is done so others can check it.",
    "I looked at the same passage last year and came to the same conclusion, so go ahead.",
    "Thanks for catching that; the numbers in the table now match the text of the page.",
    "I am not so sure. The current arrangement is what most readers expect to find, and moving it would break a number of incoming links.",
    "Fair point. Let us wait a week for other opinions before changing the structure of the article.",
]


def talk_page(subject: str, sections: list[str]) -> str:
    rng = seeded("talk", subject)
    out = ["{{Talk header}}",
           "{{WikiProject banner shell|class=" + rng.choice(["Start", "C", "B"]) + "|1=",
           "{{WikiProject Books|importance=" + rng.choice(["low", "mid", "high"]) + "}}", "}}", ""]
    for _ in range(rng.randrange(2, 4)):
        section = rng.choice(sections) if sections else subject
        out.append(f"== {rng.choice(['Wording of', 'Sources for', 'Structure of', 'Edits to'])} {section} ==")
        first, second = rng.sample(TALK_OPENERS, 2)
        out.append(first.format(subject=f"[[{subject}]]", section=section) + " "
                   + second.format(subject="the article", section=section) + " " + signature(rng))
        depth = 1
        for _ in range(rng.randrange(1, 4)):
            out.append(":" * depth + rng.choice(TALK_REPLIES) + " " + signature(rng))
            depth = depth + 1 if rng.random() < 0.7 else max(1, depth - 1)
        out.append("")
    return "\n".join(out)


def user_page(name: str, interests: list[str]) -> str:
    rng = seeded("user", name)
    picks = rng.sample(interests, min(3, len(interests)))
    out = ["{{User page}}",
           '{| class="wikitable" style="float:right; margin-left:1em"',
           f"|+ {name}",
           "|-",
           f"| {{{{User en|N}}}}",
           "|-",
           f"| {{{{User {rng.choice(['de-2', 'fr-1', 'la-1', 'zh-1'])}}}}}",
           "|}",
           f"Hello, I am '''{name}'''. I have been editing here since {human_date(rng)}, mostly on "
           + ", ".join(f"[[{p}]]" for p in picks) + ".",
           "",
           "== Things I am working on ==",
           ]
    for p in picks:
        out.append(f"* Checking the text of [[{p}]] against the printed source, and adding citations where they are missing.")
    out.append("* Tidying the tables of contents in long articles.")
    out.append("")
    out.append("If you want to reach me, leave a message on [[User talk:" + name + "|my talk page]]. " + signature(rng))
    return "\n".join(out)


def infobox_template(name: str, fields: list[str]) -> str:
    out = ["{{#if:{{{noheader|}}}||<!-- header row -->}}",
           '{| class="infobox" style="width:22em"',
           "|+ '''{{{name|{{PAGENAME}}}}}'''",
           "{{#if:{{{image|}}}|",
           "{{!}}-",
           "{{!}} colspan=\"2\" {{!}} [[File:{{{image}}}|220px]]<br />{{{caption|}}}",
           "}}"]
    for f in fields:
        label = f.replace("_", " ").capitalize()
        out.append("{{#if:{{{" + f + "|}}}|")
        out.append("{{!}}-")
        out.append("! " + label + "\n{{!}} {{{" + f + "}}}")
        out.append("}}")
    out.append("|}<noinclude>")
    out.append(f"This template is used at the top of articles on individual items; see [[:Category:{name} templates]].")
    out.append("== Usage ==")
    out.append("<pre>")
    out.append("{{" + name)
    for f in ["name"] + fields:
        out.append(f"| {f:<12}= ")
    out.append("}}")
    out.append("</pre>")
    out.append(f"[[Category:{name} templates]]")
    out.append("</noinclude>")
    return "\n".join(out)


def category_page(description: str, parents: list[str]) -> str:
    out = ["{{Category diffuse}}" if len(description) % 2 else "{{Container category}}",
           description, ""]
    out += [f"[[Category:{p}]]" for p in parents]
    return "\n".join(out)


def stub_article(title: str, sentence: str, category: str) -> str:
    return f"'''{title}''' {sentence}\n\n{{{{stub}}}}\n\n[[Category:{category}]]\n"


def disambiguation_page(title: str, targets: list[tuple[str, str]]) -> str:
    out = [f"'''{title}''' may refer to:", ""]
    out += [f"* [[{t}]], {d}" for t, d in targets]
    out += ["", "{{Disambiguation}}"]
    return "\n".join(out) + "\n"
