"""Learned kernels as pictures: the first conv's filters in colour, deeper ones per input channel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from cnnkit.data.preview import upscale_nearest


@dataclass
class FilterImages:
    layer: str
    tiles: list[np.ndarray]  # uint8 per filter: (k, k, 3) colour for a 3-channel input, else (k, k) grey
    weight_range: tuple[float, float]
    shape: tuple[int, int, int, int]  # (out, in/groups, k, k)


def conv_modules(model: nn.Module) -> dict[str, nn.Conv2d]:
    return {name: module for name, module in model.named_modules() if isinstance(module, nn.Conv2d)}


def _scaled(weights: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    # Symmetric around zero: mid grey is a zero weight, so positive and negative weights read alike.
    limit = float(np.abs(weights).max()) or 1.0
    return ((weights / limit + 1) * 127.5).clip(0, 255).astype(np.uint8), (-limit, limit)


def first_conv_filters(model: nn.Module, size: int = 48) -> FilterImages:
    """Every filter of the first conv, as RGB pictures when it reads a colour image."""
    convs = conv_modules(model)
    if not convs:
        raise ValueError("the model has no conv layer, so it has no filters to show")
    name, conv = next(iter(convs.items()))
    weights = conv.weight.detach().float().cpu().numpy()
    scaled, value_range = _scaled(weights)
    factor = max(1, size // max(weights.shape[2:]))
    if weights.shape[1] == 3:
        tiles = [upscale_nearest(w.transpose(1, 2, 0), factor) for w in scaled]
    else:
        tiles = [upscale_nearest(w.mean(axis=0).astype(np.uint8) if w.shape[0] > 1 else w[0], factor) for w in scaled]
    return FilterImages(layer=name, tiles=tiles, weight_range=value_range, shape=tuple(weights.shape))  # type: ignore[arg-type]


def kernel_grid(model: nn.Module, layer: str, out_channel: int, size: int = 40, limit: int = 256) -> FilterImages:
    """One output channel's kernel of a conv: one grey k×k tile per input channel (at most `limit`)."""
    convs = conv_modules(model)
    if layer not in convs:
        raise ValueError(f"{layer} is not a Conv2d; conv layers: {', '.join(list(convs)[:8])}")
    weights = convs[layer].weight.detach().float().cpu().numpy()
    if not 0 <= out_channel < weights.shape[0]:
        raise ValueError(f"{layer} has {weights.shape[0]} filters; pick 0–{weights.shape[0] - 1}")
    scaled, value_range = _scaled(weights[out_channel][:limit])
    factor = max(1, size // max(weights.shape[2:]))
    return FilterImages(layer=layer, tiles=[upscale_nearest(w, factor) for w in scaled], weight_range=value_range,
                        shape=tuple(weights.shape))  # type: ignore[arg-type]
