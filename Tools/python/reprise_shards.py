"""Read Reprise token shards from Python (numpy + zstandard), with the same checks as the Swift reader.

    from reprise_shards import Dataset
    ds = Dataset("SHARDS_DIR", split="train")          # a `reprise pack` output
    x = ds[i]                                            # numpy array of seq_len + 1 token ids
    for i in ds.partition(rank, world): ...              # disjoint, equal shares for data-parallel ranks

Layout (see Sources/RepriseShards/FORMAT.md): a shard is a zstd stream; header, index and trailer live in
skippable frames, tokens in independent zstd frames with content checksums. Every frame read is checked
(zstd magic, checksum, decoded size); a fault raises ShardError naming the file and frame.
"""
import hashlib
import json
import os
import struct

import numpy as np
import zstandard

HEADER_MAGIC, INDEX_MAGIC, TRAILER_MAGIC = 0x184D2A50, 0x184D2A51, 0x184D2A52
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class ShardError(Exception):
    pass


class Shard:
    def __init__(self, path):
        self.path = path
        self._f = open(path, "rb")
        size = os.fstat(self._f.fileno()).st_size
        if size < 64:
            raise ShardError(f"{path}: {size} bytes is too short for a shard")
        magic, n, tag, version, width, frame_tokens, _ = struct.unpack("<II8sIIII", self._read(0, 32))
        if magic != HEADER_MAGIC or n != 24 or tag != b"RPRSHARD":
            raise ShardError(f"{path}: not a Reprise shard (bad header)")
        if version != 1:
            raise ShardError(f"{path}: shard format version {version} is not supported (this reader reads 1)")
        if width not in (2, 4) or frame_tokens < 1:
            raise ShardError(f"{path}: bad header (width {width}, frame tokens {frame_tokens})")
        self.dtype = np.dtype("<u2" if width == 2 else "<u4")
        self.frame_tokens = frame_tokens
        magic, n, tag, index_offset, index_size = struct.unpack("<II8sQQ", self._read(size - 32, 32))
        if magic != TRAILER_MAGIC or n != 24 or tag != b"RPRSTAIL" or index_offset + index_size != size - 32:
            raise ShardError(f"{path}: missing or damaged trailer (truncated file?)")
        index = self._read(index_offset, index_size)
        magic, n = struct.unpack_from("<II", index, 0)
        payload = index[8:]
        if magic != INDEX_MAGIC or n != len(payload) or payload[:8] != b"RPRSINDX":
            raise ShardError(f"{path}: damaged index")
        if hashlib.sha256(payload[:-32]).digest() != payload[-32:]:
            raise ShardError(f"{path}: index checksum mismatch")
        self.token_count, n_frames, n_docs = struct.unpack_from("<QQQ", payload, 8)
        self.frames = [struct.unpack_from("<QQQQ", payload, 32 + 32 * i) for i in range(n_frames)]
        self.document_starts = np.frombuffer(payload, dtype="<u8", count=n_docs, offset=32 + 32 * n_frames)
        self._dctx = zstandard.ZstdDecompressor()

    def _read(self, offset, size):
        self._f.seek(offset)
        data = self._f.read(size)
        if len(data) != size:
            raise ShardError(f"{self.path}: unexpected end of file at byte {offset + len(data)}")
        return data

    def frame(self, i):
        """Tokens of frame i, checked."""
        offset, csize, first, count = self.frames[i]
        where = f"{self.path}: frame {i} (tokens {first}..<{first + count}, bytes {offset}..<{offset + csize})"
        data = self._read(offset, csize)
        if data[:4] != ZSTD_MAGIC:
            raise ShardError(f"{where}: not a zstd frame")
        try:
            raw = self._dctx.decompress(data, max_output_size=count * self.dtype.itemsize)
        except zstandard.ZstdError as e:
            raise ShardError(f"{where}: {e}") from None
        if len(raw) != count * self.dtype.itemsize:
            raise ShardError(f"{where}: decoded {len(raw)} bytes, expected {count * self.dtype.itemsize}")
        return np.frombuffer(raw, dtype=self.dtype)

    def tokens(self, start, stop):
        """Tokens start..<stop, decompressing only the frames they span."""
        if not 0 <= start <= stop <= self.token_count:
            raise IndexError(f"{self.path}: tokens {start}..<{stop} outside 0..<{self.token_count}")
        parts = []
        for i in range(start // self.frame_tokens, (stop + self.frame_tokens - 1) // self.frame_tokens):
            first = self.frames[i][2]
            f = self.frame(i)
            parts.append(f[max(start - first, 0):min(stop - first, len(f))])
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def verify(self):
        for i in range(len(self.frames)):
            self.frame(i)


class Dataset:
    """One split of a `reprise pack` output as fixed windows: item i is tokens [i*L, (i+1)*L + 1)."""

    def __init__(self, directory, split="train"):
        with open(os.path.join(directory, "manifest.json")) as f:
            self.manifest = json.load(f)
        if self.manifest.get("format") != "reprise.shards" or self.manifest.get("version") != 1:
            raise ShardError(f"{directory}: not a version-1 Reprise shards directory")
        info = self.manifest[split]
        self.seq_len = self.manifest["config"]["seq_len"]
        self.shards = [Shard(os.path.join(directory, s["file"])) for s in info["shards"]]
        for shard, entry in zip(self.shards, info["shards"]):
            if shard.token_count != entry["tokens"]:
                raise ShardError(f"{shard.path}: {shard.token_count} tokens, the manifest says {entry['tokens']}")
        self.starts = np.cumsum([0] + [s.token_count for s in self.shards])
        self.token_count = int(self.starts[-1])

    def __len__(self):
        return max(0, (self.token_count - 1) // self.seq_len)

    def __getitem__(self, i):
        if not 0 <= i < len(self):
            raise IndexError(f"sequence {i} outside 0..<{len(self)}")
        start, stop = i * self.seq_len, (i + 1) * self.seq_len + 1
        parts = []
        for k, shard in enumerate(self.shards):
            lo, hi = int(self.starts[k]), int(self.starts[k + 1])
            if hi <= start or lo >= stop:
                continue
            parts.append(shard.tokens(max(start, lo) - lo, min(stop, hi) - lo))
        return np.concatenate(parts)

    def partition(self, rank, world):
        """Rank's share of the sequence indices: disjoint, equal-size ranges (the remainder is left out)."""
        if not (world >= 1 and 0 <= rank < world):
            raise ValueError("need 0 <= rank < world")
        share = len(self) // world
        return range(rank * share, (rank + 1) * share)

    def verify(self):
        for shard in self.shards:
            shard.verify()
