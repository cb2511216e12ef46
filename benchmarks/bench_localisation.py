"""Does Grad-CAM look at the object? The pointing game on Shapes test images.

Every Shapes image holds one object whose pixels are known (cnnkit.data.shapes.shapes_masks). For a
model trained on Shapes, the Grad-CAM map's maximum (default layer, predicted class) should fall on
the object. The same measurement on a copy with re-initialised weights is the control.

    .venv/bin/python benchmarks/bench_localisation.py --train          # train the default Shapes run first (~1 min)
    .venv/bin/python benchmarks/bench_localisation.py --run RUN_DIR    # an existing Shapes run
    .venv/bin/python benchmarks/bench_localisation.py --run RUN_DIR --layer layers.10   # another layer
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnnkit.data.registry import SHAPES_SIZE, SHAPES_TEST_SEED  # noqa: E402
from cnnkit.data.shapes import generate_shapes, shapes_masks  # noqa: E402
from cnnkit.explain import explain  # noqa: E402
from cnnkit.store import load_run_model  # noqa: E402


def cam_maxima(model, preprocess, x: torch.Tensor, layer: str | None = None) -> list[tuple[int, int]]:
    """Where each image's Grad-CAM map (predicted class) peaks, as (row, col)."""
    peaks = []
    for image in x:
        cam = explain(model, preprocess(image.unsqueeze(0)), "gradcam", layer_name=layer).map
        peaks.append(tuple(int(i) for i in np.unravel_index(int(np.argmax(cam)), cam.shape)))
    return peaks


def pointing_game(peaks: list[tuple[int, int]], masks: torch.Tensor, dilate: int = 0) -> tuple[float, list[bool]]:
    """The share of peaks on the object (or within `dilate` pixels of it), and each image's hit."""
    hits = []
    for (row, col), mask in zip(peaks, masks):
        region = mask.numpy()
        r0, r1 = max(0, row - dilate), row + dilate + 1
        c0, c1 = max(0, col - dilate), col + dilate + 1
        hits.append(bool(region[r0:r1, c0:c1].any()))
    return float(np.mean(hits)), hits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a saved run trained on shapes")
    parser.add_argument("--train", action="store_true", help="train the default Shapes config first")
    parser.add_argument("--n", type=int, default=400, help="test images to check")
    parser.add_argument("--layer", help="the layer to read (default: Grad-CAM's default conv layer)")
    args = parser.parse_args()
    if args.train:
        from cnnkit.train import TrainConfig, train

        result = train(TrainConfig(dataset="shapes", name="localisation benchmark"))
        run_dir = result.run_dir
        print(f"trained {result.model} on shapes: test accuracy {result.test_acc:.3f} in {result.seconds:.0f} s",
              file=sys.stderr)
    elif args.run:
        run_dir = args.run
    else:
        parser.error("give --run RUN_DIR or --train")
    loaded = load_run_model(run_dir)
    if loaded.dataset != "shapes":
        raise SystemExit(f"{run_dir} was trained on {loaded.dataset}, not shapes")
    x, y = generate_shapes(args.n, SHAPES_TEST_SEED, SHAPES_SIZE)  # the first n Shapes test images
    masks = shapes_masks(args.n, SHAPES_TEST_SEED, SHAPES_SIZE)
    with torch.no_grad():
        predicted = loaded.model(loaded.preprocess(x)).argmax(1)
    correct = (predicted == y).numpy()
    started = time.perf_counter()
    peaks = cam_maxima(loaded.model, loaded.preprocess, x, args.layer)
    seconds = (time.perf_counter() - started) / args.n
    rate, hits = pointing_game(peaks, masks)
    rate_1px, _ = pointing_game(peaks, masks, dilate=1)
    control = copy.deepcopy(loaded.model)
    torch.manual_seed(0)
    for module in control.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    control.eval()
    control_rate, _ = pointing_game(cam_maxima(control, loaded.preprocess, x, args.layer), masks)
    report = {
        "run": str(run_dir), "layer": args.layer or "default", "images": args.n, "test_accuracy_on_these": float(correct.mean()),
        "object_share_of_image": float(masks.float().mean()),
        "hit_rate": rate, "hit_rate_correct_predictions": float(np.mean(np.array(hits)[correct])) if correct.any() else None,
        "hit_rate_within_1px": rate_1px, "hit_rate_random_weights": control_rate,
        "seconds_per_map": seconds,
    }
    print(f"Grad-CAM maximum on the object: {rate:.1%} of {args.n} Shapes test images "
          f"({report['hit_rate_correct_predictions']:.1%} of the correctly classified; within 1 px {rate_1px:.1%}); "
          f"random-weights control {control_rate:.1%}; the object covers {report['object_share_of_image']:.1%} "
          f"of an image on average", file=sys.stderr)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
