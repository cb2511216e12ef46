"""Recipes: TrainConfig factories for named goals, plus the model preparation they need before step one.

speedrun94: the airbench94 recipe (Keller Jordan 2024) as far as TrainConfig reaches: its network
(preset speedrun94), large batches with Nesterov SGD, label smoothing, flip + 2-pixel crop on the
device, a one-cycle schedule, bf16 autocast + channels_last on CUDA (precision "auto" and the loop's
channels_last), patch-whitening init of the first conv (prepare_model, which train() calls before the
first step) and flip test-time augmentation (flip_tta). benchmarks/bench_speedrun.py times it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from cnnkit.models.whitening import first_conv, init_whitening_conv
from cnnkit.train.config import TrainConfig

SPEEDRUN_PRESET = "speedrun94"
WHITENING_IMAGES = 5000          # airbench whitens from the first 5,000 training images


def speedrun94_config(dataset: str = "cifar10", **overrides: Any) -> TrainConfig:
    """airbench94's settings mapped onto TrainConfig. airbench scales its SGD rate and decay in its own
    units (per-sample, decoupled); lr 0.2 / wd 5e-4 are the plain-torch rates of that kind of recipe,
    a starting point not yet tuned on a GPU. `overrides`: any TrainConfig field."""
    settings: dict[str, Any] = dict(
        dataset=dataset, model=SPEEDRUN_PRESET, epochs=10, batch_size=1024,
        optimizer="sgd", lr=0.2, momentum=0.85, nesterov=True, weight_decay=5e-4,
        label_smoothing=0.2, scheduler="onecycle", warmup_epochs=0,
        augment={"hflip": True, "crop_padding": 2}, val_fraction=0.0,
        precision="auto", log_every=10, flip_tta=True, name="speedrun94")
    settings.update(overrides)
    return TrainConfig(**settings)


def needs_whitening(config: TrainConfig) -> bool:
    """True for the speedrun94 preset (by name or as a spec dict named so): its stem is a whitening conv."""
    model = config.model
    return model == SPEEDRUN_PRESET or (isinstance(model, dict) and model.get("name") == SPEEDRUN_PRESET)


@torch.no_grad()
def prepare_model(model: nn.Module, config: TrainConfig, train_x_uint8: torch.Tensor, normalise) -> bool:
    """Data-dependent init before the first step, for the recipes that need one: speedrun94's first conv
    gets the patch-whitening weights of the first WHITENING_IMAGES training images (normalised as the
    network sees them) and is frozen (its bias keeps learning). Returns whether it did anything.
    train() calls it after building the model and before the first step (and before a resume restores
    the committed weights, so the frozen stem stays frozen)."""
    if not needs_whitening(config):
        return False
    conv = first_conv(model)
    if conv is None:
        raise ValueError(f"{SPEEDRUN_PRESET} needs a first Conv2d to whiten; this model has none")
    init_whitening_conv(conv, normalise(train_x_uint8[:WHITENING_IMAGES]).float())
    conv.weight.requires_grad_(False)
    return True


def transfer_defaults(**overrides: Any) -> TrainConfig:
    """Transfer learning's own defaults (CLI `transfer` and the Transfer page): a new head on a pretrained
    backbone trains best with Adam at 1e-3, a constant rate, a small batch for the bigger networks and
    few epochs. Pinned here so that TrainConfig's quick-demo defaults (SGD 0.1, one-cycle) do not leak in."""
    settings: dict[str, Any] = dict(epochs=3, batch_size=32, optimizer="adam", lr=1e-3, nesterov=False,
                                    weight_decay=0.0, label_smoothing=0.0, scheduler="constant")
    settings.update(overrides)
    return TrainConfig(**settings)
