"""A small dataset made by hand (Teachable Machine style): named classes, a few images each.

Saved as a folder dataset, data_dir()/<name>/<class>/NNNN.png, which the registry then lists
like any imported folder (split 80/20 stratified by cnnkit.data). Images are centre-cropped to a
square and resized to one size, so camera shots and uploads of any shape mix. The folder is
staged and swapped into place like a zip import (cnnkit.data.import_staging).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterable, Union

import numpy as np
from PIL import Image, ImageOps

from cnnkit.data.images import image_to_array, open_image, quiet_pixel_bomb_warnings
from cnnkit.data.import_staging import staged_dataset
from cnnkit.data.registry import validate_dataset_name
from cnnkit.paths import data_dir

ImageLike = Union[bytes, bytearray, Image.Image, np.ndarray]

CLASS_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
DEFAULT_SIZE = 128
MIN_CLASSES = 2
MIN_IMAGES_PER_CLASS = 2  # the 80/20 split needs at least one training and one test image per class


def _to_image(item: ImageLike) -> Image.Image:
    if isinstance(item, Image.Image):
        image = item
    elif isinstance(item, (bytes, bytearray)):
        # The header is checked before decoding: a pixel bomb is refused as "too large", not decoded.
        with quiet_pixel_bomb_warnings(), open_image(io.BytesIO(bytes(item))) as opened:
            try:
                opened.load()
            except Exception as exc:  # noqa: BLE001 - PIL raises many kinds; one clear message
                raise ValueError(f"this file is not an image PIL can read ({exc})") from None
            image = ImageOps.exif_transpose(opened)  # phone photos: honour the rotation tag
    elif isinstance(item, np.ndarray):
        array = item
        if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
            array = array.transpose(1, 2, 0)  # CHW -> HWC
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        image = Image.fromarray(array.astype(np.uint8))
    else:
        raise ValueError(f"cannot use a {type(item).__name__} as an image; give bytes, a PIL image or an array")
    # The same conversion as folder and zip datasets: transparency over white, 16-bit scaled, not clipped.
    rgb, _ = image_to_array(image)
    return Image.fromarray(rgb)


def square_image(item: ImageLike, size: int = DEFAULT_SIZE) -> Image.Image:
    """Centre-crop to a square, resize to size×size (RGB)."""
    image = _to_image(item)
    return ImageOps.fit(image, (size, size), method=Image.Resampling.BICUBIC if size > min(image.size)
                        else Image.Resampling.LANCZOS)


def check_names(name: str, classes: Iterable[str]) -> None:
    """ValueError saying what to change for a bad dataset or class name."""
    validate_dataset_name(name)
    seen = set()
    for label in classes:
        if not CLASS_NAME_RE.match(label or ""):
            raise ValueError(f"class name {label!r} should be letters, digits, spaces, '-', '_' or '.', "
                             "starting with a letter or digit")
        if label.lower() in seen:
            raise ValueError(f"class name {label!r} is given twice; every class needs its own name")
        seen.add(label.lower())


def save_custom_dataset(name: str, images: dict[str, list[ImageLike]], size: int = DEFAULT_SIZE,
                        overwrite: bool = False, owner: str = "", teacher: bool = False) -> Path:
    """Write {class: [images]} as data_dir()/<name>/<class>/*.png; returns the folder.

    ValueError (with what to change) for bad names, fewer than 2 classes, a class with fewer than
    2 images, unreadable images, or an existing dataset when overwrite is False.
    """
    check_names(name, images)
    if not 8 <= size <= 1024:
        raise ValueError(f"image size {size} is out of range; choose 8 to 1024 px")
    if len(images) < MIN_CLASSES:
        raise ValueError(f"a dataset needs at least {MIN_CLASSES} classes (got {len(images)}); add another class")
    few = [label for label, items in images.items() if len(items) < MIN_IMAGES_PER_CLASS]
    if few:
        raise ValueError(f"add at least {MIN_IMAGES_PER_CLASS} images to {', '.join(few)} "
                         "(one is kept for testing)")
    with staged_dataset(name, overwrite, purpose="custom", owner=owner, teacher=teacher) as staging:
        for label, items in images.items():
            folder = staging / label
            folder.mkdir()
            for index, item in enumerate(items):
                try:
                    square_image(item, size).save(folder / f"{index:04d}.png")
                except ValueError as error:
                    raise ValueError(f"image {index + 1} of {label}: {error}") from None
    return data_dir() / name


def custom_dataset_counts(name: str) -> dict[str, int]:
    """Images per class of a saved folder dataset (empty if there is none)."""
    folder = data_dir() / name
    if not folder.is_dir():
        return {}
    return {child.name: sum(1 for f in child.iterdir() if f.suffix.lower() == ".png")
            for child in sorted(folder.iterdir()) if child.is_dir() and not child.name.startswith(".")}
