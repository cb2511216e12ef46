"""Make the Fashion-MNIST subset that ships with CNN Lab (assets/datasets/fashion_mnist-subset): the data a fresh
install uses offline for the course's Fashion-MNIST lessons (report 001) when torchvision's files are not there.

    python benchmarks/make_fashion_subset.py --source ../shared/data [--train 700 --test 100]

Takes the first N images of every class in the files' order (deterministic) and writes each as a greyscale PNG in
a class folder; a class's folder is its name with "/" as "-" ("T-shirt-top": cnnkit.data.torchvision_sets
.class_folder). 700 per class: quick mode trains on 6,000 with 1 % held out. About 3 MB for 7,000 + 1,000."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnkit.data.torchvision_sets import FASHION_CLASSES, class_folder  # noqa: E402


def main() -> None:
    from PIL import Image
    from torchvision.datasets import FashionMNIST

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="a folder holding FashionMNIST/raw/ (idx files)")
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "datasets" / "fashion_mnist-subset")
    parser.add_argument("--train", type=int, default=700, help="images per class from the training split")
    parser.add_argument("--test", type=int, default=100, help="images per class from the test split")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    for split, count in (("train", args.train), ("test", args.test)):
        data = FashionMNIST(str(args.source), train=split == "train", download=False)
        images, labels = data.data.numpy(), data.targets.tolist()
        for label, name in enumerate(FASHION_CLASSES):
            picked = [i for i, y in enumerate(labels) if y == label][:count]
            if len(picked) < count:
                raise SystemExit(f"{split} has {len(picked)} images of {name!r}, fewer than {count}")
            target = args.out / split / class_folder(name)
            target.mkdir(parents=True)
            for i in picked:
                Image.fromarray(images[i], mode="L").save(target / f"{i:05d}.png", optimize=True)
    print(f"wrote {args.out} ({args.train * len(FASHION_CLASSES)} train, {args.test * len(FASHION_CLASSES)} test images)")


if __name__ == "__main__":
    main()
