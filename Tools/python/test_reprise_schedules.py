"""Tests of the Python schedule reader against plans the `reprise` binary builds: the same order, t, masks
and noise as the Swift library (via `reprise schedule show --json`)."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from reprise_schedules import Schedule, ScheduleError, batch_length, below, gaussian_noise, stream, unit
from reprise_shards import Dataset

from conftest import BIN, run_pipeline


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("sched")
    return run_pipeline(work, ["08-ruth.txt", "31-obadiah.txt", "32-jonah.txt"], (
        "  tokenizer:\n    config: {vocab_size: 400}\n"
        "  pack:\n    config: {seq_len: 32, val_fraction: 0.3, frame_tokens: 256}\n"
        "  schedules:\n"
        "    ar: {objective: ar, epochs: 2, batch_size: 8, seed: 4, shuffle_window: 2}\n"
        "    bern: {objective: mdlm, epochs: 3, batch_size: 8, seed: 4, noise: cosine, val_draws: 4, masking: bernoulli}\n"
        "    exactk: {objective: mdlm, epochs: 2, batch_size: 8, seed: 9, short_fraction: 0.5, val_draws: 4}\n"
        "    exact: {objective: mdlm, epochs: 2, batch_size: 6, seed: 5, masking: exact, t_sampling: iid}\n"
        "    gauss: {objective: gaussian, epochs: 2, batch_size: 8, seed: 6}\n"
        "    short: {objective: mdlm, epochs: 3, batch_size: 8, seed: 7, short_fraction: 0.5, val_draws: 4, masking: bernoulli}\n"
        "    budget: {objective: mdlm, epochs: 2, batch_size: 4, seed: 8, sequences: 12, short_fraction: 0}\n"))


def show(work, plan, epoch, sequence):
    out = subprocess.run([BIN, "schedule", "show", str(work / "schedules" / plan), "--shards", str(work / "shards"),
                          "--epoch", str(epoch), "--sequence", str(sequence), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("plan", ["bern", "exact", "exactk"])
def test_masks_t_and_tokens_match_the_swift_library(work, plan):
    s = Schedule(str(work / "schedules" / plan))
    ds = Dataset(str(work / "shards"), "train")
    for epoch in range(s.manifest["ledger"]["epochs"]):
        order, codes = s.epoch(epoch)
        assert sorted(order.tolist()) == list(range(s.n))
        for sequence in [0, 3, s.n - 1]:
            swift = show(work, plan, epoch, sequence)
            pos = int(np.where(order == sequence)[0][0])
            b = s.batch(ds, epoch, pos // s.batch_size, (order, codes))
            row = pos % s.batch_size
            assert b["step"] == swift["step"]
            np.testing.assert_array_equal(b["tokens"][row], swift["tokens"])
            np.testing.assert_array_equal(b["mask"][row], swift["mask"])
            assert b["t"][row] == swift["t"] and b["weight"][row] == swift["weight"]
            assert int(b["keys"][row]) == int(swift["key"])


@pytest.mark.parametrize("plan", ["short", "exactk"])
def test_short_batches_match_the_swift_library(work, plan):
    s = Schedule(str(work / "schedules" / plan))
    ds = Dataset(str(work / "shards"), "train")
    assert s.config["short_fraction"] == 0.5
    epochs = s.manifest["ledger"]["epochs"]
    lengths = {(e, b): s.batch_length(e, b) for e in range(epochs) for b in range(s.batches_per_epoch)}
    short = [k for k, n in lengths.items() if n < s.seq_len]
    assert len(short) == s.manifest["ledger"]["short_batches"] and 5 < len(short) < len(lengths) - 5
    checked = 0
    for e, b in short[:6] + [k for k, n in lengths.items() if n == s.seq_len][:2]:
        order, codes = s.epoch(e)
        batch = s.batch(ds, e, b, (order, codes))
        n = batch["length"]
        assert n == lengths[(e, b)]
        assert batch["tokens"].shape == (len(batch["sequences"]), n + 1) and batch["mask"].shape == (len(batch["sequences"]), n)
        for row in [0, len(batch["sequences"]) - 1]:
            sequence = int(batch["sequences"][row])
            np.testing.assert_array_equal(batch["tokens"][row], ds[sequence][:n + 1])
            swift = show(work, plan, e, sequence)
            assert swift["step"] == batch["step"] and swift["length"] == n
            np.testing.assert_array_equal(batch["tokens"][row], swift["tokens"])
            np.testing.assert_array_equal(batch["mask"][row], swift["mask"])
            assert int(batch["keys"][row]) == int(swift["key"]) and batch["t"][row] == swift["t"]
            assert batch["weight"][row] == swift["weight"]
            if plan == "exactk":
                k = int(batch["mask"][row].sum())
                # weight 1 / (k P(k)), P(k) counted over all 65536 t codes (L/k when L divides 65536).
                codes_for_k = int(np.sum(1 + (np.arange(65536) * n >> 16) == k))
                assert batch["t"][row] == k / n and abs(batch["weight"][row] - 65536 / (k * codes_for_k)) < 1e-9 * n
            checked += 1
    assert checked == 16


def test_batch_length_is_the_documented_draw():
    # FORMAT.md: u from the first output of the (seed, epoch, batch) stream, the length from the next ones.
    assert [next(stream(5)) for _ in range(2)] == [next(stream(5))] * 2
    rng = stream(123)
    assert unit(rng) < 1 and 0 <= below(7, rng) < 7
    counts = np.zeros(17, int)
    for b in range(20000):
        counts[batch_length(9, 2, b, 16, 0.25)] += 1
    assert counts[0] == 0 and abs(counts[1:16].sum() / 20000 - 0.25 * 15 / 16) < 0.015
    assert all(abs(c - 20000 * 0.25 / 16) < 120 for c in counts[1:16])
    assert all(batch_length(9, 0, b, 16, 0) == 16 for b in range(100))


def test_gaussian_noise_matches(work):
    s = Schedule(str(work / "schedules" / "gauss"))
    ds = Dataset(str(work / "shards"), "train")
    swift = show(work, "gauss", 1, 5)
    order, codes = s.epoch(1)
    pos = int(np.where(order == 5)[0][0])
    b = s.batch(ds, 1, pos // s.batch_size, (order, codes))
    key = int(b["keys"][pos % s.batch_size])
    assert key == int(swift["key"])
    np.testing.assert_allclose(gaussian_noise(key, 16), swift["noise_head"], rtol=1e-6, atol=1e-6)
    assert "mask" not in b


def test_batches_cover_every_sequence_once_per_epoch_and_split_by_rank(work):
    s = Schedule(str(work / "schedules" / "ar"))
    shards = str(work / "shards")
    per_epoch = s.batches_per_epoch
    seen = np.concatenate([b["sequences"] for b in s.batches(shards, 0, per_epoch)])
    assert sorted(seen.tolist()) == list(range(s.n))
    whole = list(s.batches(shards, per_epoch, per_epoch + 3))
    parts = [list(s.batches(shards, per_epoch, per_epoch + 3, rank=r, world=2)) for r in range(2)]
    for k in range(3):
        joined = np.concatenate([parts[0][k]["sequences"], parts[1][k]["sequences"]])
        np.testing.assert_array_equal(joined, whole[k]["sequences"][:len(joined)])
    assert "mask" not in whole[0] and s.validation() is None


def test_a_spread_budget_reads_the_sequences_it_names(work):
    s = Schedule(str(work / "schedules" / "budget"))
    shards = str(work / "shards")
    split = s.manifest["split_sequences"]
    assert s.n == 12 and split == len(Dataset(shards, "train")) and split > 2 * s.n
    per_epoch = list(s.batches(shards, 0, s.batches_per_epoch))
    seen = np.concatenate([b["sequences"] for b in per_epoch])
    assert len(set(seen.tolist())) == 12 and seen.max() > split // 2, "spread over the split, each once"
    for sequence in seen[[0, 5, 11]]:
        swift = show(work, "budget", 0, int(sequence))
        b = per_epoch[swift["batch"]]
        row = int(np.where(b["sequences"] == sequence)[0][0])
        assert row == swift["row"]
        np.testing.assert_array_equal(b["tokens"][row], swift["tokens"])
        np.testing.assert_array_equal(b["mask"][row], swift["mask"])


def test_validation_plan_is_stratified(work):
    v = Schedule(str(work / "schedules" / "bern")).validation()
    assert v.shape[1] == 4
    strata = np.sort(((v.astype(np.float64) + 0.5) / 65536 * 4).astype(int), axis=1)
    np.testing.assert_array_equal(strata, np.tile(np.arange(4), (len(v), 1)))


def test_damaged_plan_is_an_error(work, tmp_path):
    copy = tmp_path / "plan"
    shutil.copytree(work / "schedules" / "bern", copy)
    path = copy / "epoch-00001.plan"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    s = Schedule(str(copy))
    s.epoch(0)
    with pytest.raises(ScheduleError, match="epoch-00001.plan"):
        s.epoch(1)
