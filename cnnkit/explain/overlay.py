"""Heatmap overlays: a colormap of the map blended with the image, at display size."""

from __future__ import annotations

import numpy as np

from cnnkit.data.preview import as_rgb_uint8, hwc_to_display

DEFAULT_DISPLAY_SIZE = 448  # px: the side a 224 px model input is shown at (2× blocks)


def colorize(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """A [0, 1] map through a matplotlib colormap: uint8 HxWx3."""
    from matplotlib import colormaps  # imported here: matplotlib takes a moment to load

    try:
        cmap = colormaps[colormap]
    except KeyError:
        raise ValueError(f"unknown colormap {colormap!r}; try jet, inferno, viridis or magma") from None
    values = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
    return (cmap(values)[:, :, :3] * 255.0 + 0.5).astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, opacity: float = 0.5, colormap: str = "jet",
            display_size: int = DEFAULT_DISPLAY_SIZE) -> np.ndarray:
    """The colored heatmap blended over the image (opacity 0: image only, 1: heatmap only).

    image and heatmap have the same H×W (the model's input size); the result is uint8
    H·f × W·f × 3 with f the largest nearest-neighbour factor that keeps it within display_size.
    """
    rgb = as_rgb_uint8(image)
    heatmap = np.asarray(heatmap)
    if heatmap.shape != rgb.shape[:2]:
        raise ValueError(f"heatmap {heatmap.shape} and image {rgb.shape[:2]} must have the same height and width")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    colored = colorize(heatmap, colormap).astype(np.float32)
    blended = (1.0 - opacity) * rgb.astype(np.float32) + opacity * colored
    out = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return hwc_to_display(out, display_size)


def heatmap_image(heatmap: np.ndarray, colormap: str = "jet", display_size: int = DEFAULT_DISPLAY_SIZE) -> np.ndarray:
    """The colored map alone, at display size."""
    return hwc_to_display(colorize(heatmap, colormap), display_size)
