#!/usr/bin/env python3
"""Writes the crafted data sets and checkpoints of tests/hostile/cases_data.tsv and
tests/checkpoint/hostile_resume_test.sh (standard library only; deterministic output):

  inputs/data/<case>/            the four MNIST IDX files (plain or .gz), one of them hostile
  inputs/checkpoints/<case>/step-1/{meta.json,model.safetensors,optimizer.safetensors}

and the same hostile files, in the fuzz entries' input formats, under tests/fuzz/regressions/idx/,
tests/fuzz/regressions/checkpoint/ and tests/fuzz/regressions/safetensors/. Special files (FIFOs,
links to /dev/zero) cannot be committed; the rows make them at run time.

    /work/main/.venv/bin/python tests/hostile/gen_data.py
"""
import gzip
import json
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.join(HERE, "inputs")
FUZZ = os.path.join(HERE, "..", "fuzz", "regressions")

IMAGES, LABELS = 0x00000803, 0x00000801
STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def idx(magic, dims, data=b""):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + data


def images(n, rows=28, cols=28):
    # Stripes whose position depends on the label: learnable and highly compressible.
    out = bytearray()
    for i in range(n):
        for r in range(rows):
            out += bytes((255 if (c + r + i % 10) % 10 < 3 else 0) for c in range(cols))
    return bytes(out)


def labels(n):
    return bytes(i % 10 for i in range(n))


def ok_files():
    """The well-formed data set (64 training and 64 test images, gzip), by file name."""
    return {
        STEMS[0] + ".gz": gz(idx(IMAGES, [64, 28, 28], images(64))),
        STEMS[1] + ".gz": gz(idx(LABELS, [64], labels(64))),
        STEMS[2] + ".gz": gz(idx(IMAGES, [64, 28, 28], images(64))),
        STEMS[3] + ".gz": gz(idx(LABELS, [64], labels(64))),
    }


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def data_case(name, replace):
    """A data set directory: the ok files, with `replace` (file name -> bytes) swapped in. A plain
    file replaces its .gz twin (the loader prefers the plain name)."""
    files = ok_files()
    for fname, data in replace.items():
        stem = fname[:-3] if fname.endswith(".gz") else fname
        files.pop(stem + ".gz", None)
        files[fname] = data
    for fname, data in files.items():
        write(os.path.join(INPUTS, "data", name, fname), data)
    for fname, data in replace.items():
        write(os.path.join(FUZZ, "idx", name + (".gz" if fname.endswith(".gz") else "")), data)


def gzip_bomb(declared, extra_zeros):
    """A gzip stream holding the IDX header of `declared` images bytes plus `extra_zeros` more."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [c.compress(idx(IMAGES, [64, 28, 28], images(64)[:declared]))]
    chunk = bytes(1 << 20)
    left = extra_zeros
    while left > 0:
        out.append(c.compress(chunk[: min(left, len(chunk))]))
        left -= len(chunk)
    out.append(c.flush())
    data = b"".join(out)
    # Deterministic: zero the gzip header's mtime and OS bytes.
    return data[:4] + bytes(4) + data[8:9] + b"\xff" + data[10:]


def make_data():
    shutil.rmtree(os.path.join(INPUTS, "data"), ignore_errors=True)
    data_case("ok", {})
    full = idx(IMAGES, [64, 28, 28], images(64))
    # More decompressed data than the header declares: 64 MiB of zeros after the 64 images.
    data_case("gzip_bomb", {STEMS[0] + ".gz": gzip_bomb(64 * 784, 64 << 20)})
    # A header that declares 60000 images in a file of a few hundred bytes.
    data_case("gzip_claims_huge", {STEMS[0] + ".gz": gz(idx(IMAGES, [60000, 28, 28], bytes(1000)))})
    # A gzip stream cut in the middle (poorly compressible pixels so the cut falls inside the data).
    noisy = idx(IMAGES, [64, 28, 28], bytes((i * 7919) % 251 for i in range(64 * 784)))
    data_case("gzip_truncated", {STEMS[0] + ".gz": gz(noisy)[: len(gz(noisy)) // 2]})
    # Not gzip at all behind a .gz name: garbage after a gzip magic.
    data_case("gzip_garbage", {STEMS[1] + ".gz": b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4})
    data_case("dims_overflow", {STEMS[0]: idx(IMAGES, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF])})
    data_case("zero_then_huge_dims", {STEMS[0]: idx(IMAGES, [0, 0xFFFFFFFF, 0xFFFFFFFF])})
    # A header declaring 6 GB; the row makes the (sparse) file that large at run time.
    data_case("huge_sparse", {STEMS[0]: idx(IMAGES, [6000, 1000, 1000])})
    data_case("bad_magic", {STEMS[1]: idx(IMAGES, [64, 1, 1], labels(64))})
    data_case("float_type", {STEMS[1]: idx(0x00000D01, [64], bytes(4 * 64))})
    data_case("count_mismatch", {STEMS[1]: idx(LABELS, [63], labels(63))})
    data_case("trailing_bytes", {STEMS[3]: idx(LABELS, [64], labels(64) + b"\x00\x01\x02")})
    data_case("truncated_plain", {STEMS[2]: full[: len(full) - 100]})
    data_case("header_cut", {STEMS[2]: full[:9]})
    data_case("empty_file", {STEMS[3]: b""})
    data_case("test_size_mismatch", {STEMS[2] + ".gz": gz(idx(IMAGES, [64, 14, 14], images(64, 14, 14)))})
    data_case("test_label_out_of_range", {STEMS[3]: idx(LABELS, [64], labels(63) + b"\xc8")})
    data_case("zero_pixels", {STEMS[0]: idx(IMAGES, [64, 0, 28])})
    data_case("no_images", {STEMS[0]: idx(IMAGES, [0, 28, 28]), STEMS[1]: idx(LABELS, [0])})
    make_arrays()
    make_images()


def npy(descr, shape, data, fortran=False):
    """numpy.save's layout (format 1.0), written here so the crafted headers stay exact."""
    dims = "".join(f"{d}, " for d in shape).rstrip(" ") if len(shape) != 1 else f"{shape[0]},"
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': ({dims}), }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def make_arrays():
    """Damaged npy:, cifar10: and safetensors: data sets (tests/hostile/cases_data.tsv)."""
    base = os.path.join(INPUTS, "data")
    good_x, good_y = npy("|u1", [64, 1, 28, 28], images(64)), npy("<i8", [64], struct.pack("<64q", *range(64)))
    cases = {
        "npy_shape_overflow": (npy("|u1", [1 << 40, 1 << 40], b""), good_y),
        "npy_truncated": (npy("|u1", [60000, 1, 28, 28], images(2)), good_y),
        "npy_big_endian": (good_x, npy(">i8", [64], struct.pack(">64q", *range(64)))),
        "npy_label_count": (good_x, npy("<i8", [63], struct.pack("<63q", *range(63)))),
        "npy_header_garbage": (b"\x93NUMPY\x01\x00\x10\x00{'descr': os.sy}\n" + images(1), good_y),
    }
    for name, (x, y) in cases.items():
        write(os.path.join(base, name, "x.npy"), x)
        write(os.path.join(base, name, "y.npy"), y)
    record = bytes([3]) + images(1)[:3072] * 4
    batches = {f"data_batch_{b}.bin": record[:3073] * 4 for b in range(1, 6)}
    for name, edit in {"cifar_truncated": {"data_batch_2.bin": (record[:3073] * 4)[:-10]},
                       "cifar_label_out_of_range": {"test_batch.bin": bytes([10]) + record[1:3073]},
                       "cifar_missing_test": {"test_batch.bin": None}}.items():
        files = dict(batches, **{"test_batch.bin": record[:3073]})
        files.update(edit)
        for fname, data in files.items():
            if data is not None:
                write(os.path.join(base, name, fname), data)
    # Damaged safetensors:FILE data sets (also fuzz_safetensors regressions).
    px, ys = images(64), struct.pack("<64q", *range(64))
    good = [("images", "U8", [64, 1, 28, 28], px), ("labels", "I64", [64], ys)]
    cut = safetensors(good)[0]
    st_cases = {
        "st_header_past_eof": struct.pack("<Q", 1 << 20) + b"{}",
        "st_shape_overflow": safetensors([("images", "U8", [1 << 40, 1 << 40], b""), good[1]])[0],
        "st_truncated": cut[: len(cut) - 100],
        "st_missing_labels": safetensors(good[:1])[0],
        "st_label_negative": safetensors([good[0], ("labels", "I64", [64], struct.pack("<64q", *range(-1, 63)))])[0],
        "st_unknown_dtype": safetensors([("images", "C64", [64, 1, 28, 28], px), good[1]])[0],
    }
    for name, blob in st_cases.items():
        write(os.path.join(base, name, "d.safetensors"), blob)
        write(os.path.join(FUZZ, "safetensors", name), blob)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_images():
    """Image folders with a crafted file (cases_data.tsv img_*): a PNG and a JPEG whose headers
    declare 10^10 and 4.2 * 10^9 pixels (refused before allocating), next to a good image."""
    base = os.path.join(INPUTS, "data")
    corpus = os.path.join(HERE, "..", "fuzz", "corpus", "image")
    ok = open(os.path.join(corpus, "gray.png"), "rb").read()
    huge_png = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)) +
                png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))
    jpg = bytearray(open(os.path.join(corpus, "rgb.jpg"), "rb").read())
    sof = next(i for i in range(len(jpg) - 1) if jpg[i] == 0xFF and jpg[i + 1] in (0xC0, 0xC1, 0xC2))
    jpg[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)  # height, width
    for name, bad in (("img_png_huge_dims", ("huge.png", huge_png)), ("img_jpeg_huge_dims", ("huge.jpg", bytes(jpg)))):
        write(os.path.join(base, name, "a", bad[0]), bad[1])
        write(os.path.join(base, name, "b", "ok.png"), ok)
        write(os.path.join(FUZZ, "image", name), bad[1])


# ---- checkpoints -----------------------------------------------------------------------------
DTYPES = {"F32": ("<f", 4), "F64": ("<d", 8), "I64": ("<q", 8)}


def safetensors(tensors, header_override=None):
    """tensors: list of (name, dtype, shape, raw bytes). Returns (file bytes, {name: crc hex})."""
    header, data, crcs = {"__metadata__": {"format": "pt"}}, b"", {}
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        crcs[name] = "0x%08x" % zlib.crc32(raw)
        data += raw
    text = header_override if header_override is not None else json.dumps(header, separators=(",", ":"))
    text = text.encode() if isinstance(text, str) else text
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data, crcs


def canonical(meta):
    # nlohmann's dump(): sorted keys, no spaces, UTF-8 kept, control characters as \u00xx.
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def seal(meta):
    meta = {k: v for k, v in meta.items() if k != "checksum"}
    meta["checksum"] = "0x%08x" % zlib.crc32(canonical(meta))
    return meta


def describe(blob, crcs):
    return {"bytes": len(blob), "crc32": "0x%08x" % zlib.crc32(blob), "tensors": crcs}


def floats(n, fmt="<f"):
    return b"".join(struct.pack(fmt, 0.01 * (i % 7)) for i in range(n))


def optimizer_tensors(step=1):
    return [("lr", "F64", [], struct.pack("<d", 0.01)), ("step", "I64", [], struct.pack("<q", step))]


def checkpoint(name, model, optimizer=None, edit=None, meta_text=None, model_blob=None, optim_blob=None):
    """Writes checkpoints/<name>/step-1 with CRCs that match (so the damage is the crafted part)."""
    mblob, mcrcs = safetensors(model)
    oblob, ocrcs = safetensors(optimizer if optimizer is not None else optimizer_tensors())
    meta = {"format": "singa-checkpoint", "version": 1, "epoch": 0, "step_in_epoch": 1, "samples_in_epoch": 64,
            "global_step": 1, "world_size": 1, "batch_size": 64, "rng": {"seed": 0, "counter": 0},
            "schedule_epoch": 0, "config": {"model": "cnn"},
            "files": {"model.safetensors": describe(model_blob or mblob, mcrcs),
                      "optimizer.safetensors": describe(optim_blob or oblob, ocrcs)}}
    if edit:
        edit(meta)
    text = meta_text if meta_text is not None else json.dumps(seal(meta), indent=2, ensure_ascii=False).encode()
    d = os.path.join(INPUTS, "checkpoints", name, "step-1")
    write(os.path.join(d, "meta.json"), text)
    write(os.path.join(d, "model.safetensors"), model_blob or mblob)
    write(os.path.join(d, "optimizer.safetensors"), optim_blob or oblob)
    # The fuzz entry's format: meta.json, model and optimizer files joined by "\n--\n".
    write(os.path.join(FUZZ, "checkpoint", name),
          text + b"\n--\n" + (model_blob or mblob) + b"\n--\n" + (optim_blob or oblob))


def make_checkpoints():
    shutil.rmtree(os.path.join(INPUTS, "checkpoints"), ignore_errors=True)
    small = [("conv1.weight", "F32", [2, 1, 5, 5], floats(50))]
    # Valid files (every size and CRC matches) that do not fit --model cnn: resume must say so.
    checkpoint("wrong_shapes", small)
    checkpoint("wrong_dtype", [("conv1.weight", "F64", [20, 1, 5, 5], floats(500, "<d"))])
    checkpoint("no_tensors", [])
    # Damaged or hostile: resume must skip them quickly, naming the file, and keep them on disk.
    # With a "checksum" the reader gets as far as copying and dumping the value (recursive).
    deep = b'{"checksum": "0x00000000", "config": ' + b"[" * 49000 + b"]" * 49000 + b"}"
    checkpoint("deep_json", small, meta_text=deep)
    checkpoint("meta_not_json", small, meta_text=b'{"format": "singa-checkpoint", "epoch": 1')
    checkpoint("meta_epoch_string", small, edit=lambda m: m.update(epoch="1"))
    checkpoint("meta_negative_step", small, edit=lambda m: m.update(global_step=-5))
    checkpoint("meta_epoch_past_int64", small, edit=lambda m: m.update(epoch=2**64 - 1))
    checkpoint("meta_world_size_huge", small, edit=lambda m: m.update(world_size=2**40))
    checkpoint("meta_rng_negative", small, edit=lambda m: m["rng"].update(seed=-1))
    checkpoint("meta_format_multiline", small, edit=lambda m: m.update(format="evil\nsecond line"))
    checkpoint("meta_files_wrong_types", small,
               edit=lambda m: m["files"].update({"model.safetensors": {"bytes": "x", "crc32": 5, "tensors": []}}))
    checkpoint("meta_config_not_object", small, edit=lambda m: m.update(config=[1, 2]))
    st_len = struct.pack("<Q", 2**63) + b"{}      "
    checkpoint("st_header_len_huge", small, model_blob=st_len)
    overlap = ('{"a":{"dtype":"F32","shape":[100],"data_offsets":[0,400]},'
               '"b":{"dtype":"F32","shape":[100],"data_offsets":[200,600]}}')
    checkpoint("st_overlapping_offsets", small, model_blob=safetensors([], overlap)[0] + bytes(600))
    checkpoint("st_shape_overflow", small, model_blob=safetensors(
        [], '{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}')[0])
    checkpoint("st_unknown_dtype", small, model_blob=safetensors(
        [], '{"a":{"dtype":"F8_E4M3\\n","shape":[1],"data_offsets":[0,1]}}')[0] + b"\x00")
    one = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
    checkpoint("st_duplicate_names", small, model_blob=safetensors([], '{"a":%s,"a":%s}' % (one, one))[0] + bytes(4))
    checkpoint("st_control_char_name", small, model_blob=safetensors([], '{"a\\nb":%s}' % one)[0] + bytes(4))
    checkpoint("st_deep_header", small, model_blob=safetensors([], '{"__metadata__":' + "[" * 40000 + "]" * 40000 + "}")[0])
    checkpoint("optimizer_step_nan", small, optimizer=[("lr", "F64", [], struct.pack("<d", 0.01)),
                                                        ("step", "F64", [], struct.pack("<d", float("nan")))])


if __name__ == "__main__":
    make_data()
    make_checkpoints()
    for root, _, files in os.walk(INPUTS):
        for f in files:
            size = os.path.getsize(os.path.join(root, f))
            assert size < 100_000, (root, f, size)
