"""Data timings: Shapes generation, and the first (decode) and second (cached) load of a folder dataset.

Usage: .venv/bin/python benchmarks/bench_data.py [--data-dir ../shared/data] [--dataset cifar10-jpeg]
        [--cache-dir DIR]
The first load removes this dataset's decode cache so it really decodes. The cache goes to
cnnkit.paths.cache_dir(): <data dir>/.cache, or ~/.cache/cnnkit when the data dir is read-only,
or --cache-dir / CNNKIT_CACHE_DIR. Prints one JSON line of figures (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--dataset", default="cifar10-jpeg")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--shapes", type=int, default=12_000, help="Shapes images to generate (10,000 + 2,000)")
    args = parser.parse_args()
    os.environ["CNNKIT_DATA_DIR"] = str(Path(args.data_dir).resolve())
    if args.cache_dir:
        os.environ["CNNKIT_CACHE_DIR"] = str(Path(args.cache_dir).resolve())

    import torch

    from cnnkit.data import dataset_info, generate_shapes, list_datasets, load_dataset
    from cnnkit.paths import cache_dir

    figures: dict[str, object] = {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    start = time.perf_counter()
    generate_shapes(args.shapes, seed=0)
    figures["shapes_generate_s"] = round(time.perf_counter() - start, 3)
    figures["shapes_images"] = args.shapes

    start = time.perf_counter()
    list_datasets()
    figures["list_datasets_s"] = round(time.perf_counter() - start, 3)

    info = dataset_info(args.dataset)
    if not info.available:
        figures["error"] = f"{args.dataset} not available: {info.reason}"
        print(json.dumps(figures))
        return 1
    figures["cache_dir"] = str(cache_dir())
    for old in cache_dir().glob(f"{args.dataset}-*.pt"):
        old.unlink()
    start = time.perf_counter()
    first = load_dataset(args.dataset)
    figures["first_load_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    second = load_dataset(args.dataset)
    figures["second_load_s"] = round(time.perf_counter() - start, 3)
    assert torch.equal(first.test_x, second.test_x)
    figures["dataset"] = args.dataset
    figures["train_shape"] = list(first.train_x.shape)
    figures["test_shape"] = list(first.test_x.shape)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
