"""Train/validation splits: random, stratified and stratified k-fold, all seeded."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

SPLIT_STRATEGIES = ("random", "stratified")


def _labels_array(labels: torch.Tensor | np.ndarray | Sequence[int]) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        return labels.detach().cpu().numpy().astype(np.int64).reshape(-1)
    return np.asarray(labels, dtype=np.int64).reshape(-1)


def split_indices(labels, val_fraction: float = 0.1, strategy: str = "stratified",
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train_idx, val_idx) as sorted LongTensors.

    stratified: each class contributes round(val_fraction * its count) images to validation,
    so every split keeps the class balance. random: one shuffle of everything.
    """
    y = _labels_array(labels)
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if strategy not in SPLIT_STRATEGIES:
        raise ValueError(f"unknown split strategy {strategy!r}; choose one of {', '.join(SPLIT_STRATEGIES)}")
    rng = np.random.default_rng(seed)
    n = len(y)
    if strategy == "random":
        order = rng.permutation(n)
        n_val = int(round(val_fraction * n))
        val = order[:n_val]
    else:
        val_parts = []
        for cls in np.unique(y):
            members = np.flatnonzero(y == cls)
            members = members[rng.permutation(len(members))]
            val_parts.append(members[: int(round(val_fraction * len(members)))])
        val = np.concatenate(val_parts) if val_parts else np.zeros(0, dtype=np.int64)
    is_val = np.zeros(n, dtype=bool)
    is_val[val] = True
    return torch.from_numpy(np.flatnonzero(~is_val)), torch.from_numpy(np.flatnonzero(is_val))


def stratified_subset(labels, size: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of `size` items keeping each class's share (largest remainder), drawn with `seed`.

    A balanced split gives every class the same count (10 classes of 1,000, size 2,000: 200 each). size 0, or
    at least the number of items, keeps all of them. The same labels, size and seed give the same indices.
    """
    y = _labels_array(labels)
    n = len(y)
    if size < 0:
        raise ValueError(f"a subset size must be 0 (all) or more, got {size}")
    if size == 0 or size >= n:
        return torch.arange(n, dtype=torch.int64)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * (size / n)
    take = np.floor(exact).astype(np.int64)
    # The images left over go to the classes with the largest remainders (ties: the seed decides).
    remainder_order = np.lexsort((rng.permutation(len(classes)), -(exact - take)))
    take[remainder_order[: size - int(take.sum())]] += 1
    parts = [rng.permutation(np.flatnonzero(y == cls))[:k] for cls, k in zip(classes, take)]
    return torch.from_numpy(np.sort(np.concatenate(parts))).to(torch.int64)


# One fixed seed, not the run's: every run with the same test_subset is scored on the same images, so the arms
# and seeds of a lesson differ by their training only.
TEST_SUBSET_SEED = 0


def subset_of_test_split(test_labels, size: int) -> torch.Tensor:
    """The stratified test subset runs with TrainConfig.test_subset = size are scored on (training and
    evaluate_run alike): stratified_subset with TEST_SUBSET_SEED."""
    return stratified_subset(test_labels, size, TEST_SUBSET_SEED)


def kfold_indices(labels, k: int = 5, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Stratified k-fold: k (train_idx, val_idx) pairs; every index is in exactly one val fold."""
    from sklearn.model_selection import StratifiedKFold

    y = _labels_array(labels)
    if k < 2:
        raise ValueError(f"k-fold needs k of at least 2, got {k}")
    if k > len(y):
        raise ValueError(f"k={k} folds need at least {k} images; there are {len(y)}")
    largest = int(np.bincount(y).max(initial=0)) if len(y) else 0
    if largest < k:
        raise ValueError(f"k={k} is more than the largest class has images ({largest}); choose a smaller k")
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    import warnings

    with warnings.catch_warnings():
        # sklearn warns when a small class cannot appear in every fold; that is shown in the k-fold table.
        warnings.simplefilter("ignore", UserWarning)
        return [(torch.from_numpy(tr.astype(np.int64)), torch.from_numpy(va.astype(np.int64)))
                for tr, va in folds.split(np.zeros(len(y)), y)]
