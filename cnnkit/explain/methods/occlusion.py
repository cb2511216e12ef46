"""Occlusion (Zeiler & Fergus 2014): how much the score drops under a grey patch, through captum."""

from __future__ import annotations

import torch
from captum.attr import Occlusion
from torch import nn

from cnnkit.explain.methods.base import AttributionMethod


def occlusion_window(height: int, width: int) -> tuple[int, int]:
    """Patch side and stride: about 1/7 of the image, half-overlapping (15×15 patches at most)."""
    window = max(2, round(min(height, width) / 7))
    stride = max(1, window // 2)
    return window, stride


def occlusion(model: nn.Module, x: torch.Tensor, target: int, window: int | None = None,
              stride: int | None = None) -> torch.Tensor:
    """How much the target score drops when a grey (zero) patch covers each place.

    Only the drops are kept: a patch whose removal *raises* the score is not evidence for
    the class.
    """
    auto_window, auto_stride = occlusion_window(x.shape[2], x.shape[3])
    window = window or auto_window
    stride = stride or auto_stride
    channels = x.shape[1]
    attr = Occlusion(model).attribute(
        x, sliding_window_shapes=(channels, window, window), strides=(channels, stride, stride),
        baselines=0.0, target=target, perturbations_per_eval=16,
    )
    return attr.detach()[0].sum(dim=0).clamp(min=0)


# Smooth, patch-sized blobs rather than sparse gradients: plain min-max scaling.
OCCLUSION = AttributionMethod(name="occlusion", label="Occlusion", needs_layer=False, clip_percentile=None,
                              compute=occlusion, slow=True)
