"""Loading any uploaded image robustly: every format PIL reads, as an 8-bit RGB PIL image.

Order matters: a huge image is shrunk first (JPEG even decodes at reduced size), then the
EXIF orientation is applied, then the pixel mode is converted to RGB.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

DEFAULT_MAX_SIDE = 2048
# The decoded pixels an upload may take, judged from the header before anything is decoded: a 13000² RGBA PNG
# (676 MB decoded, 2.4 GB with the copies made on the way to RGB) is refused; a 50-megapixel RGB photo is not.
MAX_DECODED_BYTES = 256 * 1024 * 1024
EXIF_ORIENTATION = 0x0112
_TRANSPOSE_FOR_ORIENTATION = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}


def readable_formats() -> str:
    """The image formats this PIL build can open, for error messages."""
    Image.init()
    names = sorted({fmt for fmt in Image.OPEN})
    common = [f for f in ["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"] if f in names]
    return ", ".join(common + [f"and {len(names) - len(common)} more"]) if len(names) > len(common) else ", ".join(common)


def _read_bytes(source: bytes | bytearray | str | os.PathLike | BinaryIO) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), "the file"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {path}")
        return path.read_bytes(), path.name
    if hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        name = getattr(source, "name", None)
        return source.read(), (Path(name).name if isinstance(name, str) else "the file")
    raise ValueError(f"cannot read an image from a {type(source).__name__}; give bytes, a path or a file")


class ImageTooLarge(ValueError):
    """An image whose decoded pixels would take more memory than MAX_DECODED_BYTES (told from its header)."""


def _check_decoded_size(image: Image.Image, label: str) -> None:
    """ValueError when decoding `image` (opened: only its header read) would take more than MAX_DECODED_BYTES."""
    width, height = image.size
    per_band = 4 if image.mode in ("I", "F") else 2 if image.mode.startswith("I;16") else 1
    decoded = width * height * len(image.getbands()) * per_band
    if decoded > MAX_DECODED_BYTES:
        side = int((MAX_DECODED_BYTES / (len(image.getbands()) * per_band)) ** 0.5)
        raise ImageTooLarge(f"{label} is {width}×{height} pixels ({image.mode}): decoding it would take "
                         f"{decoded / 2 ** 20:,.0f} MB, over {MAX_DECODED_BYTES // 2 ** 20} MB; resize it to at most "
                         f"about {side:,} pixels a side")


def _to_8bit(image: Image.Image) -> Image.Image:
    """High bit depth single-channel images (16-bit PNG/TIFF, 32-bit int, float) scaled to 0..255."""
    array = np.asarray(image).astype(np.float64)
    if image.mode.startswith("I;16"):
        scaled = array / 257.0  # 0..65535 onto 0..255
    elif image.mode == "I" and array.min() >= 0 and array.max() <= 65535 and array.max() > 255:
        scaled = array / 257.0  # 16-bit data that PIL stored as 32-bit
    elif image.mode == "F" and array.min() >= 0 and array.max() <= 1.0:
        scaled = array * 255.0
    elif array.max() <= 255 and array.min() >= 0:
        scaled = array
    else:  # an arbitrary range: stretch it
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255.0 if high > low else np.zeros_like(array)
    return Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any PIL mode as 8-bit RGB; transparency is composited on `background` (white)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
        if mode == "RGB":
            return image
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _to_8bit(image).convert("RGB")
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if mode == "CMYK":
        return image.convert("RGB")
    # "1", "L", "YCbCr", "LAB", "HSV", "RGBX", ...: PIL knows the way to RGB.
    return image.convert("RGB")


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    try:
        return image.resize(size, Image.Resampling.BOX if image.mode in ("I;16", "I;16B", "I;16L") else Image.Resampling.LANCZOS)
    except (ValueError, OSError):  # a mode resize does not support: convert first
        return to_rgb(image).resize(size, Image.Resampling.LANCZOS)


def load_image(source: bytes | bytearray | str | os.PathLike | BinaryIO, max_side: int = DEFAULT_MAX_SIDE,
               name: str | None = None) -> Image.Image:
    """An uploaded file (bytes, path or file object) as an 8-bit RGB PIL image, upright, longer side <= max_side.

    Raises ValueError with a message naming the file when it is not an image PIL can read.
    """
    data, default_name = _read_bytes(source)
    label = name or default_name
    if not data:
        raise ValueError(f"{label} is empty; upload an image file ({readable_formats()})")
    try:
        with warnings.catch_warnings():
            # Big photos are fine (they are shrunk right away); only PIL's hard limit
            # (DecompressionBombError, ~180 megapixels) is refused.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != "JPEG":
                _check_decoded_size(image, label)   # before getexif: on a PNG it decodes the whole image
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
            if image.format == "JPEG" and max(image.size) > max_side:
                # Decode directly at 1/2, 1/4 or 1/8 size: a 50-megapixel photo never fully lands in memory.
                image.draft(image.mode, (max_side, max_side))
            _check_decoded_size(image, label)
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise ValueError(f"{label} is not an image PIL can read (formats: {readable_formats()})") from None
        raise ValueError(f"{label} is too large to open safely ({exc}); resize it below {Image.MAX_IMAGE_PIXELS * 2 // 1_000_000} megapixels") from None
    except ImageTooLarge:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{label} could not be decoded ({exc}); it may be truncated or corrupt, try saving it again as PNG or JPEG") from None
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animated GIF/WebP, multi-page TIFF: the first frame
    image = _shrink(image, max_side)
    for step in _TRANSPOSE_FOR_ORIENTATION.get(int(orientation) if isinstance(orientation, int) else 1, []):
        image = image.transpose(step)
    return to_rgb(image)


def resize_and_center_crop(image: Image.Image, resize: int, crop: int | tuple[int, int]) -> Image.Image:
    """Shorter side to `resize` (bilinear, antialiased), then the central crop (ImageNet evaluation)."""
    crop_h, crop_w = (crop, crop) if isinstance(crop, int) else crop
    scale = resize / min(image.size)
    size = (max(crop_w, round(image.width * scale)), max(crop_h, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=None)
    left, top = (resized.width - crop_w) // 2, (resized.height - crop_h) // 2
    return resized.crop((left, top, left + crop_w, top + crop_h))


def center_square_resize(image: Image.Image, height: int, width: int) -> Image.Image:
    """The central crop with the target's aspect ratio, resized (area-averaged) to width × height.

    For small trained models (e.g. 32×32): a photo becomes what the model was trained on
    without being squashed.
    """
    target_ratio = width / height
    if image.width / image.height > target_ratio:
        crop_w, crop_h = round(image.height * target_ratio), image.height
    else:
        crop_w, crop_h = image.width, round(image.width / target_ratio)
    left, top = (image.width - crop_w) // 2, (image.height - crop_h) // 2
    cropped = image.crop((left, top, left + crop_w, top + crop_h))
    return cropped.resize((width, height), Image.Resampling.BOX if crop_w >= width else Image.Resampling.BILINEAR)

