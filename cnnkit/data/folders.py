"""Folders of class folders (ImageFolder layout) anywhere in the data directory.

Either <name>/train/<class>/* and <name>/test/<class>/*, or <name>/<class>/* which is split
deterministically (stratified, 20 % test, seed 0). Images of any mode are converted to the
dataset's mode (RGB if any image has colour, else L) and resized to the most common size.

Loading decodes each image straight to the dataset's size (guessed from a sample of headers, and
decoded again in the rare case the most common size of all images differs): memory holds the
dataset at its own size, never every image at full size. Images past the pixel limit are refused
from their header, before decoding.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from cnnkit.data.cache import cached, fingerprint
from cnnkit.data.images import image_size, is_image_name, open_image, quiet_pixel_bomb_warnings, read_image, to_mode
from cnnkit.data.splits import split_indices
from cnnkit.data.types import DatasetInfo, LoadedDataset, ProgressFn, report

FOLDER_TEST_FRACTION = 0.2
FOLDER_SPLIT_SEED = 0
_INFO_SAMPLE = 48  # images whose headers the registry reads to guess mode and size


def _image_files(folder: Path) -> list[str]:
    # Plain strings, not Path objects: 60,000 Paths cost a noticeable part of a cached load.
    with os.scandir(folder) as entries:
        return sorted(e.path for e in entries
                      if not e.name.startswith(".") and is_image_name(e.name) and e.is_file())


def _class_dirs(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return []


def _classes_with_images(folder: Path) -> dict[str, list[str]]:
    found = {}
    for class_dir in _class_dirs(folder):
        files = _image_files(class_dir)
        if files:
            found[class_dir.name] = files
    return found


def folder_layout(path: Path) -> dict[str, dict[str, list[str]]] | None:
    """{"train": {class: files}, "test": {...}} or {"all": {...}}; None if it is not an image dataset."""
    path = Path(path)
    train, test = path / "train", path / "test"
    if train.is_dir() and test.is_dir():
        layout = {"train": _classes_with_images(train), "test": _classes_with_images(test)}
        if layout["train"]:
            return layout
        return None
    classes = _classes_with_images(path)
    if len(classes) >= 2:
        return {"all": classes}
    return None


def split_class_counts(path: Path) -> dict[str, dict[str, int]] | None:
    """{"train": {class: images}, "test": {...}} counted from file names alone (no stat, no header).

    Cheap enough for every registry listing: a built-in dataset uses it to check a folder copy of
    itself (see torchvision_sets.folder_copy). None unless `path` has both train/ and test/.
    """
    path = Path(path)
    counts: dict[str, dict[str, int]] = {}
    for split in ("train", "test"):
        counts[split] = {}
        for class_dir in _class_dirs(path / split):
            try:
                n = sum(1 for name in os.listdir(class_dir) if not name.startswith(".") and is_image_name(name))
            except OSError:
                n = 0
            if n:
                counts[split][class_dir.name] = n
    if not counts["train"] or not (path / "test").is_dir():
        return None
    return counts


def _split_counts(layout: dict[str, dict[str, list[str]]]) -> tuple[list[str], int, int]:
    classes = sorted(set().union(*[set(s) for s in layout.values()]))
    if "all" in layout:
        counts = [len(layout["all"][c]) for c in classes]
        n_test = sum(int(round(FOLDER_TEST_FRACTION * c)) for c in counts)
        return classes, sum(counts) - n_test, n_test
    n_train = sum(len(f) for f in layout["train"].values())
    n_test = sum(len(f) for f in layout["test"].values())
    return classes, n_train, n_test


def folder_info(path: Path) -> DatasetInfo | None:
    """Registry entry for a folder dataset (None if not one); reads only a sample of image headers."""
    path = Path(path)
    layout = folder_layout(path)
    if layout is None:
        return None
    classes, n_train, n_test = _split_counts(layout)
    files = [f for split in layout.values() for fs in split.values() for f in fs]
    step = max(1, len(files) // _INFO_SAMPLE)
    sizes: Counter = Counter()
    colour = False
    with quiet_pixel_bomb_warnings():
        for f in files[::step][:_INFO_SAMPLE]:
            try:
                with open_image(f) as image:
                    sizes[(image.height, image.width)] += 1
                    if image.mode not in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"):
                        colour = True
            except ValueError:  # unreadable or too large: loading names it
                continue
    if not sizes:
        return DatasetInfo(path.name, classes, 0, 0, 0, n_train, n_test, "folder", False,
                           f"no readable images in {path}")
    (height, width), _ = sizes.most_common(1)[0]
    notes = "train/ and test/ folders"
    if "all" in layout:
        notes = f"one folder, split {int(FOLDER_TEST_FRACTION * 100)} % test (stratified, seed {FOLDER_SPLIT_SEED})"
    if len(classes) < 2:
        return DatasetInfo(path.name, classes, 3 if colour else 1, height, width, n_train, n_test, "folder",
                           False, "needs at least 2 class folders", notes)
    return DatasetInfo(path.name, classes, 3 if colour else 1, height, width, n_train, n_test, "folder",
                       True, None, notes)


def _most_common_size(files: list[str]) -> tuple[int, int]:
    """(height, width) most common among a sample of headers: the size to decode to, before all are known."""
    step = max(1, len(files) // _INFO_SAMPLE)
    return Counter(image_size(f) for f in files[::step][:_INFO_SAMPLE]).most_common(1)[0][0]


def _decode_all(files: list[str], size: tuple[int, int], progress: ProgressFn | None,
                label: str) -> tuple[np.ndarray, list[bool], list[tuple[int, int]]]:
    """(N, H, W, 3) uint8 of every image decoded straight to `size`; whether each has colour; each one's own size."""
    rgb = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    colour: list[bool] = []
    native_sizes: list[tuple[int, int]] = []
    every = max(1, len(files) // 100)
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        for i, decoded in enumerate(pool.map(lambda f: read_image(f, size=size), files, chunksize=256)):
            rgb[i] = decoded.rgb
            colour.append(decoded.colour)
            native_sizes.append(decoded.native_size)
            if i % every == 0:
                report(progress, i / max(1, len(files)), f"decoding {label}: {i:,} / {len(files):,} images")
    report(progress, 1.0, f"decoded {len(files):,} images of {label}")
    return rgb, colour, native_sizes


def decode_folder(path: Path, progress: ProgressFn | None = None,
                  size: tuple[int, int] | None = None, layout: dict | None = None) -> dict:
    """Decode every image (the slow first load): tensors plus classes, as a plain dict for the cache."""
    path = Path(path)
    layout = layout or folder_layout(path)
    if layout is None:
        raise ValueError(f"{path} is not a folder of class folders with images")
    classes = sorted(set().union(*[set(s) for s in layout.values()]))
    if len(classes) < 2:
        raise ValueError(f"{path.name} has {len(classes)} class folder(s); a dataset needs at least 2")
    index = {c: i for i, c in enumerate(classes)}
    files, labels, split_of = [], [], []
    for split, by_class in layout.items():
        for cls, fs in sorted(by_class.items()):
            files.extend(fs)
            labels.extend([index[cls]] * len(fs))
            split_of.extend([split] * len(fs))
    with quiet_pixel_bomb_warnings():  # once here, around the worker threads (see its docstring)
        target = size or _most_common_size(files)
        rgb, colour, native_sizes = _decode_all(files, target, progress, path.name)
        common = Counter(native_sizes).most_common(1)[0][0]
        if size is None and common != target:  # the sample was misleading: decode again at the real common size
            del rgb
            target = common
            rgb, colour, _ = _decode_all(files, target, progress, path.name)
    size = target
    channels = 3 if any(colour) else 1
    images = np.empty((len(files), channels, size[0], size[1]), dtype=np.uint8)
    for i in range(len(files)):
        images[i] = to_mode(rgb[i], channels)
    del rgb
    x = torch.from_numpy(images)
    y = torch.tensor(labels, dtype=torch.int64)
    if "all" in layout:
        train_idx, test_idx = split_indices(y, FOLDER_TEST_FRACTION, "stratified", FOLDER_SPLIT_SEED)
    else:
        is_test = torch.tensor([s == "test" for s in split_of], dtype=torch.bool)
        train_idx, test_idx = torch.nonzero(~is_test).flatten(), torch.nonzero(is_test).flatten()
    return {"classes": classes, "train_x": x[train_idx].clone(), "train_y": y[train_idx].clone(),
            "test_x": x[test_idx].clone(), "test_y": y[test_idx].clone()}


def _folder_fingerprint(path: Path, layout: dict, size: tuple[int, int] | None) -> str:
    """Every file's name, size and modification time: any added, removed or edited image decodes again."""
    parts: list[object] = [str(path.resolve()), size]
    for split, by_class in sorted(layout.items()):
        for cls, fs in sorted(by_class.items()):
            parts.append((split, cls, len(fs)))
            for f in fs:
                st = os.stat(f)
                parts.append((f, st.st_size, st.st_mtime_ns))
    return fingerprint(parts)


def load_folder(path: Path, progress: ProgressFn | None = None, size: tuple[int, int] | None = None,
                name: str | None = None) -> LoadedDataset:
    """Load a folder dataset, from the decode cache when its files have not changed."""
    path = Path(path)
    name = name or path.name
    report(progress, 0.0, f"checking {name}")
    layout = folder_layout(path)
    if layout is None:
        raise ValueError(f"{path} is not a folder of class folders with images")
    fp = _folder_fingerprint(path, layout, size)
    data = cached(name, fp, lambda: decode_folder(path, progress, size, layout))
    notes = []
    if "all" in layout:
        notes.append(f"no train/ and test/ folders: split {int(FOLDER_TEST_FRACTION * 100)} % test, "
                     f"stratified, seed {FOLDER_SPLIT_SEED}")
    return LoadedDataset(name, list(data["classes"]), data["train_x"], data["train_y"],
                         data["test_x"], data["test_y"], notes)
