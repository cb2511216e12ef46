"""Training throughput: CNN Lab's in-memory tensor pipeline vs the plain PyTorch recipe, side by side.

Both train preset cnn3 with Adam 1e-3, batch 64, for one epoch over the whole training split and are
tested on the whole test split. The plain recipe is torchvision's ImageFolder with per-image
ToTensor/Normalize and a DataLoader with 2 workers. A third figure is the compute-only ceiling: the
same model stepping on one batch that never changes (no data work at all).

    CNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_train.py            # cifar10-jpeg, CPU
    CNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_train.py --device cuda --time-to 0.70
        # on a GPU: the side-by-side epoch, then cnn3 trained until its test accuracy passes 70%

The cnnkit decode cache is filled first (not timed), as the issue asks ("data already cached").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnnkit.data import load_dataset  # noqa: E402
from cnnkit.device import resolve_device  # noqa: E402
from cnnkit.models import adapt_spec, build_model, get_preset  # noqa: E402
from cnnkit.paths import data_dir  # noqa: E402
from cnnkit.train import TrainConfig, train  # noqa: E402


def ours(dataset: str, device: str, limit: int, seed: int, precision: str = "auto") -> dict:
    config = TrainConfig(dataset=dataset, model="cnn3", epochs=1, batch_size=64, optimizer="adam", lr=1e-3,
                         scheduler="constant", val_fraction=0.0, train_subset=limit, seed=seed, device=device,
                         precision=precision, log_every=50, name="benchmark")
    result = train(config)
    label = "cnnkit tensor pipeline" + ("" if precision == "auto" else f" ({precision} autocast)")
    return {"recipe": label, "train_img_per_s": result.train_img_per_s,
            "epoch_train_seconds": result.history[0]["seconds"], "test_acc": result.test_acc,
            "run_dir": result.run_dir}


def plain(dataset: str, device_name: str, limit: int, seed: int, mean: list[float], std: list[float]) -> dict:
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    device = resolve_device(device_name)
    root = data_dir() / dataset
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    train_set = datasets.ImageFolder(str(root / "train"), transform=transform)
    test_set = datasets.ImageFolder(str(root / "test"), transform=transform)
    if limit:
        generator = torch.Generator().manual_seed(seed)
        train_set = Subset(train_set, torch.randperm(len(train_set), generator=generator)[:limit].tolist())
    torch.manual_seed(seed)
    loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=2)
    test_loader = DataLoader(test_set, batch_size=500, shuffle=False, num_workers=2)
    spec = adapt_spec(get_preset("cnn3"), input_shape=(3, 32, 32), num_classes=len(test_set.classes))
    model = build_model(spec).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss()
    model.train()
    images = 0
    started = time.perf_counter()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        images += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in test_loader:
            correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
            total += len(y)
    return {"recipe": "plain ImageFolder + DataLoader(2 workers)", "train_img_per_s": images / seconds,
            "epoch_train_seconds": seconds, "test_acc": correct / total}


def time_to_accuracy(dataset: str, device: str, target: float, max_epochs: int, seed: int) -> dict:
    """Train cnn3 (Adam 1e-3, batch 64, constant lr) and test the last weights after every epoch; the
    training time (test passes not counted) at which test accuracy first reaches `target`."""
    from cnnkit.evaluate import evaluate_run

    config = TrainConfig(dataset=dataset, model="cnn3", epochs=max_epochs, batch_size=64, optimizer="adam", lr=1e-3,
                         scheduler="constant", val_fraction=0.0, seed=seed, device=device, log_every=100,
                         name="benchmark time to accuracy")
    state: dict = {"run_dir": None, "paused": 0.0, "curve": [], "reached": None}
    cancel = threading.Event()
    started = time.perf_counter()

    def on_progress(event: dict) -> None:
        if event["kind"] == "run_dir":
            state["run_dir"] = event["run_dir"]
        if event["kind"] != "epoch" or state["reached"] is not None:
            return
        pause = time.perf_counter()
        training_seconds = pause - started - state["paused"]
        result, _ = evaluate_run(state["run_dir"], which="last", device=device)
        state["curve"].append({"epoch": event["row"]["epoch"], "seconds": training_seconds,
                               "test_acc": result.accuracy})
        print(json.dumps(state["curve"][-1]), file=sys.stderr)
        if result.accuracy >= target:
            state["reached"] = state["curve"][-1]
            cancel.set()  # stop at the next batch: the target is passed
        state["paused"] += time.perf_counter() - pause

    train(config, on_progress=on_progress, cancel_event=cancel)
    return {"recipe": f"cnn3 to {target:.0%} test accuracy", "target": target, "reached": state["reached"],
            "curve": state["curve"]}


def ceiling(device_name: str, steps: int = 60) -> dict:
    """Model compute only: one fixed batch, forward + backward + Adam step (NCHW, as the plain recipe)."""
    device = resolve_device(device_name)
    model = build_model(get_preset("cnn3")).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(64, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (64,), device=device)
    for i in range(steps + 10):
        if i == 10:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"recipe": "compute-only ceiling (one resident batch)", "train_img_per_s": 64 * steps / (time.perf_counter() - started)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="cifar10-jpeg")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, default=0, help="train on this many images only (quick check)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument("--bf16", action="store_true", help="also train with --precision bf16 (CPUs with AMX/AVX-512 bf16)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--time-to", type=float, default=0.0,
                        help="then train cnn3 until its test accuracy passes this (e.g. 0.70)")
    parser.add_argument("--max-epochs", type=int, default=20, help="give up --time-to after this many epochs")
    args = parser.parse_args()

    started = time.perf_counter()
    data = load_dataset(args.dataset)  # fills the decode cache (not part of the comparison)
    print(f"dataset {args.dataset}: {len(data.train_x)} train / {len(data.test_x)} test, "
          f"loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    from cnnkit.data import channel_stats

    mean, std = channel_stats(data.train_x)
    del data
    rows = [ceiling(args.device)]
    print(json.dumps(rows[-1]), file=sys.stderr)
    rows.append(ours(args.dataset, args.device, args.limit, args.seed))
    print(json.dumps(rows[-1]), file=sys.stderr)
    if args.bf16:
        rows.append(ours(args.dataset, args.device, args.limit, args.seed, precision="bf16"))
        print(json.dumps(rows[-1]), file=sys.stderr)
    if not args.skip_plain:
        rows.append(plain(args.dataset, args.device, args.limit, args.seed, mean, std))
        print(json.dumps(rows[-1]), file=sys.stderr)
    report = {"dataset": args.dataset, "device": args.device, "threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "limit": args.limit or None, "rows": rows}
    if not args.skip_plain:
        report["speedup"] = rows[1]["train_img_per_s"] / rows[-1]["train_img_per_s"]
        report["accuracy_gap_points"] = 100 * (rows[1]["test_acc"] - rows[-1]["test_acc"])
    print(f"{'recipe':48s} {'img/s':>8s} {'epoch s':>8s} {'test acc':>9s}")
    for row in rows:
        acc = f"{row['test_acc']:.2%}" if "test_acc" in row else "-"
        secs = f"{row['epoch_train_seconds']:.1f}" if "epoch_train_seconds" in row else "-"
        print(f"{row['recipe']:48s} {row['train_img_per_s']:8.0f} {secs:>8s} {acc:>9s}")
    if "speedup" in report:
        print(f"speed-up of the tensor pipeline over the plain recipe: {report['speedup']:.2f}x; "
              f"accuracy difference {report['accuracy_gap_points']:+.1f} points")
    if args.time_to:
        report["time_to_accuracy"] = time_to_accuracy(args.dataset, args.device, args.time_to, args.max_epochs,
                                                      args.seed)
        reached = report["time_to_accuracy"]["reached"]
        print(f"cnn3 passed {args.time_to:.0%} test accuracy after epoch {reached['epoch']}, "
              f"{reached['seconds']:.1f} s of training" if reached else
              f"cnn3 did not reach {args.time_to:.0%} test accuracy in {args.max_epochs} epochs")
    print(json.dumps(report))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
