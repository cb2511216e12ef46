"""The in-memory tensor pipeline (airbench style): whole splits as uint8 tensors on the training
device, batches indexed, augmented and normalised there. No DataLoader, no per-image PIL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from cnnkit.data import (AugmentConfig, LoadedDataset, augment_batch, channel_stats, split_indices,
                         subset_of_test_split, transform_resolution)
from cnnkit.train.config import TrainConfig


@dataclass
class PreparedData:
    classes: list[str]
    train_x: torch.Tensor   # uint8 (N, C, H, W) on the device, at the network's input size
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: list[float]
    std: list[float]
    input_shape: tuple[int, int, int]
    notes: list[str] = field(default_factory=list)
    test_index: Optional[torch.Tensor] = None   # with a test_subset: each test image's index in the dataset's test split


def _scored_test_index(config: TrainConfig, test_y: torch.Tensor) -> Optional[torch.Tensor]:
    """The test images a run is scored on (sorted dataset indices), None for all of them."""
    if not config.test_subset or config.test_subset >= len(test_y):
        return None
    return subset_of_test_split(test_y, config.test_subset)


def prepare_data(config: TrainConfig, dataset: LoadedDataset, device: torch.device, image_size: int,
                 normalisation: Optional[tuple[list[float], list[float]]] = None) -> PreparedData:
    notes: list[str] = []
    train_idx, val_idx = split_indices(dataset.train_y, config.val_fraction, config.split_strategy, config.seed)
    if config.train_subset and config.train_subset < len(train_idx):
        generator = torch.Generator().manual_seed(config.seed)
        keep = torch.randperm(len(train_idx), generator=generator)[: config.train_subset]
        train_idx = train_idx[keep.sort().values]
        notes.append(f"training on a subset of {len(train_idx)} images")
    if len(train_idx) == 0:
        raise ValueError("no training images left after the validation split; lower the validation share")
    train_res = config.train_resolution
    test_res = config.test_resolution if config.test_resolution is not None else train_res

    def prep(x: torch.Tensor, resolution: Optional[int]) -> torch.Tensor:
        return transform_resolution(x, image_size, resolution, config.resize_mode, config.restore_size)

    train_x = prep(dataset.train_x[train_idx], train_res)
    val_x = prep(dataset.train_x[val_idx], train_res)
    test_index = _scored_test_index(config, dataset.test_y)
    test_x_all, test_y = dataset.test_x, dataset.test_y
    if test_index is not None:
        test_x_all, test_y = dataset.test_x[test_index], dataset.test_y[test_index]
        notes.append(f"testing on a stratified subset of {len(test_index)} of {len(dataset.test_y)} test images")
    test_x = prep(test_x_all, test_res)
    if normalisation is None:
        mean, std = channel_stats(train_x)
        std = [max(s, 1e-3) for s in std]  # a constant channel must not divide by zero
    else:
        mean, std = list(normalisation[0]), list(normalisation[1])
    channels = int(train_x.shape[1])
    return PreparedData(
        classes=list(dataset.classes),
        train_x=train_x.to(device), train_y=dataset.train_y[train_idx].to(device),
        val_x=val_x.to(device), val_y=dataset.train_y[val_idx].to(device),
        test_x=test_x.to(device), test_y=test_y.to(device),
        mean=mean, std=std, input_shape=(channels, int(train_x.shape[2]), int(train_x.shape[3])), notes=notes,
        test_index=test_index)


def batches(n: int, batch_size: int, generator: Optional[torch.Generator], device: torch.device,
            shuffle: bool = True) -> list[torch.Tensor]:
    """Index batches for one epoch (a seeded permutation drawn on the CPU, then moved)."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(device)
    return list(order.split(batch_size))


def augment(x: torch.Tensor, config: AugmentConfig, generator: Optional[torch.Generator]) -> torch.Tensor:
    return x if config.is_identity() else augment_batch(x, config, generator)
