"""Pictures of activation maps: all channels of a layer as one grid (sorted, paged), one thumbnail per layer.

Channels share one grey scale (the page shows its range), so a bright tile is a strong channel
rather than a weak one stretched to full contrast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnkit.data.preview import display_factor, upscale_nearest

MAX_TILES_PER_PAGE = 256  # beyond a few hundred thumbnails the browser image becomes huge and unreadable


@dataclass
class ChannelGrid:
    image: np.ndarray  # uint8 (H, W) grey grid
    channels: list[int]  # channel index of each tile, in reading order
    channel_means: list[float]
    value_range: tuple[float, float]  # the grey scale: black = low, white = high
    page: int
    pages: int
    columns: int
    tile_size: int  # pixels per tile side (after upscaling)


def sorted_channels(values: np.ndarray, order: str = "mean") -> list[int]:
    """Channel indices, strongest mean activation first ("mean") or as stored ("index")."""
    if order == "index":
        return list(range(values.shape[0]))
    means = values.reshape(values.shape[0], -1).mean(axis=1)
    return [int(i) for i in np.argsort(-means, kind="stable")]


def page_count(channels: int, per_page: int = MAX_TILES_PER_PAGE) -> int:
    return max(1, math.ceil(channels / per_page))


def channel_grid(values: np.ndarray, page: int = 0, per_page: int = MAX_TILES_PER_PAGE, order: str = "mean",
                 tile_size: int = 48, gap: int = 2) -> ChannelGrid:
    """One page of a (C, H, W) layer's channels as a grey grid, strongest channel first."""
    if values.ndim != 3:
        raise ValueError(f"a channel grid needs a (C, H, W) map, got shape {values.shape}; flat layers have no maps")
    per_page = max(1, min(per_page, MAX_TILES_PER_PAGE))
    pages = page_count(values.shape[0], per_page)
    if not 0 <= page < pages:
        raise ValueError(f"page {page} does not exist; this layer has {pages} page(s) of {per_page} channels")
    order_all = sorted_channels(values, order)
    chosen = order_all[page * per_page:(page + 1) * per_page]
    low, high = float(values.min()), float(values.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    _, height, width = values.shape
    factor = max(1, tile_size // max(height, width))
    th, tw = height * factor, width * factor
    columns = max(1, min(len(chosen), math.ceil(math.sqrt(len(chosen) * 1.6))))
    rows = math.ceil(len(chosen) / columns)
    grid = np.full((rows * (th + gap) - gap, columns * (tw + gap) - gap), 255, dtype=np.uint8)
    for k, channel in enumerate(chosen):
        r, c = divmod(k, columns)
        tile = ((values[channel] - low) * scale).clip(0, 255).astype(np.uint8)
        grid[r * (th + gap):r * (th + gap) + th, c * (tw + gap):c * (tw + gap) + tw] = upscale_nearest(tile, factor)
    means = values.reshape(values.shape[0], -1).mean(axis=1)
    return ChannelGrid(image=grid, channels=chosen, channel_means=[float(means[c]) for c in chosen],
                       value_range=(low, high), page=page, pages=pages, columns=columns, tile_size=max(th, tw))


def map_image(values: np.ndarray, size: int = 96, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """One (H, W) map as a uint8 grey image about `size` px wide (nearest-neighbour: each unit a square)."""
    low, high = value_range if value_range else (float(values.min()), float(values.max()))
    tile = (((values - low) / (high - low)) * 255).clip(0, 255).astype(np.uint8) if high > low else \
        np.zeros(values.shape, dtype=np.uint8)
    return upscale_nearest(tile, display_factor(max(values.shape), size, fit_within=True))


def strongest_channel(values: np.ndarray) -> int:
    """The channel with the highest mean: the layer's thumbnail."""
    return sorted_channels(values, "mean")[0]


def map_on_input(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """An (h, w) map stretched (bilinear) to the input's height × width and scaled to [0, 1], for an overlay."""
    import torch

    stretched = torch.nn.functional.interpolate(torch.as_tensor(values, dtype=torch.float32)[None, None],
                                                size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    low, high = float(stretched.min()), float(stretched.max())
    return ((stretched - low) / (high - low)).numpy() if high > low else np.zeros((height, width), dtype=np.float32)
