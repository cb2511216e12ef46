"""Small models and images shared by the explain tests (no cnnkit.models needed)."""

from __future__ import annotations

import torch
from torch import nn


class TinyCNN(nn.Module):
    """Three convs (32 → 16 → 8 px for a 32×32 input), global pooling, a linear head.

    In-place ReLUs on purpose: the explain code must cope with them.
    """

    def __init__(self, channels: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def tiny_model(seed: int = 0, channels: int = 3, classes: int = 4) -> TinyCNN:
    torch.manual_seed(seed)
    return TinyCNN(channels, classes).eval()


def random_input(seed: int = 0, channels: int = 3, size: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(1, channels, size, size, generator=generator)
