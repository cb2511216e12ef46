"""The dataclasses every data module returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

# progress(fraction in [0, 1], message)
ProgressFn = Callable[[float, str], None]


@dataclass
class DatasetInfo:
    """One registry entry: what the dataset is and whether it can be loaded right now (and if not, why)."""

    name: str
    classes: list[str]
    channels: int
    height: int
    width: int
    num_train: int
    num_test: int
    source: str  # "builtin" | "torchvision" | "folder"
    available: bool
    reason: Optional[str] = None
    description: str = ""
    # only the small subset that ships with CNN Lab is here (offline): quick lessons use it, the report's settings
    # (a lesson's full mode) need the whole set
    shipped_subset: bool = False


@dataclass
class LoadedDataset:
    """Whole splits in memory: uint8 (N, C, H, W) images and int64 (N,) labels."""

    name: str
    classes: list[str]
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    notes: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.train_x.shape[1:])  # type: ignore[return-value]


def report(progress: ProgressFn | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(1.0, max(0.0, fraction)), message)
