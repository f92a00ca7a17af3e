"""Tests of reprise_torch against shards and schedules the `reprise` binary builds (REPRISE_BIN). The numpy
core (steps per worker, rows per rank, model inputs, mask id, resume) needs numpy only; the DataLoader tests
need torch (installed by Tools/test; skipped elsewhere when it is missing)."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from reprise_schedules import Schedule, ScheduleError
from reprise_shards import Dataset
from reprise_torch import StepStream, find_tokenizer, mask_token_id, model_inputs, rank_rows, worker_steps

from conftest import BIN, require, run_pipeline


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("torch")
    return run_pipeline(work, ["08-ruth.txt", "31-obadiah.txt", "32-jonah.txt"], (
        "  tokenizer:\n    config: {vocab_size: 400}\n"
        "  pack:\n    config: {seq_len: 32, val_fraction: 0.3, frame_tokens: 256}\n"
        "  schedules:\n"
        "    ar: {objective: ar, epochs: 2, batch_size: 8, seed: 4}\n"
        "    mdlm: {objective: mdlm, epochs: 2, batch_size: 7, seed: 3, noise: cosine}\n"
        "    short: {objective: mdlm, epochs: 2, batch_size: 7, seed: 3, short_fraction: 0.5}\n"))


def stream(work, plan, **kw):
    return StepStream(str(work / "shards"), str(work / "schedules" / plan), **kw)


def same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_worker_steps_partition_the_range_in_order():
    for start, stop, k in [(0, 10, 1), (0, 10, 3), (5, 17, 4), (7, 7, 2), (3, 5, 4)]:
        parts = [list(worker_steps(start, stop, w, k)) for w in range(k)]
        assert sorted(sum(parts, [])) == list(range(start, stop))
        assert all(p == sorted(p) for p in parts)
        # the DataLoader's round-robin over the workers gives the steps back in order
        merged, i = [], 0
        while any(parts):
            if parts[i % k]:
                merged.append(parts[i % k].pop(0))
            i += 1
        assert merged == list(range(start, stop))
    with pytest.raises(ValueError):
        worker_steps(0, 5, 2, 2)


def test_rank_rows_are_equal_contiguous_parts():
    for rows, world in [(16, 1), (16, 2), (16, 3), (2, 4), (7, 7)]:
        parts = [rank_rows(rows, r, world) for r in range(world)]
        assert len({p.stop - p.start for p in parts}) == 1
        assert parts[0].start == 0 and all(a.stop == b.start for a, b in zip(parts, parts[1:]))
        assert parts[-1].stop == rows - rows % world
    with pytest.raises(ValueError):
        rank_rows(8, 2, 2)


@pytest.mark.parametrize("plan", ["ar", "mdlm", "short"])
def test_ranks_and_workers_cover_each_batch_exactly_once(work, plan):
    full = list(stream(work, plan))
    s = Schedule(str(work / "schedules" / plan))
    assert [b["step"] for b in full] == list(range(s.manifest["ledger"]["steps"]))
    for e in range(s.manifest["ledger"]["epochs"]):
        seen = np.concatenate([b["sequences"] for b in full if b["epoch"] == e])
        assert sorted(seen.tolist()) == list(range(s.n))
    for world in [2, 3]:
        for workers in [1, 2, 3]:
            got = {}
            for rank in range(world):
                st = stream(work, plan, rank=rank, world=world)
                for w in range(workers):
                    for b in st.iterate(w, workers):
                        assert b["step"] % workers == w
                        got.setdefault(b["step"], {})[rank] = b
            assert sorted(got) == [b["step"] for b in full]
            for whole in full:
                parts = got[whole["step"]]
                rows = len(whole["sequences"]) // world * world
                for key in ["sequences", "tokens", "input_ids", "labels", "loss_weight"] + \
                           (["mask", "t", "weight"] if plan == "mdlm" else []):
                    joined = np.concatenate([parts[r][key] for r in range(world)])
                    np.testing.assert_array_equal(joined, whole[key][:rows], err_msg=key)


def test_ranks_agree_with_the_schedule_reader(work):
    shards, plan = str(work / "shards"), str(work / "schedules" / "mdlm")
    theirs = list(Schedule(plan).batches(shards, 3, 9, rank=1, world=3))
    mine = list(stream(work, "mdlm", start_step=3, stop_step=9, rank=1, world=3))
    for a, b in zip(theirs, mine):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_mdlm_inputs_carry_the_mask_id_exactly_where_the_mask_is(work):
    st = stream(work, "mdlm")
    tok = json.loads((work / "tokenizer" / "manifest.json").read_text())
    assert st.mask_id == tok["special_tokens"]["<|mask|>"] == mask_token_id(str(work / "shards"))
    ds = Dataset(str(work / "shards"))
    masked = 0
    for b, ref in zip(st, Schedule(str(work / "schedules" / "mdlm")).batches(str(work / "shards"))):
        m = b["mask"].astype(bool)
        np.testing.assert_array_equal(b["mask"], ref["mask"])
        np.testing.assert_array_equal(b["input_ids"] == st.mask_id, m)
        np.testing.assert_array_equal(b["input_ids"][~m], b["labels"][~m])
        np.testing.assert_array_equal(b["labels"], np.stack([ds[int(s)][:b["length"]] for s in b["sequences"]]))
        np.testing.assert_array_equal(b["loss_weight"], np.where(m, b["weight"][:, None], 0).astype(np.float32))
        assert m.any(axis=1).all()
        masked += m.sum()
    assert masked > 0
    # the mask of one row, as the Swift library reports it
    order, _ = st.schedule.epoch(1)
    step = st.schedule.batches_per_epoch + 2
    b = next(stream(work, "mdlm", start_step=step, stop_step=step + 1).iterate())
    swift = json.loads(subprocess.run(
        [BIN, "schedule", "show", str(work / "schedules" / "mdlm"), "--shards", str(work / "shards"), "--epoch", "1",
         "--sequence", str(int(b["sequences"][3])), "--json"], check=True, capture_output=True, text=True).stdout)
    assert swift["step"] == step
    np.testing.assert_array_equal(b["input_ids"][3] == st.mask_id, np.array(swift["mask"], dtype=bool))
    np.testing.assert_array_equal(b["tokens"][3], swift["tokens"])


def test_mask_id_override_and_errors(work, tmp_path):
    shards = str(work / "shards")
    assert stream(work, "mdlm", mask_id=5).mask_id == 5
    b = next(stream(work, "mdlm", mask_id=5).iterate())
    assert ((b["input_ids"] == 5) | ~b["mask"].astype(bool)).all()
    with pytest.raises(ValueError, match="outside the vocabulary"):
        stream(work, "mdlm", mask_id=400)
    assert find_tokenizer(shards) is not None
    # a tokenizer that is not the one the shards were packed with
    other = tmp_path / "tok"
    shutil.copytree(work / "tokenizer", other)
    with open(other / "tokenizer.tiktoken", "ab") as f:
        f.write(b"\n")
    with pytest.raises(ScheduleError, match="not the one"):
        stream(work, "mdlm", tokenizer_dir=str(other))
    # shards whose tokenizer cannot be found
    moved = tmp_path / "elsewhere" / "shards"
    shutil.copytree(work / "shards", moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["tokenizer_dir"] = "/nonexistent/tokenizer"
    (moved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ScheduleError, match="mask_id="):
        mask_token_id(str(moved))
    # ...and a schedule built for the original manifest refuses the edited one
    with pytest.raises(ScheduleError, match="another dataset"):
        StepStream(str(moved), str(work / "schedules" / "mdlm"), mask_id=3)
    with pytest.raises(ValueError, match="mask_id"):
        model_inputs({"tokens": np.zeros((1, 5)), "mask": np.zeros((1, 4)), "weight": np.ones(1)}, "mdlm")


def test_ar_labels_are_the_inputs_shifted(work):
    st = stream(work, "ar")
    ds = Dataset(str(work / "shards"))
    assert st.mask_id is None
    for b in st:
        np.testing.assert_array_equal(b["input_ids"], b["tokens"][:, :-1])
        np.testing.assert_array_equal(b["labels"], b["tokens"][:, 1:])
        np.testing.assert_array_equal(b["labels"][:, :-1], b["input_ids"][:, 1:])
        for r, s in enumerate(b["sequences"]):
            np.testing.assert_array_equal(b["tokens"][r], ds[int(s)])
        assert (b["loss_weight"] == 1).all() and "mask" not in b


def test_short_batches_give_model_inputs_of_their_own_length(work):
    st = stream(work, "short")
    ref = Schedule(str(work / "schedules" / "short")).batches(str(work / "shards"))
    lengths = []
    for b, r in zip(st, ref):
        L, rows = b["length"], len(b["sequences"])
        lengths.append(L)
        assert L == r["length"] == st.schedule.batch_length(b["epoch"], b["batch"])
        np.testing.assert_array_equal(b["tokens"], r["tokens"])
        for key in ["input_ids", "labels", "loss_weight", "mask"]:
            assert b[key].shape == (rows, L), key
        np.testing.assert_array_equal(b["labels"], b["tokens"][:, :L])
        np.testing.assert_array_equal(b["input_ids"] == st.mask_id, b["mask"].astype(bool))
    assert min(lengths) < 32 and lengths.count(32) > 0
    assert sum(n < 32 for n in lengths) == st.schedule.manifest["ledger"]["short_batches"]
    # an empty part of a short batch (more ranks than rows) has the batch's length too
    e, b = next((e, b) for e in range(2) for b in range(st.schedule.batches_per_epoch)
                if st.schedule.batch_length(e, b) < 32)
    empty = st._empty(e, b, e * st.schedule.batches_per_epoch + b)
    empty.update(model_inputs(empty, "mdlm", st.mask_id))
    L = st.schedule.batch_length(e, b)
    assert empty["tokens"].shape == (0, L + 1) and empty["input_ids"].shape == (0, L) and empty["length"] == L


@pytest.mark.parametrize("plan", ["ar", "mdlm", "short"])
def test_resume_yields_the_tail_of_a_full_pass(work, plan):
    full = list(stream(work, plan, rank=1, world=2))
    n = len(full)
    for start in [1, n // 2, n - 1, n]:  # across an epoch boundary too
        for workers in [1, 2]:
            st = stream(work, plan, start_step=start, rank=1, world=2)
            assert len(st) == n - start
            parts = [list(st.iterate(w, workers)) for w in range(workers)]
            tail = sorted(sum(parts, []), key=lambda b: b["step"])
            assert len(tail) == n - start
            for a, b in zip(tail, full[start:]):
                same(a, b)
    with pytest.raises(ValueError):
        stream(work, plan, start_step=n + 1)


def test_more_ranks_than_rows_gives_empty_batches(work):
    s = Schedule(str(work / "schedules" / "mdlm"))
    last = s.batches_per_epoch - 1
    short = s.n - last * s.batch_size
    assert short < s.batch_size  # the fixture's last batch is short
    st = stream(work, "mdlm", start_step=last, stop_step=last + 2, rank=0, world=short + 1)
    empty, nxt = list(st)
    L = s.batch_length(0, last)
    assert empty["tokens"].shape == (0, L + 1) and empty["input_ids"].shape == (0, L) and empty["mask"].shape == (0, L)
    assert len(nxt["sequences"]) == s.batch_size // (short + 1)


# ---------------------------------------------------------------------------------------------------------
# torch


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_dataloader_returns_steps_in_order(work, workers):
    torch = require("torch")
    from reprise_torch import RepriseIterableDataset, loader

    ds = RepriseIterableDataset(str(work / "shards"), str(work / "schedules" / "mdlm"), start_step=2, stop_step=13,
                                rank=1, world=2)
    ref = list(stream(work, "mdlm", start_step=2, stop_step=13, rank=1, world=2))
    got = list(loader(ds, num_workers=workers))
    assert [b["step"] for b in got] == list(range(2, 13)) and len(ds) == 11
    for a, b in zip(got, ref):
        assert a["input_ids"].dtype == torch.int64 and a["mask"].dtype == torch.bool
        assert a["tokens"].shape == (3, b["length"] + 1)
        for k in ["tokens", "input_ids", "labels", "mask", "loss_weight", "sequences"]:
            np.testing.assert_array_equal(a[k].numpy(), b[k], err_msg=k)
        np.testing.assert_array_equal(a["keys"].numpy().view(np.uint64), b["keys"])
        np.testing.assert_allclose(a["weight"].numpy(), b["weight"], rtol=1e-6)


def test_rank_and_world_come_from_torch_distributed(work, tmp_path):
    torch = require("torch")
    import torch.distributed as dist
    from reprise_torch import RepriseIterableDataset

    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        ds = RepriseIterableDataset(str(work / "shards"), str(work / "schedules" / "ar"))
        assert (ds.rank, ds.world) == (0, 1)
    finally:
        dist.destroy_process_group()
    ds = RepriseIterableDataset(str(work / "shards"), str(work / "schedules" / "ar"), rank=1, world=4)
    b = next(iter(ds))
    assert b["input_ids"].shape == (2, 32) and b["labels"].dtype == torch.int64
