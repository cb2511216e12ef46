"""Regenerate the demo runs shipped in assets/demo_runs/: small networks really trained with cnnkit on CPU.

Usage: .venv/bin/python benchmarks/make_demo_runs.py [--only shapes|digits] [--threads 2]

Each demo is trained with cnnkit.train.train (seeded, one CPU thread per op order: the same files every time on
the same torch version) into a scratch checkpoint folder; then only the files a viewer reads are copied to
assets/demo_runs/<demo id>/ (config.json, run.json, best.pt, history.json, results.json): no state.pt (optimiser
state, twice the weights) and no last.pt, so each demo stays well under 1.5 MB. Prints one JSON line per demo.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHIPPED_FILES = ("config.json", "run.json", "best.pt", "history.json", "results.json")
MAX_BYTES = 1_500_000


def shapes_spec() -> dict:
    """cnn3_bn at a quarter of its width (16/32/64 channels, a 64-unit hidden layer): ~100 k parameters, not 620 k,
    so best.pt is ~0.4 MB; 8 epochs on CPU train it."""
    from cnnkit.models.presets import get_preset

    spec = get_preset("cnn3_bn")
    widths = iter([16, 32, 64])
    for layer in spec.layers:
        if layer.type == "conv2d":
            layer.params["out_channels"] = next(widths)
        elif layer.type == "linear" and layer.params.get("out_features") == 256:
            layer.params["out_features"] = 64
    spec.name = "cnn3_bn_small"
    spec.description = "cnn3_bn at a quarter width (16, 32, 64 channels; Linear 64): the Shapes demo"
    return spec.to_dict()


def digits_spec() -> dict:
    """Two 3×3 convs on 8×8 grey digits (pad 1, each then ReLU and MaxPool 2), then Linear 10: ~6 k parameters."""
    from cnnkit.models.spec import LayerSpec, ModelSpec

    def layer(type_: str, **params) -> LayerSpec:
        return LayerSpec(type_, params)

    return ModelSpec("digits_cnn", (1, 8, 8), 10, [
        layer("conv2d", out_channels=16, kernel_size=3, padding=1), layer("relu"), layer("maxpool2d", kernel_size=2),
        layer("conv2d", out_channels=32, kernel_size=3, padding=1), layer("relu"), layer("maxpool2d", kernel_size=2),
        layer("flatten"), layer("linear", out_features=10),
    ], "A small CNN for 8×8 handwritten digits: the drawing demo").to_dict()


# demo id -> (TrainConfig fields). Ids are fixed: pages remember the choice by its key.
DEMOS = {
    "demo-shapes-cnn3_bn_small": dict(dataset="shapes", model=shapes_spec, epochs=8, batch_size=64, lr=3e-3,
                                      name="Shapes demo"),
    "demo-digits-cnn": dict(dataset="digits", model=digits_spec, epochs=25, batch_size=32, lr=3e-3,
                            name="Digits demo (draw a digit)"),
}


def make_demo(demo_id: str, out_root: Path, seed: int = 0) -> dict:
    from cnnkit.train import TrainConfig, train

    fields = dict(DEMOS[demo_id])
    fields["model"] = fields["model"]()
    config = TrainConfig(**fields, seed=seed, device="cpu", precision="fp32")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        result = train(config, checkpoint_root=Path(scratch))
        run_dir = Path(result.run_dir)
        target = out_root / demo_id
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in SHIPPED_FILES:
            shutil.copy2(run_dir / name, target / name)
    # Facts that would differ between machines or runs (who trained it, where) are dropped; it is a demo.
    meta = json.loads((target / "run.json").read_text())
    for volatile in ("pid", "host", "run_dir", "lock"):
        meta.pop(volatile, None)
    meta["demo"] = True
    (target / "run.json").write_text(json.dumps(meta, indent=2))
    size = sum(p.stat().st_size for p in target.iterdir())
    if size > MAX_BYTES:
        raise SystemExit(f"{demo_id} is {size} bytes, over the {MAX_BYTES} budget; shrink its network")
    return {"demo": demo_id, "test_accuracy": meta.get("test_accuracy"), "bytes": size,
            "files": {p.name: p.stat().st_size for p in sorted(target.iterdir())},
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["shapes", "digits"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from cnnkit.paths import demo_runs_dir

    out_root = demo_runs_dir()
    for demo_id in DEMOS:
        if args.only and args.only not in demo_id:
            continue
        print(json.dumps(make_demo(demo_id, out_root, seed=args.seed)), flush=True)


if __name__ == "__main__":
    main()
