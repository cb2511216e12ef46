"""Bad input to the dataset importers, each built here from a few bytes: pixel bombs, damaged zips,
files that are not images, and image modes that need converting. Every one gives a ValueError whose
message names the file and says what to do, or imports correctly; never a traceback or a leaked warning."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

import cnnkit.data.images as images
from cnnkit.data import import_zip, load_dataset, save_custom_dataset
from cnnkit.data.images import ImageTooLargeError, image_size, read_image
from cnnkit.paths import data_dir


# --- tiny inputs -------------------------------------------------------------------------------------
def png(colour=(200, 50, 50), mode="RGB", size=(6, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def header_only_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG declaring width×height pixels, written row by row without PIL:
    a few KB on disk, however many pixels it declares (the shape of a real pixel bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def make_zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def two_classes() -> dict[str, bytes]:
    return {f"cat/{i}.png": png((200, 50, 50)) for i in range(3)} | \
           {f"dog/{i}.png": png((50, 50, 200)) for i in range(3)}


@pytest.fixture
def no_big_decodes(monkeypatch):
    """Decoding anything past 1 M pixels fails the test: 'refused from the header' means never decoded."""
    load = ImageFile.ImageFile.load

    def guarded(self):
        assert self.size[0] * self.size[1] <= 1_000_000, f"decoded a {self.size} image"
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", guarded)


def assert_nothing_left(name: str) -> None:
    assert not (data_dir() / name).exists()
    assert not [p for p in data_dir().iterdir() if p.name.startswith((".import-", ".custom-"))]


# --- pixel bombs -------------------------------------------------------------------------------------
def test_a_14000px_png_header_is_refused_without_decoding(tmp_path, no_big_decodes):
    path = tmp_path / "bomb.png"
    path.write_bytes(header_only_png(14000, 14000))
    assert path.stat().st_size < 100_000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with images.quiet_pixel_bomb_warnings(), pytest.raises(ImageTooLargeError, match="bomb.png is too large"):
            image_size(path)
        with images.quiet_pixel_bomb_warnings(), pytest.raises(ValueError, match="too large") as err:
            read_image(path)
    assert "shrink it" in str(err.value)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_a_zip_of_12000px_pngs_is_refused_naming_every_file_and_nothing_leaks(no_big_decodes):
    bomb = header_only_png(12000, 12000)  # past PIL's warning limit, under its error limit: the case
    entries = {"cat/big1.png": bomb, "dog/big2.png": bomb, "dog/big3.png": bomb} | two_classes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageTooLargeError) as err:
            import_zip(make_zip(entries), "zip_bombs", zip_name="bombs.zip")
    message = str(err.value)
    assert "cat/big1.png is too large (12000×12000 = 144,000,000 pixels" in message
    assert "dog/big2.png" in message and "dog/big3.png" in message
    assert not caught, [str(w.message) for w in caught]
    assert_nothing_left("zip_bombs")


def test_the_pixel_limit_is_checked_before_decoding_small_version(monkeypatch, no_big_decodes):
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 64 * 64)
    entries = two_classes() | {"cat/wide.png": png(size=(100, 100))}
    with pytest.raises(ValueError, match=r"cat/wide.png is too large \(100×100 = 10,000 pixels; the limit is 4,096"):
        import_zip(make_zip(entries), "zip_small_bomb")
    assert_nothing_left("zip_small_bomb")
    # Exactly at the limit is fine.
    info = import_zip(make_zip(two_classes() | {"cat/square.png": png(size=(64, 64))}), "zip_at_limit")
    assert info.available


def test_a_too_large_image_in_a_folder_dataset_is_named_when_loading(monkeypatch):
    base = data_dir() / "rel_folder_bomb"
    for cls, colour in (("a", (255, 0, 0)), ("b", (0, 0, 255))):
        (base / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), colour).save(base / cls / f"{i}.png")
    Image.new("RGB", (100, 100)).save(base / "b" / "huge.png")
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 64 * 64)
    with pytest.raises(ValueError, match="huge.png is too large"):
        load_dataset("rel_folder_bomb")


def test_a_too_large_camera_or_upload_image_is_refused_for_a_hand_made_dataset(monkeypatch):
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 64 * 64)
    small = [png(size=(16, 16)), png(size=(16, 16))]
    with pytest.raises(ValueError, match="image 2 of big: this file is too large"):
        save_custom_dataset("rel_custom_bomb", {"ok": small, "big": [small[0], png(size=(100, 100))]})
    assert_nothing_left("rel_custom_bomb")


def test_a_big_jpeg_in_a_small_dataset_decodes_at_reduced_scale_to_the_dataset_size():
    base = data_dir() / "rel_big_jpeg"
    for cls, colour in (("a", (255, 0, 0)), ("b", (0, 0, 255))):
        (base / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), colour).save(base / cls / f"{i}.png")
    Image.new("RGB", (800, 800), (0, 200, 0)).save(base / "a" / "photo.jpg", quality=95)
    decoded = read_image(base / "a" / "photo.jpg", size=(8, 8))
    assert decoded.rgb.shape == (8, 8, 3) and decoded.native_size == (800, 800)
    data = load_dataset("rel_big_jpeg")
    x = np.concatenate([data.train_x.numpy(), data.test_x.numpy()])
    assert x.shape == (7, 3, 8, 8)
    greens = [img for img in x if img[1, 4, 4] > 150 and img[0, 4, 4] < 50]
    assert len(greens) == 1


# --- damaged zips ------------------------------------------------------------------------------------
def test_a_bad_crc_names_the_zip_and_the_member():
    data = bytearray(make_zip(two_classes()))
    member = png((200, 50, 50))
    start = data.index(member)  # stored, so the image's bytes sit in the zip as they are
    data[start + len(member) // 2] ^= 0xFF
    with pytest.raises(ValueError) as err:
        import_zip(bytes(data), "zip_bad_crc", zip_name="holiday.zip")
    assert type(err.value) is ValueError  # not zipfile.BadZipFile
    assert "holiday.zip is damaged: cat/0.png cannot be read" in str(err.value)
    assert "Bad CRC" in str(err.value) and "make the zip again" in str(err.value)
    assert_nothing_left("zip_bad_crc")


def test_broken_compressed_data_names_the_zip_and_the_member(tmp_path):
    entries = {f"cat/{i}.png": encoded(Image.new("RGB", (64, 64), (i, 0, 0))) for i in range(3)} | \
              {f"dog/{i}.png": encoded(Image.new("RGB", (64, 64), (0, 0, i))) for i in range(3)}
    data = bytearray(make_zip(entries, zipfile.ZIP_DEFLATED))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("dog/1.png")
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length
    data[start:start + info.compress_size] = b"\xff" * info.compress_size  # not a deflate stream
    path = tmp_path / "broken.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError) as err:
        import_zip(path, "zip_broken_deflate")
    assert type(err.value) is ValueError  # not zlib.error
    assert "broken.zip is damaged: dog/1.png cannot be read" in str(err.value)
    assert_nothing_left("zip_broken_deflate")


def test_a_truncated_zip_names_the_zip():
    data = make_zip(two_classes())
    with pytest.raises(ValueError, match=r"upload.zip is not a readable zip file .*cut short"):
        import_zip(data[: len(data) // 2], "zip_cut", zip_name="upload.zip")
    with pytest.raises(ValueError, match="the zip is not a readable zip file"):
        import_zip(data[:100], "zip_cut")
    assert_nothing_left("zip_cut")


def test_a_password_protected_entry_is_refused_up_front():
    # zipfile cannot write encrypted entries: set the "encrypted" flag bit of dog/2.png by hand,
    # in its local header and in the central directory.
    data = bytearray(make_zip(two_classes()))
    offset = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("dog/2.png").header_offset
    data[offset + 6] |= 0x1
    record = data.index(b"PK\x01\x02")  # the first central directory record...
    while data[record + 46:record + 46 + len(b"dog/2.png")] != b"dog/2.png":
        record = data.index(b"PK\x01\x02", record + 4)  # ...up to the one for dog/2.png
    data[record + 8] |= 0x1
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("dog/2.png").flag_bits & 0x1
    with pytest.raises(ValueError, match=r"password-protected \(dog/2.png\)"):
        import_zip(bytes(data), "zip_password")
    assert_nothing_left("zip_password")


# --- files that are not (readable) images ------------------------------------------------------------
@pytest.mark.parametrize("entry, payload", [
    ("cat/notes.jpg", b"these are my notes, not a photo\n"),                 # text named .jpg
    ("cat/random.png", bytes(range(256)) * 4),                                # random bytes
    ("cat/cut.png", png(size=(64, 64))[:60]),                                 # header fine, pixels cut off
    ("cat/empty.bmp", b""),                                                   # empty file
])
def test_unreadable_images_are_listed_by_name(entry, payload):
    with pytest.raises(ValueError, match="not images PIL can read") as err:
        import_zip(make_zip(two_classes() | {entry: payload}), "zip_unreadable")
    assert entry in str(err.value) and "save them again as PNG or JPEG" in str(err.value)
    assert_nothing_left("zip_unreadable")


def test_a_cut_off_png_header_that_still_opens_fails_cleanly_when_decoded(tmp_path):
    path = tmp_path / "cut.png"
    full = encoded(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    path.write_bytes(full[: len(full) // 2])
    assert image_size(path) == (64, 64)  # the header is intact
    with pytest.raises(ValueError, match="cut.png is not an image PIL can read"):
        read_image(path)


# --- modes that need converting ----------------------------------------------------------------------
def test_16_bit_png_is_scaled_not_clipped():
    sixteen = {f"dark/{i}.png": encoded(Image.fromarray(np.full((6, 6), 257 * 10, dtype=np.uint16))) for i in range(3)}
    sixteen |= {f"light/{i}.png": encoded(Image.fromarray(np.full((6, 6), 65535, dtype=np.uint16))) for i in range(3)}
    assert Image.open(io.BytesIO(sixteen["dark/0.png"])).mode.startswith("I")
    info = import_zip(make_zip(sixteen), "zip_sixteen")
    assert info.channels == 1
    data = load_dataset("zip_sixteen")
    values = set(np.unique(np.concatenate([data.train_x.numpy(), data.test_x.numpy()])).tolist())
    assert values == {10, 255}


def test_cmyk_jpeg_becomes_rgb():
    cmyk = encoded(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=95)  # red in CMYK
    entries = {f"red/{i}.jpg": cmyk for i in range(3)} | \
              {f"blue/{i}.png": png((0, 0, 255), size=(8, 8)) for i in range(3)}
    import_zip(make_zip(entries), "zip_cmyk")
    data = load_dataset("zip_cmyk")
    reds = data.train_x[data.train_y == data.classes.index("red")]
    assert data.train_x.shape[1] == 3 and len(reds)
    assert int(reds[:, 0].min()) > 200 and int(reds[:, 1:].max()) < 60


def test_palette_and_alpha_images_are_flattened_over_white():
    transparent_palette = Image.new("P", (6, 6), 0)
    transparent_palette.putpalette([0, 255, 0] * 256)
    transparent_palette.info["transparency"] = 0  # every pixel transparent
    entries = {
        "a/palette.png": encoded(Image.new("RGB", (6, 6), (0, 0, 255)).convert("P")),
        "a/clear_palette.png": encoded(transparent_palette, transparency=0),
        "a/half_alpha.png": encoded(Image.new("RGBA", (6, 6), (255, 0, 0, 128))),
        "b/clear.png": encoded(Image.new("RGBA", (6, 6), (255, 0, 0, 0))),
        "b/grey_alpha.png": encoded(Image.new("LA", (6, 6), (0, 0))),
        "b/opaque.png": png((10, 20, 30)),
    }
    import_zip(make_zip(entries), "zip_alpha")
    saved = {p.name: np.asarray(Image.open(p))[0, 0].tolist() for p in (data_dir() / "zip_alpha").rglob("*.png")}
    assert saved["palette.png"] == [0, 0, 255]
    assert saved["clear_palette.png"] == [255, 255, 255]
    assert saved["half_alpha.png"][0] == 255 and 120 < saved["half_alpha.png"][1] < 135
    assert saved["clear.png"] == [255, 255, 255] and saved["grey_alpha.png"] == [255, 255, 255]
    assert saved["opaque.png"] == [10, 20, 30]


# --- the Data explorer page --------------------------------------------------------------------------
def test_data_explorer_shows_an_error_for_a_damaged_zip_not_an_exception(monkeypatch):
    from tests.helpers.app import make_app_test

    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    data = bytearray(make_zip(two_classes()))
    member = png((50, 50, 200))
    start = data.index(member)
    data[start + 20] ^= 0xFF
    at = make_app_test("data_explorer", timeout=180)
    at.file_uploader(key="de_zip").set_value(("holiday.zip", bytes(data), "application/zip")).run()
    at.text_input(key="de_zip_name").input("page_damaged").run()
    at.button(key="de_zip_import").click().run()
    assert not at.exception
    # shown as text: markdown marks in the message (the zip's own names) are escaped
    assert any("holiday.zip is damaged: dog/0.png cannot be read" in e.value.replace("\\", "") for e in at.error)
    assert not (data_dir() / "page_damaged").exists()
