"""Make the CIFAR-10 subset that ships with CNN Lab (assets/datasets/cifar10-subset): the data a fresh install
uses offline for the course's quick lessons when neither torchvision's CIFAR-10 nor a folder copy is there.

    python benchmarks/make_cifar_subset.py --source ../shared/data/cifar10-jpeg [--train 600 --test 100]

Takes the first N images of every class, in file-name order (deterministic), and copies the JPEG bytes as they
are (no re-encoding): about 0.9 KB an image, 6.5 MB for the default 6,000 + 1,000."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="CIFAR-10 as {train,test}/<class>/*.jpg")
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "datasets" / "cifar10-subset")
    parser.add_argument("--train", type=int, default=600, help="images per class from the training split")
    parser.add_argument("--test", type=int, default=100, help="images per class from the test split")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    for split, count in (("train", args.train), ("test", args.test)):
        for name in CLASSES:
            files = sorted((args.source / split / name).glob("*.jpg"))[:count]
            if len(files) < count:
                raise SystemExit(f"{args.source / split / name} has {len(files)} images, fewer than {count}")
            target = args.out / split / name
            target.mkdir(parents=True)
            for file in files:
                shutil.copyfile(file, target / file.name)
    print(f"wrote {args.out} ({args.train * len(CLASSES)} train, {args.test * len(CLASSES)} test images)")


if __name__ == "__main__":
    main()
