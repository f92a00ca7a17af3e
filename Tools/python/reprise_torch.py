"""A PyTorch IterableDataset over Reprise shards and a schedule: every global step's batch, in the
schedule's order and with its masks, split across data-parallel ranks and DataLoader workers.

    from reprise_torch import RepriseIterableDataset, loader
    ds = RepriseIterableDataset("SHARDS_DIR", "SCHEDULE_DIR", start_step=0)   # rank/world from torch.distributed
    for batch in loader(ds, num_workers=2):          # one dict of tensors per global step, in step order
        batch["step"], batch["input_ids"], batch["labels"], batch["loss_weight"]

Every batch dict holds step, epoch, batch, length (ints), sequences (int64, rows) and tokens (int64,
rows × (L + 1)), and for the trainers' objectives the model inputs the Swift trainer builds
(RepriseTrain/Objectives.swift). L is the batch's `length`: the schedule's seq_len, or less for the short
batches of an mdlm schedule (`short_fraction`, default 1% of the batches), whose rows are the first L + 1
tokens of their sequences; every array below then has L columns, so batches may differ in shape.

- ar: input_ids = tokens[:, :L], labels = tokens[:, 1:], loss_weight = 1.
- mdlm: labels = tokens[:, :L], mask (bool) regenerated exactly as the Swift library does, input_ids = labels
  with masked positions replaced by the `<|mask|>` id, t, alpha, weight (per row) and loss_weight = weight at
  masked positions and 0 elsewhere. The loss is Σ loss_weight · CE / (rows · L), with the mask id's logit
  excluded from the softmax (rows · L with the batch's own L, as the Swift trainer divides).
- gaussian: input_ids = tokens[:, :L], t, alpha, weight and keys (the row's noise key; its bits as int64,
  `reprise_schedules.gaussian_noise(key & (2**64 - 1), L * C)` is the noise).

labels are aligned with input_ids (labels[:, j] is position j's target): compute the loss from the logits,
do not pass them as HuggingFace's `labels=`, which shifts again.

Ranks: each step's rows are cut into `world` equal contiguous parts (the remainder left out), rank r takes
part r, exactly as `reprise_schedules.Schedule.batches`. Workers: DataLoader worker k of K takes global steps
start + k, start + k + K, ...; with `batch_size=None` the DataLoader asks its workers in turn and returns
their items in that order (in_order=True, the default), so the steps come out consecutively. `loader()`
builds such a DataLoader. Resume: `start_step=s` yields exactly the tail of a full pass from step s.

Everything but the class itself needs only numpy (StepStream, worker_steps, rank_rows, model_inputs,
mask_token_id), so it is tested without torch.
"""
import hashlib
import json
import os

import numpy as np

from reprise_schedules import Schedule, ScheduleError
from reprise_shards import Dataset

try:
    import torch
    from torch.utils.data import IterableDataset as _IterableDataset
except ImportError:  # numpy-only use (CI): everything but RepriseIterableDataset and loader works
    torch = None
    _IterableDataset = object

MASK_TOKEN = "<|mask|>"


# ---------------------------------------------------------------------------------------------------------
# numpy only

def worker_steps(start, stop, worker=0, workers=1):
    """The global steps DataLoader worker `worker` of `workers` yields: start + worker, + workers, ..."""
    if not (workers >= 1 and 0 <= worker < workers):
        raise ValueError(f"need 0 <= worker < workers, got worker {worker} of {workers}")
    return range(start + worker, stop, workers)


def rank_rows(rows, rank=0, world=1):
    """The rows of a batch of `rows` that `rank` of `world` takes: equal contiguous parts, remainder left out."""
    if not (world >= 1 and 0 <= rank < world):
        raise ValueError(f"need 0 <= rank < world, got rank {rank} of {world}")
    share = rows // world
    return slice(rank * share, (rank + 1) * share)


def _tokenizer_identity(directory):
    """SHA-256 the shards manifest records for its tokenizer (`tokenizer_sha256`)."""
    parts = []
    for name in ("tokenizer.tiktoken", "manifest.json"):
        with open(os.path.join(directory, name), "rb") as f:
            parts.append(hashlib.sha256(f.read()).hexdigest())
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def find_tokenizer(shards_dir):
    """The tokenizer directory the shards were packed with: the manifest's `tokenizer_dir`, which is relative
    to the shards directory (an absolute path is used as it is); then a `tokenizer` directory next to the
    shards. None when neither holds a tokenizer manifest."""
    with open(os.path.join(shards_dir, "manifest.json")) as f:
        recorded = json.load(f).get("tokenizer_dir", "")
    candidates = []
    if recorded:
        candidates.append(os.path.normpath(os.path.join(os.path.abspath(shards_dir), recorded)))
    candidates.append(os.path.join(os.path.dirname(os.path.abspath(shards_dir)), "tokenizer"))
    for c in candidates:
        if os.path.exists(os.path.join(c, "manifest.json")):
            return c
    return None


def mask_token_id(shards_dir, tokenizer_dir=None):
    """The `<|mask|>` id of the tokenizer the shards were packed with (from its manifest's special_tokens),
    or None when it has none. The tokenizer must be the one the shards manifest names (`tokenizer_sha256`)."""
    with open(os.path.join(shards_dir, "manifest.json")) as f:
        pack = json.load(f)
    directory = tokenizer_dir or find_tokenizer(shards_dir)
    if directory is None:
        raise ScheduleError(f"{shards_dir}: cannot find the tokenizer it was packed with "
                            f"({pack.get('tokenizer_dir')!r}); pass tokenizer_dir= or mask_id=")
    identity = pack.get("tokenizer_sha256")
    if identity and os.path.exists(os.path.join(directory, "tokenizer.tiktoken")) \
            and _tokenizer_identity(directory) != identity:
        raise ScheduleError(f"{directory}: this tokenizer is not the one {shards_dir} was packed with; "
                            f"pass the tokenizer given to `reprise pack` (or mask_id=)")
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    return manifest.get("special_tokens", {}).get(MASK_TOKEN)


def model_inputs(batch, objective, mask_id=None):
    """The model's inputs from a schedule batch (numpy dict with tokens and, for mdlm, mask, weight), as the
    Swift trainer builds them: input_ids, labels (aligned), loss_weight (float32) and for mdlm a bool mask.
    The length L is the batch's own (tokens has L + 1 columns), shorter than seq_len for a short batch."""
    tokens = np.asarray(batch["tokens"], dtype=np.int64)
    L = tokens.shape[1] - 1
    if objective == "ar":
        return {"input_ids": tokens[:, :L].copy(), "labels": tokens[:, 1:].copy(),
                "loss_weight": np.ones((len(tokens), L), dtype=np.float32)}
    if objective == "mdlm":
        if mask_id is None:
            raise ValueError("the mdlm objective needs the tokenizer's <|mask|> id (mask_id)")
        labels = tokens[:, :L].copy()
        mask = np.asarray(batch["mask"]).reshape(len(tokens), L).astype(bool)
        weight = np.asarray(batch["weight"], dtype=np.float32).reshape(-1, 1)
        return {"input_ids": np.where(mask, np.int64(mask_id), labels), "labels": labels, "mask": mask,
                "loss_weight": np.where(mask, weight, np.float32(0)).astype(np.float32)}
    if objective == "gaussian":
        return {"input_ids": tokens[:, :L].copy()}
    raise ValueError(f"unknown objective {objective!r}")


class StepStream:
    """The numpy core of RepriseIterableDataset: global steps start_step..<stop_step of a schedule, this
    rank's rows of each, as dicts of numpy arrays (see the module docstring for the keys)."""

    def __init__(self, shards_dir, schedule_dir, start_step=0, stop_step=None, rank=0, world=1,
                 mask_id=None, tokenizer_dir=None):
        self.shards_dir, self.schedule_dir = str(shards_dir), str(schedule_dir)
        self.schedule = Schedule(self.schedule_dir)
        with open(os.path.join(self.shards_dir, "manifest.json"), "rb") as f:
            raw = f.read()
        pack = json.loads(raw)
        if self.schedule.manifest.get("input_hash") not in (None, hashlib.sha256(raw).hexdigest()):
            raise ScheduleError(f"{self.schedule_dir}: this schedule was built for another dataset than "
                                f"{self.shards_dir} (its shards manifest differs); rebuild it with `reprise schedule`")
        needed = self.schedule.manifest.get("split_sequences") or self.schedule.n  # a budget takes part of the split
        if pack["train"]["sequences"] < needed:
            raise ScheduleError(f"{self.schedule_dir}: the plan takes {self.schedule.n} of {needed} sequences, "
                                f"{self.shards_dir} has {pack['train']['sequences']}; rebuild the schedule")
        self.objective = self.schedule.objective
        self.seq_len = self.schedule.seq_len
        self.vocab_size = pack.get("vocab_size")
        self.steps = self.schedule.manifest["ledger"]["steps"]
        self.start = int(start_step)
        self.stop = self.steps if stop_step is None else int(stop_step)
        if not 0 <= self.start <= self.stop <= self.steps:
            raise ValueError(f"need 0 <= start_step ({self.start}) <= stop_step ({self.stop}) <= {self.steps}, "
                             f"the schedule's steps")
        rank_rows(self.schedule.batch_size, rank, world)  # checks rank and world
        self.rank, self.world = rank, world
        self.mask_id = None
        if self.objective == "mdlm":
            self.mask_id = mask_id if mask_id is not None else mask_token_id(self.shards_dir, tokenizer_dir)
            if self.mask_id is None:
                raise ScheduleError(f"{self.shards_dir}: the tokenizer has no {MASK_TOKEN} token, which the mdlm "
                                    f"objective needs; pass mask_id=")
            if self.vocab_size is not None and not 0 <= self.mask_id < self.vocab_size:
                raise ValueError(f"mask id {self.mask_id} is outside the vocabulary of {self.vocab_size}")

    def __len__(self):
        return self.stop - self.start

    def rows(self, step):
        """Rows of global step `step` (the last batch of an epoch may be shorter) and this rank's slice."""
        b = step % self.schedule.batches_per_epoch
        rows = min(self.schedule.batch_size, self.schedule.n - b * self.schedule.batch_size)
        return rows, rank_rows(rows, self.rank, self.world)

    def iterate(self, worker=0, workers=1):
        """This rank's part of each step of worker `worker` of `workers`, in step order. Opens its own shard
        files (call it inside each worker: forked workers must not share file offsets)."""
        s = self.schedule
        dataset = Dataset(self.shards_dir, "train")
        plan, plan_epoch = None, -1
        for step in worker_steps(self.start, self.stop, worker, workers):
            e, b = divmod(step, s.batches_per_epoch)
            if e != plan_epoch:
                plan, plan_epoch = s.epoch(e), e
            _, part = self.rows(step)
            if part.stop > part.start:
                batch = s.batch(dataset, e, b, plan, part)
            else:  # more ranks than rows in this (last, short) batch: an empty batch on every rank
                batch = self._empty(e, b, step)
            batch.update(model_inputs(batch, self.objective, self.mask_id))
            yield batch

    def __iter__(self):
        return self.iterate()

    def _empty(self, e, b, step):
        s = self.schedule
        L = s.batch_length(e, b)
        batch = {"tokens": np.zeros((0, L + 1), np.int64), "sequences": np.zeros(0, np.int64), "length": L,
                 "epoch": e, "batch": b, "step": step}
        if s.table is not None:
            batch.update(t=np.zeros(0), alpha=np.zeros(0), weight=np.zeros(0), keys=np.zeros(0, np.uint64))
            if self.objective == "mdlm":
                batch["mask"] = np.zeros((0, L), np.uint8)
        return batch


# ---------------------------------------------------------------------------------------------------------
# torch

def _to_tensors(batch):
    out = {}
    for k, v in batch.items():
        if isinstance(v, np.ndarray):
            if v.dtype == np.uint64:
                v = v.view(np.int64)  # keys: the same 64 bits
            elif v.dtype == np.uint8:
                v = v.astype(bool)
            elif v.dtype == np.float64:
                v = v.astype(np.float32)
            out[k] = torch.from_numpy(np.ascontiguousarray(v))
        else:
            out[k] = int(v)
    return out


class RepriseIterableDataset(_IterableDataset):
    """Global steps start_step..<stop_step of a schedule as dicts of tensors, this rank's rows of each,
    split over DataLoader workers by step (use `loader()` or DataLoader(batch_size=None)).

    rank/world default to torch.distributed's when it is initialized (else 0 and 1); mask_id defaults to the
    `<|mask|>` id of the tokenizer the shards were packed with (found from the shards manifest, or
    tokenizer_dir)."""

    def __init__(self, shards_dir, schedule_dir, start_step=0, stop_step=None, rank=None, world=None,
                 mask_id=None, tokenizer_dir=None):
        if torch is None:
            raise ImportError("RepriseIterableDataset needs PyTorch (pip install torch); StepStream needs numpy only")
        super().__init__()
        if rank is None or world is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            rank = (dist.get_rank() if ready else 0) if rank is None else rank
            world = (dist.get_world_size() if ready else 1) if world is None else world
        self.stream = StepStream(shards_dir, schedule_dir, start_step, stop_step, rank, world, mask_id, tokenizer_dir)
        self.objective, self.seq_len, self.mask_id = self.stream.objective, self.stream.seq_len, self.stream.mask_id
        self.rank, self.world = rank, world

    def __len__(self):
        return len(self.stream)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for batch in self.stream.iterate(worker, workers):
            yield _to_tensors(batch)


def loader(dataset, num_workers=0, pin_memory=False, **kwargs):
    """A DataLoader that returns the dataset's steps one per item, in step order: batch_size=None (the
    dataset yields whole batches) and in_order=True (the default; never set it to False)."""
    if kwargs.get("in_order") is False:
        raise ValueError("in_order=False would reorder the schedule's steps")
    return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
                                       **kwargs)
