"""Splits: random, stratified and stratified k-fold; seeded; class balance by hand counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.data import kfold_indices, split_indices

LABELS = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)


def test_stratified_split_keeps_each_class_share():
    train, val = split_indices(LABELS, val_fraction=0.2, strategy="stratified", seed=0)
    assert train.dtype == torch.int64 and val.dtype == torch.int64
    assert torch.bincount(LABELS[val], minlength=3).tolist() == [10, 6, 4]
    assert torch.bincount(LABELS[train], minlength=3).tolist() == [40, 24, 16]


def test_split_is_a_partition_and_seeded():
    for strategy in ("random", "stratified"):
        train, val = split_indices(LABELS, 0.25, strategy, seed=1)
        both = torch.cat([train, val]).sort().values
        assert torch.equal(both, torch.arange(len(LABELS)))
        assert len(val) == 25
        again = split_indices(LABELS, 0.25, strategy, seed=1)
        assert torch.equal(again[1], val)
        other = split_indices(LABELS, 0.25, strategy, seed=2)
        assert not torch.equal(other[1], val)


def test_random_split_accepts_lists_and_numpy():
    train, val = split_indices([0, 1] * 10, 0.5, "random", seed=0)
    assert len(train) == 10 and len(val) == 10
    train2, val2 = split_indices(np.array([0, 1] * 10), 0.5, "random", seed=0)
    assert torch.equal(val, val2)


def test_split_rejects_bad_arguments():
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(LABELS, 1.0)
    with pytest.raises(ValueError, match="unknown split strategy"):
        split_indices(LABELS, 0.1, "alphabetical")


def test_kfold_every_index_once_in_validation_and_stratified():
    folds = kfold_indices(LABELS, k=5, seed=0)
    assert len(folds) == 5
    all_val = torch.cat([val for _, val in folds]).sort().values
    assert torch.equal(all_val, torch.arange(len(LABELS)))
    for train, val in folds:
        assert len(set(train.tolist()) & set(val.tolist())) == 0
        assert len(train) + len(val) == len(LABELS)
        assert torch.bincount(LABELS[val], minlength=3).tolist() == [10, 6, 4]
    again = kfold_indices(LABELS, k=5, seed=0)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(folds, again))


def test_kfold_rejects_bad_k():
    with pytest.raises(ValueError, match="at least 2"):
        kfold_indices(LABELS, k=1)
    with pytest.raises(ValueError, match="smaller k"):
        kfold_indices(torch.tensor([0, 0, 1, 1]), k=3)
