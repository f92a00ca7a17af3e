#!/usr/bin/env python3
"""Writes the Parquet fixtures of Tests/RepriseIngestTests/Fixtures/parquet with pyarrow, and expected.json
beside them: per readable file its SHA-256, row and row-group counts, its text and id columns, the columns
a reader should keep as metadata and the name of its table; per table the rows as pyarrow's to_pylist
gives them (several files hold the same table, written with different options).

  python3 -m venv /tmp/parquet-venv && /tmp/parquet-venv/bin/pip install pyarrow
  /tmp/parquet-venv/bin/python Tools/ingest/make_parquet_fixtures.py

The files are small (a few KB) and deterministic for a given pyarrow version; they are committed, so the
tests need no Python.
"""
import datetime, hashlib, json, os, sys

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "RepriseIngestTests", "Fixtures", "parquet")

WORDS = ["river", "city", "old", "walls", "morning", "light", "market", "traders", "bread", "cloth",
         "children", "bridge", "north", "gate", "evening", "bells", "roofs", "shade", "stalls", "dogs"]
# Clean text (NFC, single spaces, no control characters but newlines), so that ingest keeps it unchanged.
SPECIAL = ["Café au lait, naïve façade.", "Emoji 😀 and CJK 漢字 in one line.",
           "Two lines:\nthe second one.", "Quotes \"double\" and back\\slash."]


def text(i):
    if i % 9 == 4:
        return SPECIAL[(i // 9) % len(SPECIAL)] + f" Row {i}."
    n = 4 + (i * 7) % 23
    body = " ".join(WORDS[(i * 3 + k * 5) % len(WORDS)] for k in range(n))
    return f"Document {i}: {body.capitalize()}."


def basic_table(rows=40):
    ids = [f"doc-{i:03d}" for i in range(rows)]
    texts = [None if i in (5, 23) else ("" if i == 11 else text(i)) for i in range(rows)]
    urls = [None if i % 7 == 3 else f"https://example.org/{i}?q=\"x\"" for i in range(rows)]
    langs = [["en", "fr", "de"][i % 3] for i in range(rows)]
    scores = [None if i % 6 == 2 else round(0.25 * i - 3.5, 2) for i in range(rows)]
    counts = [i * 1_000_003 - 7 for i in range(rows)]
    small = [(-1) ** i * i for i in range(rows)]
    flags = [None if i % 5 == 0 else i % 2 == 0 for i in range(rows)]
    tags = [[WORDS[i % 20], WORDS[(i + 1) % 20]] if i % 4 else None for i in range(rows)]
    meta = [{"a": i, "b": WORDS[i % 20]} for i in range(rows)]
    raw = [bytes([i, 0, 255]) for i in range(rows)]
    dates = [datetime.date(2024, 1, 1) + datetime.timedelta(days=i) for i in range(rows)]
    return pa.table({
        "id": pa.array(ids, pa.string()),
        "text": pa.array(texts, pa.string()),
        "url": pa.array(urls, pa.string()),
        "lang": pa.array(langs, pa.string()),
        "score": pa.array(scores, pa.float64()),
        "token_count": pa.array(counts, pa.int64()),
        "small": pa.array(small, pa.int32()),
        "flag": pa.array(flags, pa.bool_()),
        "tags": pa.array(tags, pa.list_(pa.string())),
        "meta": pa.array(meta, pa.struct([("a", pa.int64()), ("b", pa.string())])),
        "raw": pa.array(raw, pa.binary()),
        "day": pa.array(dates, pa.date32()),
    })


BASIC_KEPT = ["url", "lang", "score", "token_count", "small", "flag"]


def int_id_table():
    rows = 25
    return pa.table({
        "id": pa.array([None if i == 6 else 10_000_000_000 + i for i in range(rows)], pa.int64()),
        "text": pa.array([text(i + 100) for i in range(rows)], pa.large_string()),
        "u32": pa.array([4_000_000_000 + i for i in range(rows)], pa.uint32()),
        "i8": pa.array([-100 + i for i in range(rows)], pa.int8()),
        "u64": pa.array([2 ** 63 + i for i in range(rows)], pa.uint64()),
        "title": pa.array([None if i % 4 == 1 else f"Title {i}" for i in range(rows)], pa.large_string()),
    })


def write(name, table, **kw):
    path = os.path.join(OUT, name + ".parquet")
    pq.write_table(table, path, **kw)
    return path


EXPECTED = {"files": {}, "tables": {}}


def expect(path, table, text_column="text", id_column="id", kept=()):
    with open(path, "rb") as f:
        data = f.read()
    meta = pq.ParquetFile(path).metadata
    rows = pq.read_table(path).to_pylist()
    if table in EXPECTED["tables"]:
        assert EXPECTED["tables"][table] == rows, f"{path}: rows differ from table {table}"
    EXPECTED["tables"][table] = rows
    EXPECTED["files"][os.path.basename(path)] = {
        "sha256": hashlib.sha256(data).hexdigest(), "num_rows": meta.num_rows,
        "row_groups": meta.num_row_groups, "table": table, "text_column": text_column,
        "id_column": id_column, "metadata_columns": list(kept)}


def write_expected():
    # One row per line keeps the file small and its diffs readable.
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        f.write('{"files": ' + json.dumps(EXPECTED["files"], sort_keys=True) + ',\n"tables": {')
        for t, (name, rows) in enumerate(sorted(EXPECTED["tables"].items())):
            f.write(("," if t else "") + "\n" + json.dumps(name) + ": [")
            for r, row in enumerate(rows):
                f.write(("," if r else "") + "\n" + json.dumps(row, ensure_ascii=False, default=str))
            f.write("]")
        f.write("}}\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    basic = basic_table()
    # Several row groups (12 rows each) and several pages per column chunk (small pages, small write batches).
    small_pages = dict(row_group_size=12, data_page_size=256, write_batch_size=4)
    # Dictionary pages, and a dictionary that overflows its limit: the chunk falls back to PLAIN pages.
    expect(write("basic_snappy", basic, compression="snappy", dictionary_pagesize_limit=200, **small_pages),
           "basic", kept=BASIC_KEPT)
    expect(write("basic_zstd_plain", basic, compression="zstd", use_dictionary=False, **small_pages),
           "basic", kept=BASIC_KEPT)
    expect(write("basic_gzip_crc", basic, compression="gzip", write_page_checksum=True, **small_pages),
           "basic", kept=BASIC_KEPT)
    expect(write("basic_uncompressed", basic, compression="none", **small_pages), "basic", kept=BASIC_KEPT)
    expect(write("basic_v2", basic, compression="snappy", data_page_version="2.0", **small_pages),
           "basic", kept=BASIC_KEPT)
    # One row group, default page sizes.
    expect(write("basic_one_group", basic, compression="snappy"), "basic", kept=BASIC_KEPT)
    expect(write("int_id", int_id_table(), compression="zstd", row_group_size=10, data_page_size=128,
                 write_batch_size=3), "int_id", kept=["u32", "i8", "u64", "title"])
    expect(write("empty", basic.slice(0, 0), compression="snappy"), "empty", kept=BASIC_KEPT)
    # Required (non-nullable) columns: pages without definition levels.
    required = pa.schema([pa.field("content", pa.string(), nullable=False), pa.field("n", pa.int64(), nullable=False)])
    expect(write("content_column", pa.table({
        "content": pa.array([text(i + 200) for i in range(8)], pa.string()),
        "n": pa.array(list(range(8)), pa.int64()),
    }, schema=required), compression="snappy"), "content", text_column="content", id_column=None, kept=["n"])

    # Unreadable files: the reader must fail with an error naming the problem, never a wrong document.
    with open(os.path.join(OUT, "basic_snappy.parquet"), "rb") as f:
        good = f.read()
    with open(os.path.join(OUT, "truncated.parquet"), "wb") as f:
        f.write(good[:-37])
    write("delta_text", basic.select(["id", "text"]), compression="snappy", use_dictionary=False,
          column_encoding={"text": "DELTA_BYTE_ARRAY"})
    write("lz4", basic.select(["id", "text"]), compression="lz4")
    write_expected()
    print(f"pyarrow {pa.__version__}: wrote {len(os.listdir(OUT))} files to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
