"""The resolution lab's TOTV/TVTV table on a dataset, with the time it took, as a Markdown table.

TOTV: one model trained at the native size, tested at every resolution. TVTV: one model per resolution,
trained and tested there. The course reports (CIFAR-10) TOTV 75/41/24 % and TVTV 75/70/59 % at 32/16/8 px.

    .venv/bin/python benchmarks/bench_resolution_lab.py                                  # Shapes, 3 epochs
    CNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_resolution_lab.py \
        --dataset cifar10-jpeg --epochs 4 --train-subset 10000                           # CIFAR-10 on a CPU
    .venv/bin/python benchmarks/bench_resolution_lab.py --json                           # one JSON line

Runs and the lab go to the checkpoint directory (CNNKIT_CHECKPOINT_DIR; ./checkpoints by default).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnnkit.data.resolution import RESIZE_MODES  # noqa: E402
from cnnkit.labs import ResolutionLabConfig, run_resolution_lab  # noqa: E402
from cnnkit.train import TrainConfig  # noqa: E402


def markdown(result, args: argparse.Namespace) -> str:
    totv = {r.resolution: r for r in result.totv}
    tvtv = {r.resolution: r for r in result.tvtv}
    subset = f", {args.train_subset} training images" if args.train_subset else ", all training images"
    lines = [f"{result.model} on {result.dataset}: {args.epochs} epoch(s) per model{subset}, filter {result.mode}, "
             f"{'native size' if result.native_size else 'resampled back up'}; {len(result.runs)} models in "
             f"{result.seconds:.0f} s (lab {result.lab_id})", "",
             "| resolution | TOTV accuracy | TVTV accuracy | TOTV macro F1 | TVTV macro F1 |",
             "|---:|---:|---:|---:|---:|"]
    for res in result.resolutions:
        a, b = totv.get(res), tvtv.get(res)
        pct = lambda row, key: f"{100 * getattr(row, key):.1f} %" if row else "-"  # noqa: E731
        lines.append(f"| {res} px | {pct(a, 'accuracy')} | {pct(b, 'accuracy')} | {pct(a, 'f1')} | {pct(b, 'f1')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--preset", default="cnn3_bn")
    parser.add_argument("--resolutions", default="32,16,8")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-subset", type=int, default=0)
    parser.add_argument("--mode", default="area", choices=RESIZE_MODES)
    parser.add_argument("--native-size", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    base = TrainConfig(dataset=args.dataset, model=args.preset, epochs=args.epochs, train_subset=args.train_subset,
                       device=args.device, seed=args.seed, name="bench")
    config = ResolutionLabConfig(base=base.to_dict(), resolutions=[int(r) for r in args.resolutions.split(",")],
                                 mode=args.mode, native_size=args.native_size, name="bench")

    def report(event: dict) -> None:
        if event.get("kind") == "lab" and "lab_model" in event:
            print(f"[{time.strftime('%H:%M:%S')}] {event['lab_stage']}/{event['lab_stages']} {event['lab_model']}",
                  file=sys.stderr, flush=True)

    print(config.plan().text(), file=sys.stderr, flush=True)
    result = run_resolution_lab(config, on_progress=report)
    if args.json:
        print(json.dumps(result.summary()))
    else:
        print(markdown(result, args))
    return 0 if result.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
