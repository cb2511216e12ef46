"""scikit-learn's handwritten digits: 1,797 8x8 greyscale images, shipped with scikit-learn (offline)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from cnnkit.data.splits import split_indices

DIGITS_CLASSES = [str(d) for d in range(10)]
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


@lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are 0..16; stretch them to 0..255 like every other dataset.
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return torch.from_numpy(images), torch.from_numpy(bunch.target.astype(np.int64))


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y): a fixed stratified 80/20 split."""
    x, y = _digits()
    train_idx, test_idx = split_indices(y, DIGITS_TEST_FRACTION, "stratified", DIGITS_SPLIT_SEED)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]


def digits_counts() -> tuple[int, int]:
    _, train_y, _, test_y = digits_split()
    return len(train_y), len(test_y)
