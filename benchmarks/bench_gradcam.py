"""Grad-CAM speed on CPU after the model is loaded: a small CIFAR CNN (32×32) and EfficientNet-Lite0 (224×224).

Usage: .venv/bin/python benchmarks/bench_gradcam.py [--runs 20] [--threads N] [--methods gradcam,saliency,...]
Prints one JSON line: per model and method, the median and min seconds of
  - attribution: the map itself (what `python -m cnnkit gradcam` reports as seconds),
  - explain: the whole explain() call (prediction + default-layer search + map + normalisation),
and the targets from the issue (< 0.5 s small CNN, < 2 s EfficientNet-Lite0).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnnkit.explain import explain, load_explainable, load_image  # noqa: E402


def small_cifar_cnn() -> tuple[nn.Module, str]:
    """cnnkit.models' "cnn3" preset when it exists, else an equivalent 3-block CIFAR CNN."""
    try:
        from cnnkit.models import build_model, get_preset

        spec = get_preset("cnn3")
        return build_model(spec).eval(), "cnnkit.models preset cnn3"
    except (ImportError, ValueError):
        torch.manual_seed(0)
        layers: list[nn.Module] = []
        channels = 3
        for width in (32, 64, 128):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                       nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            channels = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10)]
        return nn.Sequential(*layers).eval(), "local 3-block CIFAR CNN (cnnkit.models not installed)"


def time_method(model: nn.Module, x: torch.Tensor, method: str, runs: int) -> dict:
    explain(model, x, method=method)  # warm-up: first call allocates, builds hooks
    attribution, total = [], []
    for _ in range(runs):
        start = time.perf_counter()
        result = explain(model, x, method=method)
        total.append(time.perf_counter() - start)
        attribution.append(result.seconds)
    return {"attribution_median_s": round(statistics.median(attribution), 4),
            "attribution_min_s": round(min(attribution), 4),
            "explain_median_s": round(statistics.median(total), 4), "layer": result.layer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--methods", default="gradcam", help="comma-separated methods to time")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]

    report: dict = {"torch_threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
                    "runs": args.runs, "models": {}}
    cnn, description = small_cifar_cnn()
    x_small = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    report["models"]["small_cifar_cnn"] = {"description": description, "input": [3, 32, 32],
                                           **{m: time_method(cnn, x_small, m, args.runs) for m in methods}}

    start = time.perf_counter()
    lite0 = load_explainable("efficientnet_lite0")
    load_seconds = time.perf_counter() - start
    x_lite = lite0.preprocess(load_image(ROOT / "assets" / "examples" / "china.jpg"))
    report["models"]["efficientnet_lite0"] = {"description": "EfficientNet-Lite0, bundled ImageNet weights",
                                              "input": [3, 224, 224], "load_s": round(load_seconds, 3),
                                              **{m: time_method(lite0.model, x_lite, m, args.runs) for m in methods}}
    gradcam = {name: entry.get("gradcam") for name, entry in report["models"].items()}
    if all(gradcam.values()):
        report["targets"] = {
            "small_cifar_cnn_under_0.5s": gradcam["small_cifar_cnn"]["explain_median_s"] < 0.5,
            "efficientnet_lite0_under_2s": gradcam["efficientnet_lite0"]["explain_median_s"] < 2.0,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
