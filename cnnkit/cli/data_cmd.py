"""`python -m cnnkit datasets|load-dataset|import-zip`: the dataset registry from the command line."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cnnkit.cli.common import print_json, progress


def _info_row(info) -> dict:
    row = {"name": info.name, "classes": info.classes, "num_train": info.num_train, "num_test": info.num_test,
           "channels": info.channels, "height": info.height, "width": info.width, "source": info.source,
           "available": info.available, "description": info.description}  # e.g. which copy of cifar10 loads
    if not info.available:
        row["reason"] = info.reason
    return row


def cmd_datasets(args: argparse.Namespace) -> int:
    from cnnkit.data import list_datasets

    infos = list_datasets()
    if args.json:
        print_json([_info_row(i) for i in infos])
        return 0
    print(f"{'name':<16} {'source':<12} {'classes':>7} {'train':>7} {'test':>7}  {'C x H x W':<10} available")
    for i in infos:
        shape = f"{i.channels}x{i.height}x{i.width}"
        status = "yes" if i.available else f"no: {i.reason}"
        print(f"{i.name:<16} {i.source:<12} {len(i.classes):>7} {i.num_train:>7} {i.num_test:>7}  {shape:<10} {status}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from cnnkit.data import channel_stats, load_dataset

    last = [0.0]

    def on_progress(fraction: float, message: str) -> None:
        if time.monotonic() - last[0] > 1 or fraction >= 1:
            last[0] = time.monotonic()
            progress(f"[{fraction * 100:5.1f} %] {message}")

    start = time.perf_counter()
    data = load_dataset(args.name, progress=on_progress)
    seconds = time.perf_counter() - start
    mean, std = channel_stats(data.train_x)
    result = {"name": data.name, "classes": data.classes, "train_shape": list(data.train_x.shape),
              "test_shape": list(data.test_x.shape), "mean": mean, "std": std, "seconds": round(seconds, 3),
              "notes": data.notes}
    if args.json:
        print_json(result)
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from cnnkit.data import import_zip

    from cnnkit.classroom import CLI_OWNER

    from cnnkit.fileio import check_output_folder
    from cnnkit.paths import DATA_DIR_ENV, data_dir

    if not Path(args.zip).is_file():   # a folder, a pipe or a device is not read (a pipe would block)
        raise ValueError(f"no file {args.zip}; give the path of a zip of class folders")
    check_output_folder(data_dir(), DATA_DIR_ENV)   # where the imported dataset goes
    # Whoever has a shell on the server administers it: the CLI acts with the teacher's rights.
    info = import_zip(args.zip, args.name, overwrite=args.overwrite, max_bytes=int(args.max_mb * 1024 * 1024),
                      owner=CLI_OWNER, teacher=True)
    if args.json:
        print_json(_info_row(info))
    else:
        print(f"imported {info.name}: {len(info.classes)} classes, {info.num_train} train / {info.num_test} test, "
              f"{info.channels}x{info.height}x{info.width}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("datasets", help="list datasets and whether each can be loaded now")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(func=cmd_datasets)

    p = subparsers.add_parser("load-dataset", help="load (and cache) a dataset; print shapes, mean/std and time")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_load)

    p = subparsers.add_parser("import-zip", help="import a zip of class folders into the data directory")
    p.add_argument("zip", help="path to the zip file")
    p.add_argument("--name", required=True, help="name of the new dataset (its folder name)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset of that name")
    p.add_argument("--max-mb", type=float, default=1024, help="refuse archives that expand past this (MiB)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)
