"""Pictures and tables for the Data explorer: grids, upscaling, class counts, split balance, k-fold table.

Also the one home of the display helpers every layer uses (data is the lowest layer that shows
pictures): upscale_nearest, display_factor, as_rgb_uint8, chw_to_rgb, chw_to_display, hwc_to_display.
Pure numpy/pandas/torch so the page stays thin and everything here is testable without Streamlit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from cnnkit.data.augment import AugmentConfig, augment_image
from cnnkit.data.resolution import resize_batch
from cnnkit.data.splits import kfold_indices, split_indices


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def upscale_nearest(image: np.ndarray, factor: int) -> np.ndarray:
    """Pixel-art upscaling of an (H, W) or (H, W, C) image: each pixel becomes a factor x factor block (a new array)."""
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def display_factor(size: int, target: int = 96, *, fit_within: bool = False) -> int:
    """The whole-number upscale for an image whose longer side is `size` pixels, shown at about `target`.

    Default: the factor nearest to target / size (thumbnails and grids). fit_within: the largest factor
    that keeps size × factor <= target, for pictures that must fit a fixed-width column. At least 1.
    """
    size = max(1, int(size))
    factor = target // size if fit_within else int(round(target / size))
    return max(1, factor)


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """An (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) picture (uint8, or float in [0, 1]) as uint8 (H, W, 3)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {array.shape}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


def chw_to_rgb(image_chw) -> np.ndarray:
    """One dataset image, (C, H, W) tensor or array in 0..255 (uint8, or float rounded), as uint8 (H, W, 3).

    One channel is repeated to grey RGB.
    """
    x = _to_numpy(image_chw)
    if x.ndim != 3:
        raise ValueError(f"expected one (C, H, W) image, got shape {x.shape}")
    if x.dtype != np.uint8:
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    x = x.transpose(1, 2, 0)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return np.ascontiguousarray(x[:, :, :3])


def chw_to_display(image_chw, target: int) -> np.ndarray:
    """A dataset image (C, H, W in 0..255, see chw_to_rgb) as uint8 (H', W', 3), upscaled nearest-neighbour
    to about `target` pixels so small images stay crisp (no blur)."""
    rgb = chw_to_rgb(image_chw)
    return upscale_nearest(rgb, display_factor(max(rgb.shape[:2]), target))


def hwc_to_display(image: np.ndarray, display_size: int) -> np.ndarray:
    """A picture (H, W[, C], uint8 or float in [0, 1], see as_rgb_uint8) as uint8 (H', W', 3), upscaled
    nearest-neighbour by the largest whole factor that keeps it within display_size (at least 1)."""
    rgb = as_rgb_uint8(image)
    return upscale_nearest(rgb, display_factor(max(rgb.shape[:2]), display_size, fit_within=True))


def make_grid(images, nrow: int = 8, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """uint8 (N, C, H, W) images into one (rows*H', cols*W', 3) uint8 picture (grey becomes RGB)."""
    x = _to_numpy(images)
    if x.ndim != 4:
        raise ValueError(f"make_grid wants (N, C, H, W) images, got shape {x.shape}")
    if x.dtype != np.uint8:
        x = np.clip(np.rint(x * 255 if x.max(initial=0) <= 1 else x), 0, 255).astype(np.uint8)
    n, c, h, w = x.shape
    if c == 1:
        x = np.repeat(x, 3, axis=1)
    elif c != 3:
        raise ValueError(f"make_grid shows 1 or 3 channels, got {c}")
    cols = max(1, min(nrow, n))
    rows = max(1, -(-n // cols))
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, 3), pad_value, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top:top + h, left:left + w] = x[i].transpose(1, 2, 0)
    return grid


def sample_indices_per_class(labels, num_classes: int, per_class: int, seed: int = 0) -> list[list[int]]:
    """Up to per_class random indices of each class (seeded)."""
    y = _to_numpy(labels).astype(np.int64)
    rng = np.random.default_rng(seed)
    out = []
    for cls in range(num_classes):
        members = np.flatnonzero(y == cls)
        pick = rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else members
        out.append(sorted(int(i) for i in pick))
    return out


def sample_grid(x, y, classes: Sequence[str], per_class: int = 8, seed: int = 0,
                target: int = 64) -> tuple[np.ndarray, list[str]]:
    """One row per class of per_class samples, upscaled with no blur; returns (image, row class names).

    Classes with fewer images leave blank cells; classes with none are left out.
    """
    x_np = _to_numpy(x)
    picks = sample_indices_per_class(y, len(classes), per_class, seed)
    rows, names = [], []
    _, c, h, w = x_np.shape
    for cls, idx in enumerate(picks):
        if not idx:
            continue
        row = np.zeros((per_class, c, h, w), dtype=np.uint8) + 255
        row[: len(idx)] = x_np[idx]
        rows.append(row)
        names.append(classes[cls])
    if not rows:
        raise ValueError("there are no images to show")
    grid = make_grid(np.concatenate(rows), nrow=per_class, padding=1)
    return upscale_nearest(grid, display_factor(max(h, w), target)), names


def class_counts(labels, classes: Sequence[str]) -> pd.DataFrame:
    """DataFrame(class, count) in class order, zeros included."""
    y = _to_numpy(labels).astype(np.int64)
    counts = np.bincount(y, minlength=len(classes))[: len(classes)]
    return pd.DataFrame({"class": list(classes), "count": counts.astype(int)})


def split_balance(labels, classes: Sequence[str], strategy: str = "stratified", val_fraction: float = 0.1,
                  seed: int = 0) -> pd.DataFrame:
    """Long DataFrame(split, class, count, share): class balance of the train and validation parts."""
    y = _to_numpy(labels).astype(np.int64)
    train_idx, val_idx = split_indices(y, val_fraction, strategy, seed)
    frames = []
    for split, idx in (("train", train_idx.numpy()), ("validation", val_idx.numpy())):
        counts = np.bincount(y[idx], minlength=len(classes))[: len(classes)]
        total = max(1, int(counts.sum()))
        frames.append(pd.DataFrame({"split": split, "class": list(classes), "count": counts.astype(int),
                                    "share": counts / total}))
    return pd.concat(frames, ignore_index=True)


def kfold_table(labels, classes: Sequence[str], k: int = 5, seed: int = 0) -> pd.DataFrame:
    """One row per fold: train and validation sizes and the validation count of every class."""
    y = _to_numpy(labels).astype(np.int64)
    rows = []
    for fold, (train_idx, val_idx) in enumerate(kfold_indices(y, k, seed), start=1):
        counts = np.bincount(y[val_idx.numpy()], minlength=len(classes))[: len(classes)]
        row = {"fold": fold, "train": len(train_idx), "validation": len(val_idx)}
        row.update({name: int(n) for name, n in zip(classes, counts)})
        rows.append(row)
    return pd.DataFrame(rows)


def resolution_strip(x, sizes: Sequence[int] = (32, 16, 8), mode: str = "area",
                     target: int = 96) -> list[tuple[int, np.ndarray]]:
    """The same images at each size, shown back at a common display size with blocky pixels.

    Returns [(size, grid image)], one grid row of all images per size.
    """
    batch = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if batch.ndim == 3:
        batch = batch.unsqueeze(0)
    full = int(max(batch.shape[-2:]))
    display = max(full, max(sizes)) * display_factor(max(full, max(sizes)), target)
    out = []
    for size in sizes:
        if size < 1:
            raise ValueError(f"sizes must be at least 1 pixel, got {size}")
        small = resize_batch(batch, int(size), mode)
        factor = max(1, display // int(size))
        grid = make_grid(small, nrow=len(small), padding=1)
        out.append((int(size), upscale_nearest(grid, factor)))
    return out


def augment_preview(image_chw, config: AugmentConfig, n: int = 8, seed: int = 0, nrow: int = 4,
                    target: int = 96) -> np.ndarray:
    """The original image first, then n - 1 augmented variants, as one upscaled grid."""
    image = image_chw if isinstance(image_chw, torch.Tensor) else torch.from_numpy(np.asarray(image_chw))
    variants = augment_image(image, config, n=max(0, n - 1), seed=seed)
    batch = torch.cat([image.unsqueeze(0), variants])
    grid = make_grid(batch, nrow=nrow, padding=2)
    return upscale_nearest(grid, display_factor(int(max(image.shape[-2:])), target))


def stats_table(classes_channels: int, mean: Sequence[float], std: Sequence[float]) -> pd.DataFrame:
    """DataFrame(channel, mean, std) with channel names R/G/B or grey."""
    names = ["R", "G", "B"] if classes_channels == 3 else ["grey"] if classes_channels == 1 else \
        [f"c{i}" for i in range(classes_channels)]
    return pd.DataFrame({"channel": names, "mean": list(mean), "std": list(std)})
