"""load_image: every PIL mode to RGB, EXIF rotation, big images shrunk, clear messages for bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cnnkit.explain import center_square_resize, load_image, resize_and_center_crop


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_rgb_png_round_trips_exactly():
    array = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    image = load_image(encode(Image.fromarray(array)))
    assert image.mode == "RGB" and image.size == (30, 20)
    np.testing.assert_array_equal(np.asarray(image), array)


@pytest.mark.parametrize("mode,fmt", [("L", "PNG"), ("1", "PNG"), ("P", "PNG"), ("P", "GIF"), ("CMYK", "JPEG"),
                                      ("CMYK", "TIFF"), ("LA", "PNG"), ("RGBA", "PNG"), ("RGB", "BMP"),
                                      ("RGB", "WEBP"), ("YCbCr", "JPEG"), ("I;16", "PNG"), ("I", "TIFF"), ("F", "TIFF")])
def test_every_mode_becomes_8bit_rgb(mode, fmt):
    base = Image.new("RGB", (16, 12), (200, 40, 40))
    if mode == "I;16":
        image = Image.fromarray(np.full((12, 16), 40000, dtype=np.uint16))
    elif mode == "I":
        image = Image.fromarray(np.full((12, 16), 40000, dtype=np.int32))
    elif mode == "F":
        image = Image.fromarray(np.full((12, 16), 0.5, dtype=np.float32))
    else:
        image = base.convert(mode)
    loaded = load_image(encode(image, fmt))
    assert loaded.mode == "RGB" and loaded.size == (16, 12)
    pixels = np.asarray(loaded)
    assert pixels.dtype == np.uint8
    if mode in ("I;16", "I"):
        assert abs(int(pixels[0, 0, 0]) - round(40000 / 257)) <= 1  # 16-bit scaled, not clipped to 255
    if mode == "F":
        assert abs(int(pixels[0, 0, 0]) - 128) <= 1


def test_transparency_is_composited_on_white():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    image.putpixel((0, 0), (0, 0, 255, 255))
    pixels = np.asarray(load_image(encode(image)))
    assert tuple(pixels[1, 1]) == (255, 255, 255)
    assert tuple(pixels[0, 0]) == (0, 0, 255)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 10, 20))  # white stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    loaded = load_image(encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert loaded.size == (20, 40)
    pixels = np.asarray(loaded).astype(int)
    assert pixels[:10].mean() > 200 and pixels[-10:].mean() < 50  # the left stripe is now on top


def test_large_images_are_downscaled_first():
    big = Image.new("RGB", (900, 300), (10, 200, 10))
    for fmt in ("JPEG", "PNG"):
        loaded = load_image(encode(big, fmt), max_side=256)
        assert max(loaded.size) == 256 and abs(loaded.size[1] - 85) <= 1
    assert load_image(encode(big, "PNG")).size == (900, 300)  # under the default 2048: untouched


def test_16bit_large_image_downscaled():
    image = Image.fromarray(np.full((300, 600), 65535, dtype=np.uint16))
    loaded = load_image(encode(image), max_side=100)
    assert loaded.size == (100, 50) and np.asarray(loaded).min() >= 250


def test_animated_gif_uses_first_frame():
    frames = [Image.new("P", (8, 8), i) for i in (1, 2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    assert load_image(buffer.getvalue()).size == (8, 8)


def test_paths_and_file_objects(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (5, 5)).save(path)
    assert load_image(path).size == (5, 5)
    with open(path, "rb") as handle:
        assert load_image(handle).size == (5, 5)
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")


def test_not_an_image_gets_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match=r"notes.txt is not an image PIL can read \(formats: JPEG, PNG"):
        load_image(b"hello, this is text", name="notes.txt")
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="data.csv is not an image"):
        load_image(path)
    with pytest.raises(ValueError, match="empty.png is empty"):
        load_image(b"", name="empty.png")


def test_truncated_image_gets_a_clear_message():
    data = encode(Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)), "PNG")
    with pytest.raises(ValueError, match="broken.png (could not be decoded|is not an image)"):
        load_image(data[: len(data) // 2], name="broken.png")


def test_resize_helpers():
    image = Image.new("RGB", (400, 300))
    assert resize_and_center_crop(image, 256, 224).size == (224, 224)
    assert center_square_resize(image, 32, 32).size == (32, 32)
    # A red square in the middle survives the centre crop; the blue borders do not.
    wide = Image.new("RGB", (300, 100), (0, 0, 255))
    wide.paste((255, 0, 0), (100, 0, 200, 100))
    assert tuple(np.asarray(center_square_resize(wide, 8, 8))[4, 4]) == (255, 0, 0)
    assert np.asarray(center_square_resize(wide, 8, 8))[..., 2].max() < 10


def test_decompression_bomb_is_refused_with_a_message(monkeypatch):
    data = encode(Image.new("L", (400, 400)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # 160 000 px > 2 × limit: PIL's hard error
    with pytest.raises(ValueError, match="bomb.png is too large to open safely"):
        load_image(data, name="bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # over the warning limit only: shrunk, not refused
    assert load_image(data, max_side=100).size == (100, 100)
