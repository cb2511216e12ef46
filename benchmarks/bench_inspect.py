"""Inside the network: speed and memory of what the page computes, on CPU.

Usage: .venv/bin/python benchmarks/bench_inspect.py [--runs 7] [--threads 2] [--models cnn3,...] [--no-apptest]
Prints one JSON line. Per model (the course's CIFAR presets at 32×32 with random weights, and EfficientNet-Lite0
at 224×224), median seconds of
  - capture: one forward pass keeping every layer's output (cloned),
  - redraw: what one page run computes after the maps exist (strip thumbnails, one page of the channel grid of
    the widest layer, the statistics table, a receptive-field box, a conv breakdown, the first conv's filters),
  - capture_mib: the memory the kept maps take;
and, unless --no-apptest, the seconds of a real page rerun in Streamlit's AppTest (changing the arithmetic's
output position) for cnn3 and EfficientNet-Lite0. Targets from the issue: < 1 s CIFAR models, < 2 s EfficientNet-Lite0.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnnkit.explain import load_image  # noqa: E402
from cnnkit.inspect import (breakdown_at, capture_activations, channel_grid, first_conv_filters,  # noqa: E402
                            layer_table, load_inspectable, map_image, receptive_box, shape_changes)

IMAGE = ROOT / "assets" / "examples" / "flower.jpg"


def timed(function, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def redraw(model, x, acts) -> None:
    for layer in shape_changes(acts):
        map_image(layer.values[0], 64)
    widest = max(acts.maps(), key=lambda layer: layer.shape[0])
    channel_grid(widest.values)
    layer_table(acts)
    conv = next(layer for layer in acts.layers if "Conv2d" in layer.kind and layer.shape[1] > 2)
    name = conv.name.split("#")[0]
    receptive_box(model, x, name, 0, conv.shape[1] // 2, conv.shape[2] // 2)
    breakdown_at(model, x, name, (0, conv.shape[1] // 2, conv.shape[2] // 2))
    first_conv_filters(model)


def bench_model(name: str, runs: int) -> dict:
    em = load_inspectable(name)
    x = em.preprocess(load_image(IMAGE))
    capture_capture = capture_activations(em.model, x)  # warm-up
    capture_s, acts = timed(lambda: capture_activations(em.model, x), runs)
    redraw_s, _ = timed(lambda: redraw(em.model, x, acts), runs)
    widest = max(acts.maps(), key=lambda layer: layer.shape[0])
    del capture_capture
    return {"model": name, "input": list(x.shape[1:]), "layers": len(acts.layers), "capture_s": round(capture_s, 4),
            "redraw_s": round(redraw_s, 4), "total_s": round(capture_s + redraw_s, 4),
            "capture_mib": round(acts.nbytes / 2 ** 20, 1), "widest_layer_channels": widest.shape[0]}


def bench_apptest(model_key: str) -> dict:
    import numpy as np
    from PIL import Image

    os.environ.setdefault("CNNKIT_OFFLINE", "1")
    from tests.conftest import make_app_test

    buffer = io.BytesIO()
    Image.open(IMAGE).save(buffer, format="PNG")
    at = make_app_test("inside_network", timeout=300)
    at.selectbox(key="in_model").set_value(model_key)
    at.run()
    at.file_uploader(key="in_upload").set_value(("flower.png", buffer.getvalue(), "image/png"))
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    times = []
    for value in (1, 2, 3):
        at.number_input(key="in_ar_y").set_value(value)
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
    assert not at.exception, at.exception
    return {"model": model_key, "first_run_with_capture_s": round(first, 3),
            "rerun_s": round(float(np.median(times)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the course laptop: 2 cores)")
    parser.add_argument("--models", default="cnn3,cnn3_bn,vgg6,resnet_small,efficientnet_lite0")
    parser.add_argument("--no-apptest", action="store_true", dest="no_apptest")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import resource

    results = [bench_model(name, args.runs) for name in args.models.split(",")]
    report = {"threads": args.threads, "cpu": platform.processor() or platform.machine(), "models": results,
              "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "targets_s": {"cifar": 1.0, "efficientnet_lite0": 2.0}}
    if not args.no_apptest:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:  # no runs of yours listed
            os.environ["CNNKIT_CHECKPOINT_DIR"] = folder
            os.environ.setdefault("CNNKIT_DATA_DIR", folder)
            report["apptest"] = [bench_apptest(key) for key in ("preset:cnn3", "pretrained:efficientnet_lite0")]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
