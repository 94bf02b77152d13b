"""Writes the image files and the Pillow reference results the image tests compare against.

Usage: gen_images.py OUT_DIR

Every case is one line of OUT_DIR/manifest.tsv:
    decode  FILE  REF  H  W  C            FILE decoded must give the pixels REF holds
    resize  FILE  REF  H  W  C  OPTIONS   FILE decoded and transformed with OPTIONS (key=value,
                                          comma-separated) must give REF * 255, +-1 level
REF files are raw uint8 arrays, H x W x C interleaved. The reference pixels come from Pillow
(Image.open(...).convert(...), Image.resize(..., BILINEAR), crop, convert("L")), which is what
torchvision's ImageFolder and transforms do; 16-bit PNG references come from the sample values
themselves (their high byte), since Pillow clips 16-bit grayscale instead of scaling it.
Without Pillow the manifest holds one "skip" line and the tests report themselves skipped.
"""
import os
import struct
import sys
import zlib

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
lines = []

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # the tests skip with this reason
    with open(os.path.join(OUT, "manifest.tsv"), "w") as f:
        f.write(f"skip\tPillow or numpy is not available to {sys.executable}: {e}\n")
    sys.exit(0)

rng = np.random.default_rng(1234)


def smooth(h, w, c):
    """A smooth image with some noise: JPEG-friendly and it exercises every filter tap."""
    y, x = np.mgrid[0:h, 0:w]
    planes = []
    for k in range(c):
        v = 128 + 90 * np.sin(x / (3.0 + k) + y / (5.0 + 2 * k)) + rng.integers(-20, 21, size=(h, w))
        planes.append(np.clip(v, 0, 255))
    return np.stack(planes, axis=-1).astype(np.uint8)


def ref(name, arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    with open(os.path.join(OUT, name + ".u8"), "wb") as f:
        f.write(arr.tobytes())
    return arr.shape


def decode_case(fname, arr):
    h, w, c = ref(fname, arr)
    lines.append(f"decode\t{fname}\t{fname}.u8\t{h}\t{w}\t{c}")


def pil_ref(fname, mode):
    with Image.open(os.path.join(OUT, fname)) as im:
        return np.asarray(im.convert(mode))


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(fname, samples, color_type, depth, interlace=False):
    """A PNG written by hand, for layouts Pillow cannot write (16-bit RGB, 16-bit gray+alpha,
    Adam7 interlacing). samples: H x W x S array of uint8 or uint16."""
    h, w = samples.shape[:2]
    dt = ">u2" if depth == 16 else "u1"

    def rows(img):
        return b"".join(b"\0" + img[y].astype(dt).tobytes() for y in range(img.shape[0]))

    if interlace:
        raw = b""
        for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += rows(sub)
    else:
        raw = rows(samples)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(os.path.join(OUT, fname), "wb") as f:
        f.write(data)


# ---- decoding: PNG must equal Pillow exactly ---------------------------------------------------
rgb = smooth(7, 13, 3)
gray = smooth(9, 11, 1)[:, :, 0]
Image.fromarray(gray, "L").save(os.path.join(OUT, "gray.png"))
decode_case("gray.png", pil_ref("gray.png", "L"))
Image.fromarray(np.dstack([gray, 255 - gray]), "LA").save(os.path.join(OUT, "gray_alpha.png"))
decode_case("gray_alpha.png", pil_ref("gray_alpha.png", "L"))
Image.fromarray(rgb, "RGB").save(os.path.join(OUT, "rgb.png"))
decode_case("rgb.png", pil_ref("rgb.png", "RGB"))
Image.fromarray(np.dstack([rgb, smooth(7, 13, 1)]), "RGBA").save(os.path.join(OUT, "rgba.png"))
decode_case("rgba.png", pil_ref("rgba.png", "RGB"))
pal = Image.fromarray(smooth(15, 17, 3), "RGB").quantize(colors=37)
pal.save(os.path.join(OUT, "palette.png"))
decode_case("palette.png", pil_ref("palette.png", "RGB"))
pal.info["transparency"] = 3
pal.save(os.path.join(OUT, "palette_trns.png"), transparency=3)
decode_case("palette_trns.png", pil_ref("palette_trns.png", "RGB"))
Image.fromarray(smooth(6, 10, 3), "RGB").quantize(colors=9).save(os.path.join(OUT, "palette_4bit.png"), bits=4)
decode_case("palette_4bit.png", pil_ref("palette_4bit.png", "RGB"))
Image.fromarray(gray > 128).save(os.path.join(OUT, "bilevel.png"))
decode_case("bilevel.png", pil_ref("bilevel.png", "L"))
wide16 = (rng.integers(0, 65536, size=(5, 19))).astype(np.uint16)
Image.fromarray(wide16.astype(np.int32), "I").convert("I;16").save(os.path.join(OUT, "gray16.png"))
with Image.open(os.path.join(OUT, "gray16.png")) as im:  # Pillow wrote 16-bit samples
    assert np.array_equal(np.asarray(im, dtype=np.int64), wide16.astype(np.int64)), "gray16.png round trip"
decode_case("gray16.png", (wide16 >> 8).astype(np.uint8))
rgb16 = rng.integers(0, 65536, size=(4, 6, 3)).astype(np.uint16)
write_png("rgb16.png", rgb16, 2, 16)
decode_case("rgb16.png", pil_ref("rgb16.png", "RGB"))  # Pillow keeps the high byte too
assert np.array_equal(pil_ref("rgb16.png", "RGB"), (rgb16 >> 8).astype(np.uint8))
rgba16 = rng.integers(0, 65536, size=(3, 5, 4)).astype(np.uint16)
write_png("rgba16.png", rgba16, 6, 16)
decode_case("rgba16.png", (rgba16[:, :, :3] >> 8).astype(np.uint8))
ga16 = rng.integers(0, 65536, size=(3, 4, 2)).astype(np.uint16)
write_png("gray_alpha16.png", ga16, 4, 16)
decode_case("gray_alpha16.png", (ga16[:, :, 0] >> 8).astype(np.uint8))
interlaced = smooth(11, 9, 3)
write_png("interlaced.png", interlaced, 2, 8, interlace=True)
decode_case("interlaced.png", pil_ref("interlaced.png", "RGB"))
assert np.array_equal(pil_ref("interlaced.png", "RGB"), interlaced)

# ---- decoding: JPEG (the same libjpeg-turbo as Pillow's; compared exactly) --------------------
Image.fromarray(gray, "L").save(os.path.join(OUT, "gray.jpg"), quality=90)
decode_case("gray.jpg", pil_ref("gray.jpg", "L"))
Image.fromarray(smooth(21, 33, 3), "RGB").save(os.path.join(OUT, "rgb.jpg"), quality=90)
decode_case("rgb.jpg", pil_ref("rgb.jpg", "RGB"))
Image.fromarray(rgb, "RGB").save(os.path.join(OUT, "rgb444.jpg"), quality=95, subsampling=0)
decode_case("rgb444.jpg", pil_ref("rgb444.jpg", "RGB"))
Image.fromarray(smooth(17, 23, 3), "RGB").save(os.path.join(OUT, "progressive.jpg"), quality=85, progressive=True)
decode_case("progressive.jpg", pil_ref("progressive.jpg", "RGB"))
Image.fromarray(smooth(10, 14, 4), "CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=90)
with Image.open(os.path.join(OUT, "cmyk.jpg")) as im:
    assert im.mode == "CMYK", im.mode
decode_case("cmyk.jpg", pil_ref("cmyk.jpg", "RGB"))

# ---- transforms: resize (and crop, grayscale) against Pillow -----------------------------------
src_rgb = smooth(80, 96, 3)
Image.fromarray(src_rgb, "RGB").save(os.path.join(OUT, "src_rgb.png"))
src_gray = smooth(73, 50, 1)[:, :, 0]
Image.fromarray(src_gray, "L").save(os.path.join(OUT, "src_gray.png"))
src_tall = smooth(120, 30, 3)
Image.fromarray(src_tall, "RGB").save(os.path.join(OUT, "src_tall.png"))


def resized(im, n):
    w, h = im.size  # torchvision Resize(n): shorter side to n, longer int(n * long / short)
    if w <= h:
        return im.resize((n, int(n * h / w)), Image.BILINEAR)
    return im.resize((int(n * w / h), n), Image.BILINEAR)


def center_crop(im, n):  # torchvision CenterCrop on a PIL image (no padding needed here)
    w, h = im.size
    top, left = int(round((h - n) / 2.0)), int(round((w - n) / 2.0))
    return im.crop((left, top, left + n, top + n))


def resize_case(tag, fname, options, out_img):
    arr = np.asarray(out_img)
    h, w, c = ref(tag, arr)
    lines.append(f"resize\t{fname}\t{tag}.u8\t{h}\t{w}\t{c}\t{options}")


for fname, arr, mode in [("src_rgb.png", src_rgb, "RGB"), ("src_gray.png", src_gray, "L"), ("src_tall.png", src_tall, "RGB")]:
    im = Image.fromarray(arr, mode)
    for n in (8, 32, 45, 72, 131):
        resize_case(f"{fname}.resize{n}", fname, f"resize={n}", resized(im, n))
    resize_case(f"{fname}.hw", fname, "height=40,width=61", im.resize((61, 40), Image.BILINEAR))
    for n, c in ((72, 63), (72, 64), (45, 44), (32, 31)):
        resize_case(f"{fname}.resize{n}.crop{c}", fname, f"resize={n},crop={c}", center_crop(resized(im, n), c))
    if mode == "RGB":
        resize_case(f"{fname}.resize72.crop63.L", fname, "resize=72,crop=63,channels=1",
                    center_crop(resized(im, 72), 63).convert("L"))
    else:
        resize_case(f"{fname}.resize45.crop44.RGB", fname, "resize=45,crop=44,channels=3",
                    center_crop(resized(im, 45), 44).convert("RGB"))

with open(os.path.join(OUT, "manifest.tsv"), "w") as f:
    f.write("\n".join(lines) + "\n")
