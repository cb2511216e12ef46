"""Decoding one image file into a uint8 array of the dataset's mode (L or RGB), whatever its own mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Transparent pixels over white, the way an image viewer shows them."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _high_bit_to_l(image: Image.Image) -> np.ndarray:
    """16-bit and 32-bit greyscale scaled to 0..255 (PIL's own convert('L') would clip at 255)."""
    array = np.asarray(image)
    if array.dtype == np.float32 or array.dtype == np.float64:
        top = 1.0 if array.max(initial=0) <= 1.0 else 255.0
        return np.clip(np.rint(array / top * 255), 0, 255).astype(np.uint8)
    array = array.astype(np.int64)
    if array.max(initial=0) <= 255:
        return np.clip(array, 0, 255).astype(np.uint8)
    return np.clip(np.rint(array / 257.0), 0, 255).astype(np.uint8)


def image_to_array(image: Image.Image) -> tuple[np.ndarray, bool]:
    """(H, W, 3) uint8 RGB and whether the image has any colour (grey RGB counts as grey)."""
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = _high_bit_to_l(image)
        return np.repeat(grey[:, :, None], 3, axis=2), False
    if mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and "transparency" in image.info):
        rgb = np.asarray(_flatten_alpha(image))
    else:
        rgb = np.asarray(image.convert("RGB"))
    if mode in _GREY_MODES:
        return rgb, False
    colour = bool((rgb[:, :, 0] != rgb[:, :, 1]).any() or (rgb[:, :, 1] != rgb[:, :, 2]).any())
    return rgb, colour


def read_image(path) -> tuple[np.ndarray, bool]:
    """Decode one file; ValueError naming the file when PIL cannot read it."""
    try:
        with Image.open(path) as image:
            image.load()
            return image_to_array(image)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        label = Path(path).name if isinstance(path, (str, Path)) else "this file"
        raise ValueError(f"{label} is not an image PIL can read ({exc})") from None


def to_mode(rgb: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, 3) RGB into (C, H, W) with C = 1 (luma) or 3."""
    if channels == 3:
        return np.ascontiguousarray(rgb.transpose(2, 0, 1))
    grey = np.rint(rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114)
    return grey.astype(np.uint8)[None]


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (H, W, 3) uint8 to (height, width) with PIL's antialiasing filter."""
    if rgb.shape[:2] == size:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BICUBIC))
