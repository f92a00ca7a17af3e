#!/usr/bin/env python3
"""Writes the safetensors fixtures of Tests/RepriseModelTests/Fixtures with Python's `safetensors` (the
reference implementation, a Rust core) so the Swift tests can check that

  * our reader gives exactly the values Python wrote (python-read.safetensors, python-nometa.safetensors),
  * our writer produces exactly Python's bytes for the same tensors (python-bytes.safetensors,
    python-nometa.safetensors, python-dtypes.safetensors).

Setup (once):  python3 -m venv .build-bench/venv-st && .build-bench/venv-st/bin/pip install safetensors numpy
Run:           .build-bench/venv-st/bin/python Tools/model/make_safetensors_fixture.py

The tensors are defined by exact values (bit patterns and multiples of powers of two), and
Tests/RepriseModelTests/SafetensorsTests.swift defines the same ones; change both together.

python-read.safetensors has three metadata keys. Python's safetensors keeps metadata in a Rust HashMap,
whose iteration order is random per process, so that file's header bytes change from run to run (its
content does not). The two byte-identity fixtures have at most one metadata key and are reproducible.
"""
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "RepriseModelTests", "Fixtures"))


def f32_bits(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def mixed_tensors():
    # Names deliberately out of order; Python lays tensors out by dtype (8-byte types first), then by name.
    return {
        "model.layers.10.mlp.up_proj.weight": (np.arange(12, dtype=np.float32) - 5) * np.float32(0.25),
        "model.layers.2.mlp.up_proj.weight": f32_bits(
            [0x80000000, 0x7F800000, 0xFF800000, 0x00000001, 0x7F7FFFFF, 0x7FC00001]),  # -0, ±inf, denormal, max, NaN
        "scalar": np.array(3.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "optimizer.step": np.array([123456789012], dtype=np.int64),
        "moments": (np.arange(6, dtype=np.float64) * 0.125 - 0.5).reshape(2, 3),
        "ids": np.array([-2147483648, -1, 0, 2147483647], dtype=np.int32),
        "mask": np.array([0, 1, 2, 254, 255], dtype=np.uint8),
        "rng": np.array([2**64 - 1, 12345], dtype=np.uint64),
    }


def shaped(t):
    # The 12-element tensor is stored as [3, 4].
    t = dict(t)
    t["model.layers.10.mlp.up_proj.weight"] = t["model.layers.10.mlp.up_proj.weight"].reshape(3, 4)
    return t


def llama_tensors():
    # HuggingFace Llama names, no metadata: checks name order ("layers.10" before "layers.2") and the
    # header without __metadata__.
    return {
        "model.embed_tokens.weight": (np.arange(8, dtype=np.float32) * np.float32(0.5)).reshape(4, 2),
        "model.layers.0.self_attn.q_proj.weight": (np.arange(4, dtype=np.float32) - 3).reshape(2, 2),
        "model.layers.10.input_layernorm.weight": np.ones(2, dtype=np.float32),
        "model.layers.2.input_layernorm.weight": np.full(2, 2.0, dtype=np.float32),
        "model.norm.weight": np.array([1.0, 0.75], dtype=np.float32),
    }


def dtype_tensors():
    # One small tensor per dtype numpy has; names run against the dtype order, so the layout shows that
    # dtype comes first (U64, I64, F64, F32, U32, I32, F16, U16, I16, I8, U8, BOOL).
    kinds = [np.bool_, np.uint8, np.int8, np.int16, np.uint16, np.float16, np.int32, np.uint32, np.float32,
             np.float64, np.int64, np.uint64]
    return {f"t{i:02d}": (np.arange(3) + 1).astype(k) for i, k in enumerate(kinds)}


def write(name, tensors, metadata):
    path = os.path.join(OUT, name)
    save_file(tensors, path, metadata=metadata)
    back = load_file(path)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        assert back[k].tobytes() == v.tobytes(), k
    print(f"{path}: {os.path.getsize(path)} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    write("python-read.safetensors", shaped(mixed_tensors()),
          {"format": "pt", "reprise": "fixture", "note": 'é "quoted" \\ \n\t/ \u2028 \x01'})
    write("python-bytes.safetensors", shaped(mixed_tensors()), {"format": "pt"})
    write("python-nometa.safetensors", llama_tensors(), None)
    write("python-dtypes.safetensors", dtype_tensors(), None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
