"""Decoding one image file into a uint8 array of the dataset's mode (L or RGB), whatever its own mode.

Every file is opened lazily first and its header's pixel count checked against MAX_IMAGE_PIXELS
before any pixel is decoded: a few KB of PNG can declare 14000x14000 pixels (a "pixel bomb").
"""

from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
from PIL import Image

# About 6300x6300: far above any training image, far below what would exhaust memory when decoded.
# Read at call time, so tests can monkeypatch it.
MAX_IMAGE_PIXELS = 40_000_000
# Images above this many pixels decode at most _LARGE_DECODES at a time, whatever the thread count:
# decoding needs the whole image in memory (a PNG cannot be decoded at reduced scale).
_LARGE_DECODE_PIXELS = 4_000_000
_LARGE_DECODES = threading.BoundedSemaphore(2)

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


class ImageTooLargeError(ValueError):
    """The image's header declares more pixels than MAX_IMAGE_PIXELS; refused before decoding."""

    def __init__(self, message: str, label: str = "") -> None:
        super().__init__(message)
        self.label = label  # the file it is about


def _label(source, label: str | None) -> str:
    if label:
        return label
    return Path(source).name if isinstance(source, (str, Path)) else "this file"


def _too_large(label: str, size: tuple[int, int] | None = None) -> ImageTooLargeError:
    side = int(MAX_IMAGE_PIXELS ** 0.5)
    declared = f"{size[0]}×{size[1]} = {size[0] * size[1]:,} pixels" if size else "more pixels than PIL will open"
    return ImageTooLargeError(f"{label} is too large ({declared}; the limit is {MAX_IMAGE_PIXELS:,} pixels): "
                              f"shrink it to at most about {side:,}×{side:,} pixels and try again", label)


def _unreadable(label: str, exc: BaseException) -> ValueError:
    return ValueError(f"{label} is not an image PIL can read ({exc})")


@contextmanager
def quiet_pixel_bomb_warnings() -> Iterator[None]:
    """Silence PIL's DecompressionBombWarning (printed on stderr for images past its own limit): ours is
    lower and refuses those images with a message. Enter it once per import or load, in the calling thread,
    around any worker threads: warning filters are process-wide and entering them from many threads races."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


@contextmanager
def open_image(source, label: str | None = None) -> Iterator[Image.Image]:
    """The image opened lazily (header read, no pixels decoded); ImageTooLargeError when it declares more
    than MAX_IMAGE_PIXELS pixels, ValueError naming the file when PIL cannot identify it."""
    label = _label(source, label)
    try:
        image = Image.open(source)
    except Image.DecompressionBombError:  # past twice PIL's own limit: it will not even report the size
        raise _too_large(label) from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - bad bytes raise many kinds inside PIL's plugins; one clear message
        raise _unreadable(label, exc) from None
    with image:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_large(label, (width, height))
        yield image


def image_size(source, label: str | None = None) -> tuple[int, int]:
    """(height, width) from the header alone; the same errors as open_image."""
    with open_image(source, label) as image:
        return image.height, image.width


class DecodedImage(NamedTuple):
    rgb: np.ndarray                 # (H, W, 3) uint8
    colour: bool                    # any pixel with R, G, B not all equal
    native_size: tuple[int, int]    # (height, width) the file declares, before any resizing


def read_image(source, label: str | None = None, size: tuple[int, int] | None = None) -> DecodedImage:
    """Decode one file (a path or a binary stream) into (H, W, 3) uint8 RGB, whether it has colour and its size.

    With `size` (height, width) the result is resized to it, and a JPEG at least twice as large is
    decoded at reduced scale (PIL's draft), so a big photo never sits in memory at full size.
    ValueError naming the file when it is too large (ImageTooLargeError) or PIL cannot read it.
    """
    label = _label(source, label)
    with open_image(source, label) as image:
        native_size = (image.height, image.width)
        large = image.width * image.height > _LARGE_DECODE_PIXELS
        with _LARGE_DECODES if large else nullcontext():
            if size is not None and image.width >= 2 * size[1] and image.height >= 2 * size[0]:
                image.draft(image.mode, (size[1], size[0]))  # no-op for formats other than JPEG
            try:
                image.load()
                rgb, colour = image_to_array(image)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - truncated or damaged pixel data
                raise _unreadable(label, exc) from None
            if size is not None:
                rgb = resize_rgb(rgb, size)
    return DecodedImage(rgb, colour, native_size)


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
