#!/usr/bin/env python3
"""Writes the WARC and WET fixtures of the ingest tests with warcio, the reference WARC library.

  python3 -m venv /tmp/warc-venv && /tmp/warc-venv/bin/pip install warcio
  /tmp/warc-venv/bin/python Tools/ingest/make_warc_fixtures.py [OUT_DIR]

OUT_DIR defaults to Tests/RepriseIngestTests/Fixtures/warc. Files (all a few KB, byte-identical on every run:
fixed dates and record ids, gzip without timestamps):

- sample.warc.gz: a crawl as Common Crawl stores it, one gzip member per record: warcinfo; request +
  response pairs for an UTF-8 page, an ISO-8859-1 page (charset in the HTTP header only), a windows-1252
  page whose <meta> wrongly claims UTF-8 (the HTTP header must win), a page sent with
  Transfer-Encoding: chunked, a page sent with Content-Encoding: gzip, an XHTML page without charset; a 404
  page, a PNG image, a metadata record and a revisit record.
- sample.warc.wet.gz: a WET file: warcinfo + conversion records (non-ASCII text in several scripts,
  WARC-Identified-Content-Language) and one empty conversion.
- damaged.warc.wet.gz: the same WET records, one gzip member each, where the record of /ja has a
  Content-Length 40 bytes too large (its body runs into the next record, /ru, so neither may yield a
  document) and the record of /el starts with a garbage version line; the others must still be read.
- expected.json: what warcio reads back: for every file the WARC-Type of each record in order; for the WET
  file every conversion record's (uri, text, language); for the WARC file every response record's uri,
  HTTP status, content type and payload (as decoded by warcio's content_stream(): chunks joined, gzip
  undone), base64-encoded, plus `snippets`: text written into each page (before its encoding) that the
  extracted text must contain, and `headers`: strings that only occur in WARC or HTTP headers.
"""
import base64, gzip, io, json, os, sys

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests/RepriseIngestTests/Fixtures/warc")

DATE = "2024-03-01T12:00:00Z"
serial = [0]


def headers(**extra):
    """Fixed WARC-Date and WARC-Record-ID, so every run writes the same bytes."""
    serial[0] += 1
    h = {"WARC-Date": DATE, "WARC-Record-ID": "<urn:uuid:00000000-0000-4000-8000-%012d>" % serial[0]}
    h.update(extra)
    return h


def fixed(rec):
    """A record warcio dated and named itself (warcinfo, revisit), given fixed headers."""
    for k, v in headers().items():
        rec.rec_headers.replace_header(k, v)
    return rec


def page(title, body, meta=""):
    return f"<!DOCTYPE html><html><head>{meta}<title>{title}</title></head><body>{body}</body></html>"


def chunked(data, size=37):
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def http(status, content_type, extra=()):
    h = [("Content-Type", content_type), ("Server", "fixture-server/1.0"), ("X-Header-Marker", "HTTPHEADERMARKER")]
    return StatusAndHeaders(status, h + list(extra), protocol="HTTP/1.1")


def write_warc(path):
    snippets = {}
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        w.write_record(fixed(w.create_warcinfo_record("sample.warc.gz", {"software": "warcio fixture", "format": "WARC File Format 1.0"})))

        def exchange(uri, status, content_type, payload, extra=(), snippet=None):
            req = StatusAndHeaders("GET /" + uri.split("/", 3)[-1] + " HTTP/1.1", [("Host", "example.org"), ("User-Agent", "REQUESTMARKER")],
                                   is_http_request=True)
            w.write_record(w.create_warc_record(uri, "request", http_headers=req, warc_headers_dict=headers()))
            resp = w.create_warc_record(uri, "response", payload=io.BytesIO(payload), length=len(payload),
                                        http_headers=http(status, content_type, extra), warc_headers_dict=headers())
            w.write_record(resp)
            if snippet:
                snippets[uri] = snippet

        text = "Grüße aus Köln — ein Absatz über Flüsse."
        exchange("http://example.org/utf8", "200 OK", "text/html; charset=utf-8",
                 page("UTF-8 page", f"<p>{text}</p>").encode("utf-8"), snippet=[text, "UTF-8 page"])
        text = "Café au lait, déjà vu, naïve façade."
        exchange("http://example.org/latin1", "200 OK", "text/html; charset=ISO-8859-1",
                 page("Latin-1 page", f"<p>{text}</p>").encode("iso-8859-1"), snippet=[text])
        text = "“Curly quotes” – and a dash… in windows-1252."
        exchange("http://example.org/cp1252", "200 OK", "text/html; charset=windows-1252",
                 page("Windows page", f"<p>{text}</p>", meta='<meta charset="utf-8">').encode("cp1252"), snippet=[text])
        text = "This page arrived in chunks of thirty-seven bytes, and every chunk must be joined back together."
        exchange("http://example.org/chunked", "200 OK", "text/html",
                 chunked(page("Chunked page", f"<p>{text}</p>").encode("utf-8")),
                 extra=[("Transfer-Encoding", "chunked")], snippet=[text])
        text = "This page was compressed by the server with gzip before it was sent."
        exchange("http://example.org/gzipped", "200 OK", "text/html; charset=utf-8",
                 gzip.compress(page("Gzip page", f"<p>{text}</p>").encode("utf-8"), mtime=0),
                 extra=[("Content-Encoding", "gzip")], snippet=[text])
        text = "An XHTML page served as application/xhtml+xml."
        exchange("http://example.org/xhtml", "200 OK", "application/xhtml+xml",
                 ('<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>X</title></head>'
                  f"<body><p>{text}</p></body></html>").encode("utf-8"), snippet=[text])
        exchange("http://example.org/missing", "404 Not Found", "text/html",
                 page("Not found", "<p>NOTFOUNDMARKER this page does not exist.</p>").encode("utf-8"))
        exchange("http://example.org/image.png", "200 OK", "image/png",
                 b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
        w.write_record(w.create_warc_record("http://example.org/utf8", "metadata",
                                            payload=io.BytesIO(b"fetchTimeMs: 12\n"), warc_content_type="application/warc-fields",
                                            warc_headers_dict=headers()))
        revisit = w.create_revisit_record("http://example.org/utf8", digest="sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                          refers_to_uri="http://example.org/utf8", refers_to_date=DATE,
                                          http_headers=http("200 OK", "text/html"))
        w.write_record(fixed(revisit))
    return snippets


WET_DOCS = [
    ("http://example.org/de", "deu", "Die Donau fließt durch zehn Länder.\nSie mündet ins Schwarze Meer."),
    ("http://example.org/ja", "jpn", "東京は日本の首都です。\n人口は約千四百万人です。"),
    ("http://example.org/ru", "rus", "Волга — самая длинная река Европы."),
    ("http://example.org/mixed", "eng,fra", "Plain English line.\nUne ligne en français, avec des accents : é, è, ç.\nEmoji: 🌊🚣"),
    ("http://example.org/el", "ell", "Ο Δούναβης είναι ποταμός."),
    ("http://example.org/empty", None, ""),
]


def wet_records(w):
    """The WET records as warcio builds them (not yet written)."""
    serial[0] = 100
    recs = [fixed(w.create_warcinfo_record("sample.warc.wet.gz", {"software": "warcio fixture", "description": "Wet file"}))]
    for uri, lang, text in WET_DOCS:
        extra = {"WARC-Refers-To": "<urn:uuid:11111111-0000-4000-8000-000000000000>"}
        if lang:
            extra["WARC-Identified-Content-Language"] = lang
        recs.append(w.create_warc_record(uri, "conversion", payload=io.BytesIO(text.encode("utf-8")),
                                         length=len(text.encode("utf-8")), warc_content_type="text/plain",
                                         warc_headers_dict=headers(**extra)))
    return recs


def write_wet(path):
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for r in wet_records(w):
            w.write_record(r)


def write_damaged_wet(path):
    members = []
    for i, r in enumerate(wet_records(WARCWriter(io.BytesIO(), gzip=False))):
        buf = io.BytesIO()
        WARCWriter(buf, gzip=False).write_record(r)
        data = buf.getvalue()
        if i == 2:  # Content-Length 40 bytes too large: the body runs into the next record
            n = r.length
            data = data.replace(b"Content-Length: %d\r\n" % n, b"Content-Length: %d\r\n" % (n + 40), 1)
        if i == 5:  # not a version line
            data = b"WARX/9.9" + data[len(b"WARC/1.0"):]
        members.append(gzip.compress(data, mtime=0))
    with open(path, "wb") as f:
        f.write(b"".join(members))


def read_back(path):
    types, wet, responses = [], [], []
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f):
            types.append(rec.rec_type)
            if rec.rec_type == "conversion":
                wet.append({"uri": rec.rec_headers.get_header("WARC-Target-URI"),
                            "language": rec.rec_headers.get_header("WARC-Identified-Content-Language"),
                            "record_id": rec.rec_headers.get_header("WARC-Record-ID"),
                            "text": rec.content_stream().read().decode("utf-8")})
            elif rec.rec_type == "response":
                responses.append({"uri": rec.rec_headers.get_header("WARC-Target-URI"),
                                  "status": int(rec.http_headers.get_statuscode()),
                                  "content_type": rec.http_headers.get_header("Content-Type"),
                                  "payload_base64": base64.b64encode(rec.content_stream().read()).decode()})
    return types, wet, responses


def main():
    os.makedirs(OUT, exist_ok=True)
    warc, wet, damaged = (os.path.join(OUT, n) for n in ("sample.warc.gz", "sample.warc.wet.gz", "damaged.warc.wet.gz"))
    snippets = write_warc(warc)
    write_wet(wet)
    write_damaged_wet(damaged)
    warc_types, _, responses = read_back(warc)
    for r in responses:
        r["snippets"] = snippets.get(r["uri"], [])
    wet_types, wet_docs, _ = read_back(wet)
    expected = {
        "sample.warc.gz": {"types": warc_types, "responses": responses},
        "sample.warc.wet.gz": {"types": wet_types, "conversions": wet_docs},
        "headers": ["HTTPHEADERMARKER", "REQUESTMARKER", "fixture-server", "WARC-Record-ID", "WARC-Type",
                    "Content-Length", "urn:uuid", "HTTP/1.1", "NOTFOUNDMARKER"],
    }
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")
    for n in sorted(os.listdir(OUT)):
        print(f"{n}: {os.path.getsize(os.path.join(OUT, n))} bytes")


if __name__ == "__main__":
    main()
