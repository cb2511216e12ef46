"""How much denormal numbers slow a trained network's training steps on the CPU, and what flushing them gains
(cnnkit.device.denormals_flushed, which every training calls).

    .venv/bin/python benchmarks/bench_denormals.py --run <run folder> --json

It loads the run's saved network, then times forward and backward passes of batches of the run's
input size on one thread, first as the CPU computes by default, then with denormals flushed to zero. The batches
are random: the slowdown comes from the network's own weights and the activations and gradients they make.

Measured on the 2-core dev box (one thread; the other core busy with a training of its own), on the runs of the
full-mode lesson 002-Q3 (CIFAR-10, made by `benchmarks/full_lessons.sh`):
- "dropout 0.3, weight decay 1e-3", after its 9th epoch: 121 img/s by default, 995 flushed; after its 10th:
  73 against 640 (8.7 times), 119,766 of its 620,362 weights denormal. That run had trained at 1,301 img/s in
  its 2nd epoch and 137 in its 8th.
- the base CNN (no weight decay), after 10 epochs: 628 against 651; none of its weights denormal.
Weight decay pulls weights towards zero, and some end in the denormal range.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINY = 1.1754943508222875e-38  # float32's smallest normal number


def steps_per_second(model, inputs, labels, seconds: float) -> float:
    import torch

    started, images = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
        images += len(inputs)
    return images / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a run folder (its last saved epoch is timed)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=4.0, help="timing per setting")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from cnnkit.store import load_run, load_run_model

    torch.set_num_threads(1)
    record = load_run(args.run)
    loaded = load_run_model(args.run)
    model = loaded[0] if isinstance(loaded, tuple) else loaded
    model = getattr(model, "model", model)
    model.train()
    size = int(record.config.get("image_size") or 32)
    channels = 1 if record.config.get("dataset") in ("mnist", "fashion_mnist") else 3
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(args.batch, channels, size, size, generator=generator)
    labels = torch.randint(0, 10, (args.batch,), generator=generator)
    denormal = sum(int(((p.abs() < TINY) & (p != 0)).sum()) for p in model.parameters())
    report = {"run": args.run.name, "epochs_done": record.epochs_done,
              "params": sum(p.numel() for p in model.parameters()), "denormal_params": denormal}
    torch.set_flush_denormal(False)
    report["default_img_per_s"] = round(steps_per_second(model, inputs, labels, args.seconds), 1)
    torch.set_flush_denormal(True)
    report["flushed_img_per_s"] = round(steps_per_second(model, inputs, labels, args.seconds), 1)
    report["speedup"] = round(report["flushed_img_per_s"] / max(report["default_img_per_s"], 1e-9), 2)
    if not args.json:
        for key, value in report.items():
            print(f"{key}: {value}", file=sys.stderr)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
