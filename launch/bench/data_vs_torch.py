#!/usr/bin/python3
"""Input pipeline throughput: singa_train's loader vs torchvision ImageFolder + DataLoader, in one run.

  /usr/bin/python3 launch/bench/data_vs_torch.py [--singa build/singa_train] [--workers 2] [--rounds 3]
                                                 [--folder DIR] [--resnet]

Both read the same JPEG folder (written here by PIL when --folder is not given: Fashion-MNIST
images, tinted to RGB and upscaled to 112 x 112, quality 90, 10 class folders) and run the same
per-image work: decode, resize the shorter side to 72, random 64 x 64 crop, random horizontal
flip, scale to [0, 1], normalize with the ImageNet mean and std, collate batches of 64.

  singa   singa_train --benchmark-data --workers W (threads decoding into batches)
  torch   torchvision.datasets.ImageFolder + DataLoader(num_workers=W, shuffle=True), the same
          transforms (Resize, RandomCrop, RandomHorizontalFlip, ToTensor, Normalize)

Rounds interleave the two so machine noise hits both alike; each peer's best round is reported
with the ratio. With --resnet it also times resnet18 training steps (random weights, exported by
torchvision to ONNX; batch 32, 64 x 64 inputs) fed from the JPEG folder and from the same images
pre-decoded into a uint8 .npy array, counting the wait for data in each step
(--benchmark-include-data), and reports the slowdown of the JPEG folder.
"""
import argparse
import gzip
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIDE, RESIZE, CROP = 112, 72, 64
TRANSFORMS = ["--resize", str(RESIZE), "--crop", str(CROP), "--random-crop", "--hflip", "--normalize", "imagenet"]

TORCH_LOADER = r"""
import sys, time, torch, torchvision.transforms as T
from torchvision.datasets import ImageFolder
folder, workers, batches, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(1)
tf = T.Compose([T.Resize(%d), T.RandomCrop(%d), T.RandomHorizontalFlip(), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
loader = torch.utils.data.DataLoader(ImageFolder(folder, transform=tf), batch_size=64, shuffle=True,
                                     num_workers=workers, persistent_workers=workers > 0, drop_last=True)
done, images, t0 = 0, 0, None
while done < warmup + batches:
    for x, y in loader:
        done += 1
        if done == warmup:
            t0 = time.perf_counter()
        elif done > warmup:
            images += x.shape[0]
        if done >= warmup + batches:
            break
print(f"torch_images_per_sec {images / (time.perf_counter() - t0):.1f}")
""" % (RESIZE, CROP)


def write_folder(folder, count):
    import numpy as np
    from PIL import Image
    src = "/usr/share/datasets/fashion-mnist/train-"
    images = np.frombuffer(gzip.open(src + "images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.open(src + "labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    tint = np.array([[1.0, 0.6, 0.3], [0.4, 1.0, 0.7], [0.8, 0.5, 1.0]], np.float32)
    for c in range(10):
        os.makedirs(f"{folder}/class{c}", exist_ok=True)
    for i in range(count):
        rgb = (images[i][..., None].astype(np.float32) * tint[i % 3]).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(rgb, "RGB").resize((SIDE, SIDE), Image.BILINEAR)
        img.save(f"{folder}/class{labels[i]}/{i:05d}.jpg", quality=90)


def run(cmd, pattern):
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if out.returncode != 0:
        sys.exit(f"data_vs_torch: {' '.join(cmd)} failed (exit {out.returncode}):\n{out.stdout}")
    m = re.search(pattern, out.stdout)
    if not m:
        sys.exit(f"data_vs_torch: no figure in the output of {' '.join(cmd)}:\n{out.stdout}")
    return float(m.group(1))


def resnet(args, folder, tmp):
    import numpy as np
    from PIL import Image
    onnx_path = os.path.join(tmp, "resnet18.onnx")
    subprocess.run(["/usr/bin/python3", "-c",
                    "import sys, torch, torchvision; m = torchvision.models.resnet18(num_classes=10).eval(); "
                    "torch.onnx.export(m, torch.zeros(1, 3, 64, 64), sys.argv[1], opset_version=13, "
                    "input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'n'}})", onnx_path],
                   check=True, capture_output=True)
    # The same images pre-decoded (resized to 72 on the shorter side, center 64 x 64), uint8 [N, 3, 64, 64].
    files = sorted((c, f) for c in os.listdir(folder) for f in os.listdir(os.path.join(folder, c)))
    classes = sorted({c for c, _ in files})
    x = np.zeros((len(files), 3, CROP, CROP), np.uint8)
    y = np.zeros(len(files), np.int64)
    off = (RESIZE - CROP) // 2
    for i, (c, f) in enumerate(files):
        img = Image.open(os.path.join(folder, c, f)).convert("RGB").resize((RESIZE, RESIZE), Image.BILINEAR)
        x[i] = np.asarray(img)[off:off + CROP, off:off + CROP].transpose(2, 0, 1)
        y[i] = classes.index(c)
    np.save(os.path.join(tmp, "x.npy"), x)
    np.save(os.path.join(tmp, "y.npy"), y)
    common = [args.singa, "--onnx", onnx_path, "--last-layers", "-1", "--num-classes", "10", "--benchmark",
              "--benchmark-include-data", "--batch-size", "32", "--benchmark-steps", str(args.resnet_steps),
              "--warmup-steps", "3", "--threads", str(args.threads)]
    jpeg_runs, npy_runs = [], []
    for r in range(args.rounds):
        jpeg_runs.append(run(common + ["--data", f"imagefolder:{folder}", "--crop", str(CROP), "--random-crop",
                                       "--resize", str(RESIZE), "--hflip", "--normalize", "imagenet"],
                             r"train_images_per_sec ([0-9.]+)"))
        npy_runs.append(run(common + ["--data", f"npy:{tmp}/x.npy,{tmp}/y.npy", "--normalize", "imagenet",
                                      "--crop", str(CROP), "--random-crop", "--hflip"],
                            r"train_images_per_sec ([0-9.]+)"))
        print(f"round {r + 1} resnet18 training: JPEG folder {jpeg_runs[-1]:7.1f} img/s, "
              f"pre-decoded .npy {npy_runs[-1]:7.1f} img/s", flush=True)
    j, n = max(jpeg_runs), max(npy_runs)
    print(f"resnet18 training from the JPEG folder: {j:.1f} img/s vs {n:.1f} img/s from pre-decoded tensors "
          f"({100.0 * (n - j) / n:+.1f}% slower)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--singa", default=os.path.join(ROOT, "build", "singa_train"))
    ap.add_argument("--folder", help="an existing image folder (default: write a JPEG folder of --images)")
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", type=int, default=40, help="timed batches of 64 per run")
    ap.add_argument("--threads", type=int, default=2, help="compute threads for --resnet")
    ap.add_argument("--resnet", action="store_true", help="also time resnet18 training from JPEGs vs pre-decoded")
    ap.add_argument("--resnet-steps", type=int, default=10)
    args = ap.parse_args()
    if not os.path.exists(args.singa):
        sys.exit(f"data_vs_torch: {args.singa} not found (build singa_train first)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        if folder is None:
            folder = os.path.join(tmp, "jpeg")
            t0 = time.time()
            write_folder(folder, args.images)
            print(f"wrote {args.images} JPEGs of {SIDE} x {SIDE} to {folder} in {time.time() - t0:.1f} s", flush=True)
        torch_script = os.path.join(tmp, "torch_loader.py")
        open(torch_script, "w").write(TORCH_LOADER)
        singa, torch = [], []
        for r in range(args.rounds):
            singa.append(run([args.singa, "--data", f"imagefolder:{folder}", "--benchmark-data", "--batch-size", "64",
                              "--workers", str(args.workers), "--benchmark-steps", str(args.batches),
                              "--warmup-steps", "3"] + TRANSFORMS, r"data_images_per_sec ([0-9.]+)"))
            torch.append(run(["/usr/bin/python3", torch_script, folder, str(args.workers), str(args.batches), "3"],
                             r"torch_images_per_sec ([0-9.]+)"))
            print(f"round {r + 1}: singa {singa[-1]:8.1f} img/s, torchvision {torch[-1]:8.1f} img/s", flush=True)
        s, t = max(singa), max(torch)
        print(f"decode + resize {RESIZE} + random crop {CROP} + flip + normalize, batches of 64, {args.workers} workers: "
              f"singa {s:.1f} img/s, torchvision ImageFolder + DataLoader {t:.1f} img/s, ratio {s / t:.2f}x")
        if args.resnet:
            resnet(args, folder, tmp)


if __name__ == "__main__":
    main()
