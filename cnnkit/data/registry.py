"""The dataset registry: every dataset CNN Lab knows, whether it can be loaded now, and loading it.

Listing is cheap (no decoding): built-ins are constants, torchvision sets check their files,
folders read a sample of image headers. Every dataset known by name (not a folder) is one row of
BUILTIN_DATASETS; adding one means adding a row there, nothing else in this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from cnnkit.data.cache import cached, fingerprint
from cnnkit.data.digits import DIGITS_CLASSES, digits_counts, digits_split
from cnnkit.data.folders import folder_info, load_folder
from cnnkit.data.shapes import SHAPE_CLASSES, SHAPES_VERSION, generate_shapes
from cnnkit.data.torchvision_sets import TORCHVISION_SETS, load_torchvision, torchvision_info
from cnnkit.data.types import DatasetInfo, LoadedDataset, ProgressFn, report
from cnnkit.paths import data_dir

SHAPES_TRAIN, SHAPES_TEST = 10_000, 2_000
SHAPES_TRAIN_SEED, SHAPES_TEST_SEED = 0, 1  # different seeds: no test image repeats a train image
SHAPES_SIZE = 32
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _shapes_info() -> DatasetInfo:
    return DatasetInfo("shapes", list(SHAPE_CLASSES), 3, SHAPES_SIZE, SHAPES_SIZE, SHAPES_TRAIN, SHAPES_TEST,
                       "builtin", True, None, "generated offline: one shape per image")


def _digits_info() -> DatasetInfo:
    n_train, n_test = digits_counts()
    return DatasetInfo("digits", list(DIGITS_CLASSES), 1, 8, 8, n_train, n_test, "builtin", True, None,
                       "scikit-learn handwritten digits, 8x8")


def load_shapes(progress: ProgressFn | None = None) -> LoadedDataset:
    """The default Shapes dataset, generated once and then read from the cache."""
    def build() -> dict:
        report(progress, 0.0, "generating Shapes train images")
        train_x, train_y = generate_shapes(SHAPES_TRAIN, SHAPES_TRAIN_SEED, SHAPES_SIZE)
        report(progress, 0.8, "generating Shapes test images")
        test_x, test_y = generate_shapes(SHAPES_TEST, SHAPES_TEST_SEED, SHAPES_SIZE)
        return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}

    fp = fingerprint(["shapes", SHAPES_VERSION, SHAPES_TRAIN, SHAPES_TEST, SHAPES_TRAIN_SEED, SHAPES_TEST_SEED, SHAPES_SIZE,
                      SHAPE_CLASSES])
    data = cached("shapes", fp, build)
    report(progress, 1.0, "Shapes ready")
    return LoadedDataset("shapes", list(SHAPE_CLASSES), data["train_x"], data["train_y"],
                         data["test_x"], data["test_y"])


def _load_digits(progress: ProgressFn | None = None) -> LoadedDataset:
    train_x, train_y, test_x, test_y = digits_split()
    return LoadedDataset("digits", list(DIGITS_CLASSES), train_x, train_y, test_x, test_y,
                         ["fixed stratified split: 20 % test, seed 0"])


@dataclass(frozen=True)
class BuiltinDataset:
    """A dataset known by name: how to describe it (cheaply) and how to load it."""

    name: str
    info: Callable[[], DatasetInfo]  # the registry entry (source, availability and why), no decoding
    load: Callable[[ProgressFn | None], LoadedDataset]
    folders: tuple[str, ...] = ()  # folders it keeps in data_dir(): never listed as folder datasets


def _torchvision_row(name: str) -> BuiltinDataset:
    top = TORCHVISION_SETS[name].folder.split("/")[0]
    return BuiltinDataset(name, partial(torchvision_info, name), partial(load_torchvision, name),
                          () if top == "." else (top,))


# Class subsets of a dataset known by name: (name, base dataset, classes kept, what it stands in for). The course's
# 000-P4 lessons need a small 3-class animal set (the report's dogs/horses set is not offline).
CLASS_SUBSETS = (("cifar10-3", "cifar10", ("cat", "dog", "horse"),
                  "CIFAR-10's cat, dog and horse images only (a 3-class animal set)"),)


def _subset_info(base: str, classes: tuple[str, ...], name: str, about: str) -> DatasetInfo:
    info = BUILTIN_DATASETS[base].info()
    missing = [c for c in classes if c not in info.classes]
    share = len(classes) / max(1, len(info.classes))   # the base sets are balanced: a class is 1/k of each split
    return DatasetInfo(name, list(classes), info.channels, info.height, info.width, int(info.num_train * share),
                       int(info.num_test * share), info.source, info.available and not missing,
                       f"{base} has no class {missing[0]!r}" if missing else info.reason, about)


def _load_subset(base: str, classes: tuple[str, ...], name: str, progress: ProgressFn | None = None) -> LoadedDataset:
    """The base dataset's images of `classes` only, relabelled 0..k-1 in the order given."""
    import torch

    data = BUILTIN_DATASETS[base].load(progress)
    index = {data.classes.index(c): i for i, c in enumerate(classes)}

    def keep(x, y):
        mask = torch.zeros_like(y, dtype=torch.bool)
        for old in index:
            mask |= y == old
        relabel = torch.full((max(index) + 1,), -1, dtype=y.dtype)
        for old, new in index.items():
            relabel[old] = new
        return x[mask], relabel[y[mask]]

    train_x, train_y = keep(data.train_x, data.train_y)
    test_x, test_y = keep(data.test_x, data.test_y)
    return LoadedDataset(name, list(classes), train_x, train_y, test_x, test_y,
                         [*data.notes, f"{', '.join(classes)} of {base} only"])


def _subset_row(name: str, base: str, classes: tuple[str, ...], about: str) -> BuiltinDataset:
    return BuiltinDataset(name, partial(_subset_info, base, classes, name, about),
                          partial(_load_subset, base, classes, name))


# Listing order: built-ins first, then torchvision sets (then folder datasets, found on disk).
BUILTIN_DATASETS: dict[str, BuiltinDataset] = {row.name: row for row in (
    BuiltinDataset("shapes", _shapes_info, load_shapes),
    BuiltinDataset("digits", _digits_info, _load_digits),
    *(_torchvision_row(name) for name in TORCHVISION_SETS),
)}
BUILTIN_DATASETS.update({row[0]: _subset_row(*row) for row in CLASS_SUBSETS})


def reserved_names() -> set[str]:
    """Names an imported dataset may not take: every dataset known by name and the folders they keep."""
    return set(BUILTIN_DATASETS) | {folder for row in BUILTIN_DATASETS.values() for folder in row.folders}


def validate_dataset_name(name: str) -> str:
    """The name, if a new folder dataset may take it; ValueError saying what to change if not."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"dataset name {name!r} should be 1 to 64 letters, digits, '-', '_' or '.', "
                         f"starting with a letter or digit")
    if name in reserved_names():
        raise ValueError(f"{name!r} is a built-in dataset name; choose another name")
    return name


def check_dataset_reference(name: str) -> str:
    """The name, if it can name a dataset: a built-in one, or a folder dataset's name (one folder, no path; it
    need not be imported yet). ValueError saying what to change if not (a lesson file's dataset, checked when
    the file is listed)."""
    if isinstance(name, str) and (name in BUILTIN_DATASETS or _NAME_RE.match(name)):
        return name
    raise ValueError(f"{str(name)[:40]!r} is not a dataset name: give a built-in dataset "
                     f"({', '.join(BUILTIN_DATASETS)}) or an imported one's name (1 to 64 letters, digits, '-', "
                     "'_' or '.', starting with a letter or digit; no folders)")


def _folder_candidates() -> list[Path]:
    root = data_dir()
    if not root.is_dir():
        return []
    reserved = reserved_names()
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in reserved)


def list_datasets() -> list[DatasetInfo]:
    """Built-ins, then torchvision sets, then every folder dataset in the data directory."""
    infos = [row.info() for row in BUILTIN_DATASETS.values()]
    for folder in _folder_candidates():
        info = folder_info(folder)
        if info is not None:
            infos.append(info)
    return infos


def dataset_info(name: str) -> DatasetInfo:
    """One registry entry; ValueError naming the known datasets when `name` is not one."""
    row = BUILTIN_DATASETS.get(name)
    if row is not None:
        return row.info()
    folder = data_dir() / name
    if _NAME_RE.match(name) and name not in reserved_names() and folder.is_dir():
        info = folder_info(folder)
        if info is not None:
            return info
    known = ", ".join(i.name for i in list_datasets())
    raise ValueError(f"unknown dataset {name!r}; known datasets: {known}")


def load_dataset(name: str, progress: ProgressFn | None = None) -> LoadedDataset:
    """Whole train and test splits as uint8 tensors; ValueError with the reason when unavailable."""
    info = dataset_info(name)
    if not info.available:
        raise ValueError(f"{name} cannot be loaded: {info.reason}")
    row = BUILTIN_DATASETS.get(name)
    if row is not None:
        return row.load(progress)
    return load_folder(data_dir() / name, progress, name=name)
