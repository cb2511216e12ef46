"""The speedrun94 recipe (airbench94-style, issue 17 goals 4/5): seconds to train and test accuracy with and
without flip test-time augmentation.

It runs the recipe with its own short loop built from cnnkit's pieces (prepare_data, the preset, the
whitening init of cnnkit.train.recipes.prepare_model, build_optimizer, LRSchedule, the on-device
augment, flip TTA) because train() does not yet call prepare_model or offer TTA.

    CNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_speedrun.py --dataset cifar10-jpeg \
        --device cuda --compile                                   # the real thing, on a GPU (target 94%)
    CNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_speedrun.py --dataset cifar10-jpeg \
        --subset 2000 --epochs 1 --device cpu                     # CPU smoke test
    .venv/bin/python benchmarks/bench_speedrun.py --dataset shapes --subset 1000 --epochs 1   # no data needed

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnnkit.data import AugmentConfig, Normaliser, load_dataset  # noqa: E402
from cnnkit.device import resolve_device  # noqa: E402
from cnnkit.evaluate import autocast_context, predict, predict_with_flip_tta  # noqa: E402
from cnnkit.models import adapt_spec, build_model, get_preset  # noqa: E402
from cnnkit.train.loop import autocast_dtype_for  # noqa: E402
from cnnkit.train.optim import LRSchedule, build_optimizer, loss_function  # noqa: E402
from cnnkit.train.pipeline import augment, batches, prepare_data  # noqa: E402
from cnnkit.train.recipes import prepare_model, speedrun94_config  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10-jpeg")
    parser.add_argument("--subset", type=int, default=0, help="train on this many images (0 = all)")
    parser.add_argument("--test-subset", type=int, default=0, help="test on this many images (0 = all)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr))
                 if v is not None}
    config = speedrun94_config(args.dataset, train_subset=args.subset, device=args.device, seed=args.seed,
                               **overrides)
    config.validate()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    dataset = load_dataset(config.dataset)
    channels = int(dataset.train_x.shape[1])
    prepared = prepare_data(config, dataset, device, 32, None)
    if args.test_subset:
        prepared.test_x, prepared.test_y = prepared.test_x[: args.test_subset], prepared.test_y[: args.test_subset]
    normalise = Normaliser(prepared.mean, prepared.std, device)
    spec = adapt_spec(get_preset(config.model), input_shape=(channels, 32, 32), num_classes=len(prepared.classes))
    model = build_model(spec).to(device).to(memory_format=torch.channels_last)
    amp_dtype = autocast_dtype_for(config.precision, device)

    started = time.perf_counter()
    cpu0 = time.process_time()
    whitened = prepare_model(model, config, prepared.train_x, normalise)   # timed: part of the recipe
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], config)
    forward = torch.compile(model) if args.compile else model
    criterion = loss_function(config, len(prepared.classes))
    augment_config = AugmentConfig.from_dict(config.augment)
    n = len(prepared.train_x)
    steps_per_epoch = math.ceil(n / config.batch_size)
    schedule = LRSchedule(config, steps_per_epoch)
    losses = []
    for epoch in range(config.epochs):
        model.train()
        for step, index in enumerate(batches(n, config.batch_size, generator, device)):
            schedule.apply(optimizer, epoch, step)
            x = normalise(augment(prepared.train_x[index], augment_config, generator))
            with autocast_context(device, amp_dtype):
                loss = criterion(forward(x), prepared.train_y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        losses.append(float(loss.detach()))
        print(f"epoch {epoch + 1}/{config.epochs}: last loss {losses[-1]:.3f}, "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_s = time.perf_counter() - started
    y = prepared.test_y.cpu()
    plain = float((predict(model, prepared.test_x, normalise, autocast_dtype=amp_dtype).argmax(1) == y).float().mean())
    tta = float((predict_with_flip_tta(model, prepared.test_x, normalise, autocast_dtype=amp_dtype).argmax(1) == y)
                .float().mean())
    total_s = time.perf_counter() - started
    print(json.dumps({"recipe": "speedrun94", "dataset": config.dataset, "device": str(device),
                      "train_images": n, "test_images": len(y), "epochs": config.epochs,
                      "batch_size": config.batch_size, "whitened": whitened, "compiled": args.compile,
                      "precision": str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
                      "train_s": round(train_s, 2), "train_plus_tta_eval_s": round(total_s, 2),
                      "cpu_s": round(time.process_time() - cpu0, 2), "losses": [round(v, 3) for v in losses],
                      "test_acc": plain, "test_acc_flip_tta": tta}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
