"""Per-channel mean and standard deviation, in [0, 1] units, for input normalisation."""

from __future__ import annotations

import torch


def channel_stats(x_uint8: torch.Tensor, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Mean and (population) std per channel of a uint8 (N, C, H, W) batch, divided by 255.

    Sums run in float64 over chunks, so 50,000 CIFAR images need little memory and no precision is lost.
    """
    if x_uint8.ndim != 4:
        raise ValueError(f"channel_stats wants an (N, C, H, W) batch, got shape {tuple(x_uint8.shape)}")
    n, c = x_uint8.shape[0], x_uint8.shape[1]
    if n == 0:
        raise ValueError("channel_stats needs at least one image")
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, n, chunk):
        part = x_uint8[start:start + chunk].to(torch.float64)
        total += part.sum(dim=(0, 2, 3))
        total_sq += (part * part).sum(dim=(0, 2, 3))
    count = n * x_uint8.shape[2] * x_uint8.shape[3]
    mean = total / count
    var = (total_sq / count - mean * mean).clamp_min(0)
    return (mean / 255).tolist(), (var.sqrt() / 255).tolist()
