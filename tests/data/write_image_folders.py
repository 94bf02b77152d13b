"""Writes the image folders the image-folder tests train on, with PIL (an independent encoder).

    write_image_folders.py fmnist OUT      Fashion-MNIST (the dataset-fashion-mnist package) as
                                           OUT/train/class<k>/<i>.png and OUT/test/class<k>/<i>.png,
                                           grayscale PNG, the IDX files' order within each class
    write_image_folders.py mixed OUT       a small data set of every colour mode and size:
                                           OUT/train/<class>/... and OUT/val/<class>/... with gray,
                                           gray+alpha, RGB, RGBA and palette PNGs, 16-bit PNGs and
                                           gray/RGB/CMYK JPEGs of 20 to 44 pixels a side: noise with
                                           a bright square at the top left (class 0), bottom left
                                           (class 1) or none (class 2)
    write_image_folders.py bad OUT         OUT (a copy of `mixed`'s train split must be there) gets
                                           a truncated JPEG, a truncated PNG, a text file named
                                           .png and an empty class folder
"""
import gzip
import os
import sys

import numpy as np
from PIL import Image


def fmnist(out):
    src = "/usr/share/datasets/fashion-mnist/"

    def idx(name, offset):
        return np.frombuffer(gzip.open(src + name).read(), dtype=np.uint8, offset=offset)

    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = idx(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
        labels = idx(f"{prefix}-labels-idx1-ubyte.gz", 8)
        for c in range(10):
            os.makedirs(f"{out}/{split}/class{c}", exist_ok=True)
        for i, (img, label) in enumerate(zip(images, labels)):
            Image.fromarray(img, mode="L").save(f"{out}/{split}/class{label}/{i:05d}.png", compress_level=1)


def mixed(out):
    rng = np.random.default_rng(0)
    modes = ["L", "LA", "RGB", "RGBA", "P", "I;16", "JPEG-L", "JPEG-RGB", "JPEG-CMYK"]
    for split, n in (("train", 360), ("val", 90)):
        for i in range(n):
            c = i % 3
            size = (int(rng.integers(20, 45)), int(rng.integers(20, 45)))  # (w, h)
            w, h = size
            rgb = rng.integers(0, 70, (h, w, 3)).astype(np.uint8)
            # Class 0: a bright square at the top left, class 1 at the bottom left, class 2 none
            # (classes a horizontal flip keeps).
            s = min(w, h) // 2
            if c < 2:
                ys = slice(0, s) if c == 0 else slice(h - s, h)
                rgb[ys, 0:s] += 170
            mode = modes[i % len(modes)]
            folder = f"{out}/{split}/c{c}"
            os.makedirs(folder, exist_ok=True)
            img = Image.fromarray(rgb, mode="RGB")
            name = f"{folder}/{i:04d}"
            if mode.startswith("JPEG"):
                m = mode.split("-")[1]
                img.convert(m).save(name + ".jpg", quality=92)
            elif mode == "I;16":
                gray = np.asarray(img.convert("L"), dtype=np.uint16) * 257
                Image.fromarray(gray, mode="I;16").save(name + ".png")
            elif mode == "P":
                img.convert("P", palette=Image.ADAPTIVE, colors=64).save(name + ".png")
            else:
                img.convert(mode).save(name + ".png")


def bad(out):
    c0 = f"{out}/c0"
    files = sorted(os.listdir(c0))
    jpg = next(f for f in files if f.endswith(".jpg"))
    png = next(f for f in files if f.endswith(".png"))
    data = open(f"{c0}/{jpg}", "rb").read()
    open(f"{c0}/zz_truncated.jpg", "wb").write(data[: len(data) // 3])
    data = open(f"{c0}/{png}", "rb").read()
    open(f"{c0}/zz_truncated.png", "wb").write(data[: len(data) // 2])
    open(f"{out}/c1/zz_not_an_image.png", "w").write("this is a text file, not a PNG\n")
    os.makedirs(f"{out}/c3_empty", exist_ok=True)


if __name__ == "__main__":
    {"fmnist": fmnist, "mixed": mixed, "bad": bad}[sys.argv[1]](sys.argv[2])
