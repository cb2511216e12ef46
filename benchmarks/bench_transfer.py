"""Transfer learning: head-only vs full vs two-stage fine-tuning of EfficientNet-Lite0 on a small dataset.

Usage: .venv/bin/python benchmarks/bench_transfer.py [--data-dir ../shared/data] [--dataset cifar10-jpeg]
        [--classes airplane,automobile,bird,cat,ship] [--per-class 60] [--test-per-class 60]
        [--image-size 128] [--epochs 4] [--strategies head,full,two-stage] [--device cpu]

Copies a small subset (per-class training and test images) of an ImageFolder dataset with
train/ and test/ folders into a temporary data directory, then trains one run per strategy through
cnnkit.train (Adam, lr 1e-3, constant schedule, seed 0, 10 % validation) and prints a Markdown
table (test accuracy, seconds per epoch, trainable/frozen parameters) and one JSON line.
The estimate column is cnnkit.transfer.estimate.plan_cost's prediction made before each run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def copy_subset(source: Path, target: Path, classes: list[str], per_class: int, test_per_class: int) -> None:
    for split, count in (("train", per_class), ("test", test_per_class)):
        for name in classes:
            files = sorted((source / split / name).iterdir())[:count]
            if len(files) < count:
                raise SystemExit(f"{source / split / name} has only {len(files)} images; need {count}")
            folder = target / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copyfile(f, folder / f.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CNNKIT_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--dataset", default="cifar10-jpeg")
    parser.add_argument("--classes", default="airplane,automobile,bird,cat,ship")
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--test-per-class", type=int, default=60)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--head-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--strategies", default="head,full,two-stage")
    parser.add_argument("--source", default="efficientnet_lite0")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    source_dir = Path(args.data_dir) / args.dataset
    if not (source_dir / "train").is_dir():
        raise SystemExit(f"{source_dir} has no train/ folder; pass --data-dir and --dataset")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    work = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    os.environ["CNNKIT_DATA_DIR"] = str(work / "data")
    os.environ["CNNKIT_CHECKPOINT_DIR"] = str(work / "checkpoints")
    name = f"{args.dataset}-{len(classes)}x{args.per_class}"
    copy_subset(source_dir, work / "data" / name, classes, args.per_class, args.test_per_class)

    import torch

    from cnnkit.data import dataset_info
    from cnnkit.train import TrainConfig, train
    from cnnkit.transfer.estimate import plan_cost

    info = dataset_info(name)
    rows = []
    for strategy in [s.strip() for s in args.strategies.split(",") if s.strip()]:
        model = {"kind": "transfer", "source": args.source, "strategy": strategy, "image_size": args.image_size,
                 "head_epochs": args.head_epochs, "unfreeze_lr_factor": 10}
        config = TrainConfig(dataset=name, model=model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             scheduler="constant", seed=0, device=args.device, val_fraction=0.1)
        # the run's mean seconds per epoch (two-stage: head-only epochs, then the unfrozen ones)
        estimated = plan_cost(config, args.device, info=info).seconds_per_epoch
        started = time.perf_counter()
        result = train(config)
        wall = time.perf_counter() - started
        epoch_seconds = [row["seconds"] for row in result.history]
        rows.append({"strategy": strategy, "test_acc": result.test_acc, "macro_f1": result.macro_f1,
                     "seconds_per_epoch": sum(epoch_seconds) / len(epoch_seconds),
                     "epoch_seconds": epoch_seconds, "estimated_seconds_per_epoch": estimated,
                     "trainable_params": result.trainable_params, "frozen_params": result.frozen_params,
                     "val_acc": [row["val_acc"] for row in result.history], "wall_seconds": wall})
        print(f"{strategy}: test acc {result.test_acc:.3f}, {rows[-1]['seconds_per_epoch']:.1f} s/epoch", file=sys.stderr)

    print(f"\n{args.source} on {name} ({len(classes)} classes: {', '.join(classes)}; {args.per_class} train "
          f"[10 % of them validation] and {args.test_per_class} test images per class), {args.image_size}×"
          f"{args.image_size} px, {args.epochs} epochs, Adam lr {args.lr:g}, batch {args.batch_size}, "
          f"device {args.device}, torch threads {torch.get_num_threads()}\n")
    print("| strategy | test acc | s/epoch (measured) | s/epoch (estimated before) | trainable | frozen |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['strategy']} | {r['test_acc']:.3f} | {r['seconds_per_epoch']:.1f} | "
              f"{r['estimated_seconds_per_epoch']:.1f} | {r['trainable_params']:,} | {r['frozen_params']:,} |")
    print(json.dumps({"dataset": name, "classes": classes, "image_size": args.image_size, "epochs": args.epochs,
                      "rows": rows}))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
