"""Splits: random, stratified and stratified k-fold; seeded; class balance by hand counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.data import kfold_indices, split_indices, stratified_subset, subset_of_test_split

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


def test_stratified_subset_is_balanced_on_a_balanced_split_and_deterministic():
    y = torch.arange(10_000) % 10                                   # CIFAR-10's test split: 1,000 per class
    subset = stratified_subset(y, 2000, seed=0)
    assert len(subset) == 2000 and len(set(subset.tolist())) == 2000 and torch.equal(subset, subset.sort().values)
    assert torch.bincount(y[subset]).tolist() == [200] * 10
    assert torch.equal(stratified_subset(y, 2000, seed=0), subset)  # the same seed: the same images
    assert not torch.equal(stratified_subset(y, 2000, seed=1), subset)
    assert torch.equal(subset_of_test_split(y, 2000), subset)         # what runs use: seed 0, whatever the run's seed
    # 2,005 of 10 classes: 200 each and 5 classes get one more
    assert sorted(torch.bincount(y[stratified_subset(y, 2005, seed=3)]).tolist()) == [200] * 5 + [201] * 5


def test_stratified_subset_keeps_each_class_share_and_all_when_asked():
    y = np.array([0] * 600 + [1] * 300 + [2] * 100)
    counts = np.bincount(y[stratified_subset(y, 100, seed=4).numpy()]).tolist()
    assert counts == [60, 30, 10]
    assert np.bincount(y[stratified_subset(y, 7, seed=4).numpy()]).tolist() == [4, 2, 1]  # 4.2, 2.1, 0.7 rounded to 7
    assert stratified_subset(y, 0).tolist() == list(range(1000)) == stratified_subset(y, 5000).tolist()
    with pytest.raises(ValueError, match="0 \\(all\\) or more"):
        stratified_subset(y, -1)
