#!/usr/bin/env python3
"""Writes tests/fuzz/corpus/safetensors: small files made by the PyPI safetensors package
(safetensors.numpy.save_file), the fuzz_safetensors seeds and the reference files of
tests/data/safetensors_test.cc, which checks every value against the formulas below.

  dtypes.safetensors   one tensor per dtype numpy and safetensors share, named by its dtype:
                         f32 [2, 3]  = arange(6) * 0.5 - 1      f64 [3]  = arange(3) / 4 + 1e10
                         f16 [2, 2]  = arange(4) - 1.5          i8 [4]   = arange(4) * 40 - 128
                         i16 [3]     = arange(3) * 1000 - 30000 i32 [2, 2] = arange(4) * 100000 - 7
                         i64 [3]     = arange(3) * 2**40 - 5    u8 [5]   = arange(5) * 60
                         u16 [2]     = [0, 65535]               u32 [2]  = [7, 4294967295]
                         u64 [2]     = [9, 2**64 - 1]           bool [4] = [True, False, False, True]
                         scalar []   = float32 3.5              empty [0, 3] float32
                       metadata {"source": "gen_safetensors_corpus.py"}
  split_u8.safetensors images uint8 [6, 1, 4, 4] = arange(96) * 2 (mod 256), labels int64 [6] = arange(6) % 3
  split_f32.safetensors images float32 [4, 3, 2, 2] = arange(48) / 8 - 2, labels int32 [4] = [3, 0, 2, 1]
  tokens.safetensors   input_ids int64 [3, 5] = arange(15) * 1000003, targets uint8 [3] = [1, 0, 1]
  no_tensors.safetensors  nothing

Usage: .venv/bin/python tests/fuzz/gen_safetensors_corpus.py  (rerun after changing a formula)
"""
import os

import numpy as np
from safetensors.numpy import save_file

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")
os.makedirs(out, exist_ok=True)
a = np.arange
save_file({
    "f32": (a(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3),
    "f64": a(3, dtype=np.float64) / 4 + 1e10,
    "f16": (a(4, dtype=np.float16) - np.float16(1.5)).reshape(2, 2),
    "i8": (a(4, dtype=np.int16) * 40 - 128).astype(np.int8),
    "i16": (a(3, dtype=np.int32) * 1000 - 30000).astype(np.int16),
    "i32": (a(4, dtype=np.int32) * 100000 - 7).reshape(2, 2),
    "i64": a(3, dtype=np.int64) * 2**40 - 5,
    "u8": (a(5) * 60).astype(np.uint8),
    "u16": np.array([0, 65535], dtype=np.uint16),
    "u32": np.array([7, 4294967295], dtype=np.uint32),
    "u64": np.array([9, 2**64 - 1], dtype=np.uint64),
    "bool": np.array([True, False, False, True]),
    "scalar": np.array(3.5, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
}, f"{out}/dtypes.safetensors", metadata={"source": "gen_safetensors_corpus.py"})
save_file({"images": (a(96) * 2 % 256).astype(np.uint8).reshape(6, 1, 4, 4),
           "labels": a(6, dtype=np.int64) % 3}, f"{out}/split_u8.safetensors")
save_file({"images": (a(48, dtype=np.float32) / 8 - 2).reshape(4, 3, 2, 2),
           "labels": np.array([3, 0, 2, 1], dtype=np.int32)}, f"{out}/split_f32.safetensors")
save_file({"input_ids": (a(15, dtype=np.int64) * 1000003).reshape(3, 5),
           "targets": np.array([1, 0, 1], dtype=np.uint8)}, f"{out}/tokens.safetensors")
save_file({}, f"{out}/no_tensors.safetensors")
for name in sorted(os.listdir(out)):
    size = os.path.getsize(f"{out}/{name}")
    assert size < 4096, (name, size)
    print(f"{name}: {size} bytes")
