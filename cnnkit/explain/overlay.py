"""Heatmap overlays: a colormap of the map blended with the image, at display size."""

from __future__ import annotations

import numpy as np

DEFAULT_DISPLAY_SIZE = 448


def upscale_nearest(image: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel becomes a factor × factor block: small images get bigger without blur."""
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def display_factor(height: int, width: int, display_size: int = DEFAULT_DISPLAY_SIZE) -> int:
    """The whole-number upscale that brings the longer side closest to display_size from below (>= 1)."""
    return max(1, display_size // max(height, width))


def to_display(image: np.ndarray, display_size: int = DEFAULT_DISPLAY_SIZE) -> np.ndarray:
    """A uint8 HxWx3 image (grayscale HxW or HxWx1 is repeated to 3 channels) upscaled for display."""
    image = as_rgb_uint8(image)
    return upscale_nearest(image, display_factor(*image.shape[:2], display_size))


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """HxW, HxWx1 or HxWx3 (uint8, or float in [0, 1]) as uint8 HxWx3."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {array.shape}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


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
    H·f × W·f × 3 with f the nearest-neighbour factor that brings it to about display_size.
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
    return upscale_nearest(out, display_factor(*out.shape[:2], display_size))


def heatmap_image(heatmap: np.ndarray, colormap: str = "jet", display_size: int = DEFAULT_DISPLAY_SIZE) -> np.ndarray:
    """The colored map alone, at display size."""
    colored = colorize(heatmap, colormap)
    return upscale_nearest(colored, display_factor(*colored.shape[:2], display_size))
