"""Patch-whitening initialisation of a first conv layer (airbench, Keller Jordan 2024).

The first conv's filters are set to the eigenvectors of the covariance of the training images'
k×k patches, scaled by 1/sqrt(eigenvalue), each once with each sign: its outputs are decorrelated,
unit-variance patch features from the first step on, which is much of why airbench converges in
~10 epochs. The layer is then kept frozen (its spec says frozen=True); only its bias learns.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class WhiteningError(ValueError):
    """The layer or the images cannot be used for a whitening init; the message says what to change."""


def whitening_channels(in_channels: int, kernel_size: int) -> int:
    """The out_channels a whitening conv needs: every patch direction, once with each sign."""
    return 2 * in_channels * kernel_size * kernel_size


def _patches(images: torch.Tensor, kernel_size: int) -> torch.Tensor:
    c = images.shape[1]
    patches = images.unfold(2, kernel_size, 1).unfold(3, kernel_size, 1)   # N, C, H', W', k, k
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel_size * kernel_size).double()


@torch.no_grad()
def init_whitening_conv(conv: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> None:
    """Set `conv`'s weights from `images` (float, normalised as the network sees them, (N, C, H, W);
    a few thousand images are plenty). The bias, if any, is zeroed."""
    k = conv.kernel_size[0]
    c = conv.in_channels
    if conv.kernel_size[0] != conv.kernel_size[1] or conv.groups != 1:
        raise WhiteningError("a whitening conv needs a square kernel and groups=1")
    if conv.out_channels != whitening_channels(c, k):
        raise WhiteningError(f"a whitening conv with {c} input channels and a {k}×{k} kernel needs "
                             f"{whitening_channels(c, k)} output channels (has {conv.out_channels})")
    if images.ndim != 4 or images.shape[1] != c or min(images.shape[2:]) < k or len(images) == 0:
        raise WhiteningError(f"whitening needs images shaped (N, {c}, H, W) with H, W ≥ {k}; got {tuple(images.shape)}")
    flat = _patches(images.float().cpu(), k)
    covariance = flat.T @ flat / len(flat)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)          # ascending
    order = eigenvalues.flip(0)
    vectors = eigenvectors.T.flip(0)                                   # rows: strongest direction first
    scaled = (vectors / torch.sqrt(order.clamp_min(0) + eps)[:, None]).reshape(-1, c, k, k)
    weight = torch.cat([scaled, -scaled]).to(conv.weight.dtype)
    conv.weight.copy_(weight.to(conv.weight.device))
    if conv.bias is not None:
        conv.bias.zero_()


def first_conv(model: nn.Module) -> nn.Conv2d | None:
    """The model's first Conv2d, in module order (None without one)."""
    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
