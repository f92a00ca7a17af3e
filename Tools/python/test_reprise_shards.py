"""Tests of the Python shard reader against shards the `reprise` binary writes (REPRISE_BIN, default
.build/debug/reprise), run by Tools/test."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from reprise_shards import Dataset, Shard, ShardError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("REPRISE_BIN", os.path.join(ROOT, ".build", "debug", "reprise"))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    work = tmp_path_factory.mktemp("pack")
    os.makedirs(work / "in")
    for book in ["08-ruth.txt", "31-obadiah.txt", "32-jonah.txt", "56-titus.txt"]:
        shutil.copy(os.path.join(ROOT, "Corpora/raw/text/kjv", book), work / "in")
    (work / "p.yaml").write_text(
        "work_dir: w\nstages:\n  ingest:\n    inputs: [in]\n  tokenizer:\n    config: {vocab_size: 500}\n"
        "  pack:\n    config: {seq_len: 64, val_fraction: 0.3, shard_tokens: 3000, frame_tokens: 100}\n")
    subprocess.run([BIN, "run", "p.yaml", "--quiet"], cwd=work, check=True, capture_output=True)
    return work / "w" / "shards"


def raw_tokens(path):
    out = subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout
    return np.frombuffer(out, dtype="<u2").astype(np.int64)


def test_shard_tokens_equal_the_zstd_stream(shards):
    for name in sorted(os.listdir(shards)):
        if name.endswith(".shard"):
            shard = Shard(str(shards / name))
            assert len(shard.frames) > 1
            np.testing.assert_array_equal(shard.tokens(0, shard.token_count), raw_tokens(shards / name))
            np.testing.assert_array_equal(shard.tokens(95, 205), raw_tokens(shards / name)[95:205])
            shard.verify()


def test_sequences_are_windows_over_the_split_stream(shards):
    ds = Dataset(str(shards), "train")
    stream = np.concatenate([raw_tokens(s.path) for s in ds.shards])
    assert len(ds.shards) > 1 and len(ds) == (len(stream) - 1) // 64
    assert len(ds) == ds.manifest["train"]["sequences"]
    for i in [0, 1, len(ds) // 2, len(ds) - 1] + [int(s // 64) for s in ds.starts[1:-1]]:
        np.testing.assert_array_equal(ds[i], stream[i * 64:(i + 1) * 64 + 1])
    with pytest.raises(IndexError):
        ds[len(ds)]
    val = Dataset(str(shards), "val")
    assert val.token_count == ds.manifest["val"]["tokens"] > 0


def test_partitions_are_disjoint_and_equal(shards):
    ds = Dataset(str(shards), "train")
    parts = [ds.partition(r, 3) for r in range(3)]
    assert len({len(p) for p in parts}) == 1
    assert sum(len(p) for p in parts) == len(ds) - len(ds) % 3
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))


def test_damage_is_an_error_naming_the_frame(shards, tmp_path):
    path = tmp_path / "bad.shard"
    shutil.copy(shards / "train-00000.shard", path)
    data = bytearray(path.read_bytes())
    shard = Shard(str(path))
    offset, size, first, count = shard.frames[3]
    data[offset + size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    damaged = Shard(str(path))
    damaged.frame(2)  # neighbours still read
    with pytest.raises(ShardError, match=r"bad\.shard: frame 3 "):
        damaged.frame(3)
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ShardError, match="truncated"):
        Shard(str(path))
