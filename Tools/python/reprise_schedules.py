"""Read Reprise schedules (`reprise schedule` outputs) from Python and regenerate every mask and noise exactly.

    from reprise_schedules import Schedule
    plan = Schedule("SCHEDULE_DIR")
    for batch in plan.batches(shards_dir):        # dicts: tokens, sequences, t, alpha, weight, keys, mask
        ...
    plan.epoch(e)                                  # (order uint32[n], t codes uint16[n])
    plan.mask(key, t_code, length)                 # the uint8 mask the Swift trainer uses for that row
    plan.batch_length(e, b)                        # seq_len, or less for a short mdlm batch (short_fraction)

With `masking: exact_k` (the mdlm default) a row's t is its masked fraction k/L and its weight 1/(k P(k)).

A short batch (mdlm, `short_fraction` of the batches) has `length` L' < seq_len: its tokens are the first
L' + 1 of each sequence, shape (rows, L' + 1), and its masks are drawn over L' positions, shape (rows, L').

The format and every random derivation are in Sources/RepriseSchedules/FORMAT.md. Every file is checked
(SHA-256 against the manifest, zstd content checksum, header); a fault raises ScheduleError naming the file.
"""
import hashlib
import json
import os
import struct

import numpy as np
import zstandard

from reprise_shards import Dataset

MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
GAMMA = 0x9E3779B97F4A7C15
MASK_DOMAIN, VALIDATION_DOMAIN, SHORT_DOMAIN = 0x6D61736B, 0x76616C69, 0x73687274
LEVELS = 65536


class ScheduleError(Exception):
    pass


def mix64(x):
    """SplitMix64's output function of x + gamma, on numpy uint64 arrays (wrap-around arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + np.uint64(GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _mix64_int(x):
    return int(mix64(np.uint64(x & 0xFFFFFFFFFFFFFFFF)))


def sequence_key(seed, epoch, sequence):
    return _mix64_int(_mix64_int(seed ^ MASK_DOMAIN) ^ (epoch << 32 | sequence))


def validation_key(val_seed, sequence, draw):
    return _mix64_int(_mix64_int(val_seed ^ VALIDATION_DOMAIN) ^ (draw << 32 | sequence))


def stream(seed):
    """SplitMix64 seeded with `seed`, as Python ints: mix64(seed), mix64(seed + gamma), ..."""
    state = seed & 0xFFFFFFFFFFFFFFFF
    while True:
        yield _mix64_int(state)
        state = (state + GAMMA) & 0xFFFFFFFFFFFFFFFF


def below(n, rng):
    """A uniform integer in 0..<n from the stream `rng` (multiply-shift with rejection, as the Swift library)."""
    threshold = ((1 << 64) - n) % n
    while True:
        product = next(rng) * n
        if product & 0xFFFFFFFFFFFFFFFF >= threshold:
            return product >> 64


def unit(rng):
    """A uniform double in [0, 1) from the next output's top 53 bits."""
    return (next(rng) >> 11) * 2.0 ** -53


def batch_length(seed, epoch, batch, seq_len, fraction):
    """The length of batch `batch` of epoch `epoch`: with probability `fraction` uniform in 1..seq_len,
    otherwise seq_len (FORMAT.md, "Shorter batches")."""
    if fraction <= 0:
        return seq_len
    rng = stream(_mix64_int(_mix64_int(seed ^ SHORT_DOMAIN) ^ (epoch << 32 | batch)))
    return 1 + below(seq_len, rng) if unit(rng) < fraction else seq_len


def token_bits(key, length):
    """bits_j = mix64(key + j * gamma) for j in 0..<length."""
    with np.errstate(over="ignore"):
        j = np.arange(length, dtype=np.uint64)
        return mix64(np.uint64(key) + j * np.uint64(GAMMA))


def uniform_count(code, length):
    """exact_k: k = 1 + floor(code * L / 65536), uniform in 1..L over the t codes (FORMAT.md, "exact_k")."""
    return 1 + (int(code) * length >> 16)


def uniform_weight(k, length):
    """exact_k: the weight 1 / (k P(k)) = 65536 / (k n_k) of each masked token, n_k = the t codes giving k."""
    def ceil_div(a):
        return (a * LEVELS + length - 1) // length
    return LEVELS / (k * (ceil_div(k) - ceil_div(k - 1)))


def make_mask(key, threshold, length, masking="bernoulli", code=None):
    """The row's uint8 mask; exact_k needs the row's t code, the others its mask threshold."""
    bits = token_bits(key, length)
    mask = np.zeros(length, dtype=np.uint8)
    if masking == "bernoulli":
        mask[(bits >> np.uint64(32)) < np.uint64(threshold)] = 1
        if not mask.any():
            mask[int(np.argmin(bits))] = 1
    elif masking in ("exact", "exact_k"):
        if masking == "exact":
            k = min(max((int(threshold) * length + (1 << 31)) >> 32, 1), length)
        else:
            k = uniform_count(code, length)
        order = np.lexsort((np.arange(length), bits))  # by bits, then position
        mask[order[:k]] = 1
    else:
        raise ValueError(f"unknown masking {masking!r}")
    return mask


def gaussian_noise(key, count):
    """The row's standard normal noise (Box-Muller on the key's SplitMix64 stream), as float32."""
    bits = token_bits(key, (count + 1) // 2)
    u1 = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0 ** -32
    u2 = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0 ** -32
    r = np.sqrt(-2 * np.log(u1))
    out = np.empty(2 * len(bits), dtype=np.float64)
    out[0::2] = r * np.cos(2 * np.pi * u2)
    out[1::2] = r * np.sin(2 * np.pi * u2)
    return out[:count].astype(np.float32)


class Schedule:
    def __init__(self, path):
        self.path = path
        manifest = os.path.join(path, "manifest.json")
        if not os.path.exists(manifest):
            raise ScheduleError(f"no manifest in {path}/: run `reprise schedule` first")
        with open(manifest) as f:
            self.manifest = json.load(f)
        if self.manifest.get("format") != "reprise.schedule" or self.manifest.get("version") != 1:
            raise ScheduleError(f"{manifest}: not a reprise schedule manifest of version 1")
        self.config = self.manifest["config"]
        self.objective = self.config["objective"]
        self.n = self.manifest["train_sequences"]
        self.batch_size = self.config["batch_size"]
        self.batches_per_epoch = self.manifest["ledger"]["batches_per_epoch"]
        self.seq_len = self.manifest["seq_len"]
        self.table = None
        entry = self.manifest.get("noise_table_file")
        if entry:
            count, payload = self._load(entry, 3, 0)
            if count != LEVELS:
                raise ScheduleError(f"{path}/{entry['file']}: {count} levels, expected {LEVELS}")
            d = np.frombuffer(payload, dtype="<f8", count=3 * LEVELS)
            self.table = {"t": d[:LEVELS], "alpha": d[LEVELS:2 * LEVELS], "weight": d[2 * LEVELS:],
                          "threshold": np.frombuffer(payload, dtype="<u4", count=LEVELS, offset=24 * LEVELS)}

    def _load(self, entry, kind, index):
        path = os.path.join(self.path, entry["file"])
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            raise ScheduleError(f"{path}: missing; rebuild the schedule with `reprise schedule`")
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ScheduleError(f"{path}: size or SHA-256 differs from the manifest (damaged or from another schedule)")
        try:
            # Plan files are written by a streaming compressor, so the frame header has no content size.
            d = zstandard.ZstdDecompressor().decompressobj()
            raw = d.decompress(data)
            if not d.eof:
                raise zstandard.ZstdError("truncated frame")
        except zstandard.ZstdError as e:
            raise ScheduleError(f"{path}: damaged plan file ({e})")
        if len(raw) < 32 or raw[:8] != b"RPRSPLAN":
            raise ScheduleError(f"{path}: not a reprise plan file (bad magic)")
        version, k, i, count, _columns, _ = struct.unpack_from("<IIIIII", raw, 8)
        if version != 1:
            raise ScheduleError(f"{path}: plan format version {version}, this reader reads version 1")
        if k != kind or i != index:
            raise ScheduleError(f"{path}: holds plan kind {k} index {i}, expected kind {kind} index {index}")
        return count, raw[32:]

    def epoch(self, e):
        """The order of epoch e (uint32 sequence indices) and its t codes (uint16; empty for ar)."""
        files = self.manifest["epoch_files"]
        if not 0 <= e < len(files):
            raise ScheduleError(f"{self.path}: epoch {e} is out of range; the plan has {len(files)} epochs")
        count, payload = self._load(files[e], 1, e)
        if count != self.n:
            raise ScheduleError(f"{self.path}/{files[e]['file']}: {count} rows, expected {self.n}")
        order = np.frombuffer(payload, dtype="<u4", count=count)
        codes = np.frombuffer(payload, dtype="<u2", count=count, offset=4 * count) if self.table is not None \
            else np.zeros(0, dtype=np.uint16)
        return order, codes

    def validation(self):
        """The validation plan's t codes, shape (validation sequences, draws), or None for ar."""
        entry = self.manifest.get("validation_file")
        if not entry:
            return None
        count, payload = self._load(entry, 2, 0)
        draws = self.config["val_draws"]
        return np.frombuffer(payload, dtype="<u2", count=count).reshape(-1, draws)

    def mask(self, key, code, length=None):
        return make_mask(key, self.table["threshold"][code], length or self.seq_len, self.config["masking"], code)

    def batch_length(self, epoch, b):
        """The length of batch b of an epoch: seq_len, or for a share `short_fraction` of mdlm batches a
        random shorter one (validation is never shortened)."""
        return batch_length(self.config["seed"], epoch, b, self.seq_len, self.config.get("short_fraction") or 0)

    def _rows(self, tokens, sequences, codes, keys, length):
        batch = {"tokens": tokens, "sequences": sequences, "length": length}
        if self.table is not None:
            batch.update(t=self.table["t"][codes], alpha=self.table["alpha"][codes],
                         weight=self.table["weight"][codes], keys=keys)
            if self.objective == "mdlm":
                batch["mask"] = np.stack([self.mask(k, c, length) for k, c in zip(keys, codes)])
                if self.config["masking"] == "exact_k":
                    # t is the masked fraction k/L and the weight 1/(k P(k)) (L/k when L divides 65536).
                    ks = [uniform_count(c, length) for c in codes]
                    batch["t"] = np.array([k / length for k in ks])
                    batch["alpha"] = 1 - batch["t"]
                    batch["weight"] = np.array([uniform_weight(k, length) for k in ks])
        return batch

    def batch(self, dataset, epoch, b, plan=None, rows=None):
        """Batch b of an epoch as a dict of numpy arrays: length (the batch's length L, seq_len but for short
        batches), tokens (rows, L + 1: each sequence's first L + 1 tokens), sequences, and for the diffusion
        objectives t, alpha, weight, keys (uint64) and, for mdlm, mask (rows, L)."""
        order, codes = plan if plan is not None else self.epoch(epoch)
        lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, self.n)
        idx = np.arange(lo, hi)[rows] if rows is not None else np.arange(lo, hi)
        sequences = order[idx].astype(np.int64)
        length = self.batch_length(epoch, b)
        tokens = np.stack([dataset[int(s)][:length + 1] for s in sequences])
        keys = np.array([sequence_key(self.config["seed"], epoch, int(s)) for s in sequences], dtype=np.uint64) \
            if self.table is not None else None
        out = self._rows(tokens, sequences, codes[idx] if self.table is not None else None, keys, length)
        out.update(epoch=epoch, batch=b, step=epoch * self.batches_per_epoch + b)
        return out

    def batches(self, shards, start=0, stop=None, rank=0, world=1):
        """Batches in plan order from global step `start`; with rank/world, each batch's rows are split into
        `world` equal contiguous parts (the remainder left out) and this rank gets part `rank`."""
        dataset = Dataset(shards, "train")
        needed = self.manifest.get("split_sequences") or self.n  # a plan may take part of the split (a budget)
        if len(dataset) < needed:
            raise ScheduleError(f"{self.path}: the plan takes {self.n} of {needed} sequences, {shards} has {len(dataset)}; rebuild the schedule")
        stop = self.manifest["ledger"]["steps"] if stop is None else stop
        plan, plan_epoch = None, -1
        for step in range(start, stop):
            e, b = divmod(step, self.batches_per_epoch)
            if e != plan_epoch:
                plan, plan_epoch = self.epoch(e), e
            rows = min(self.batch_size, self.n - b * self.batch_size)
            share = rows // world
            yield self.batch(dataset, e, b, plan, slice(rank * share, (rank + 1) * share))
