"""Zip import: the happy path with mixed modes, and every rejection with its message."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data import import_zip, load_dataset
from cnnkit.paths import data_dir


def png(colour=(255, 0, 0), mode="RGB", size=(6, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def good_entries(prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}cat/{i}.png": png((200, 50, 50)) for i in range(5)} | \
           {f"{prefix}dog/{i}.png": png((50, 50, 200)) for i in range(5)}


def test_import_class_folders_in_a_wrapper_folder(tmp_path):
    entries = good_entries("mydata/") | {"__MACOSX/mydata/._x.png": b"junk", "mydata/.DS_Store": b"junk"}
    path = tmp_path / "d.zip"
    path.write_bytes(make_zip(entries))
    info = import_zip(path, "zip_pets")
    assert (info.name, info.source, info.classes, info.available) == ("zip_pets", "folder", ["cat", "dog"], True)
    assert (info.num_train, info.num_test, info.channels, info.height) == (8, 2, 3, 6)
    assert (data_dir() / "zip_pets" / "cat" / "0.png").is_file()
    assert not list(data_dir().glob(".import-*"))
    data = load_dataset("zip_pets")
    assert data.train_x.shape == (8, 3, 6, 6)


def test_import_train_test_layout_with_mixed_modes_as_bytes():
    rgba = io.BytesIO()
    Image.new("RGBA", (6, 6), (0, 255, 0, 255)).save(rgba, format="PNG")
    cmyk = io.BytesIO()
    Image.new("CMYK", (6, 6), (0, 0, 0, 0)).save(cmyk, format="JPEG")
    sixteen = io.BytesIO()
    Image.fromarray(np.full((6, 6), 257 * 100, dtype=np.uint16)).save(sixteen, format="PNG")
    entries = {
        "train/a/grey.png": png(40, mode="L"),
        "train/a/rgba.png": rgba.getvalue(),
        "train/b/pal.png": _palette_png(),
        "train/b/sixteen.png": sixteen.getvalue(),
        "test/a/cmyk.jpg": cmyk.getvalue(),
        "test/b/x.png": png((1, 2, 3)),
    }
    info = import_zip(make_zip(entries), "zip_mixed")
    assert (info.num_train, info.num_test, info.channels) == (4, 2, 3)
    for f in (data_dir() / "zip_mixed").rglob("*.png"):
        assert Image.open(f).mode == "RGB"
    data = load_dataset("zip_mixed")
    values = {tuple(img[:, 0, 0].tolist()) for img in data.train_x}
    assert {(40, 40, 40), (0, 255, 0), (0, 0, 255), (100, 100, 100)} <= values


def _palette_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (6, 6), (0, 0, 255)).convert("P").save(buffer, format="PNG")
    return buffer.getvalue()


def test_all_grey_zip_imports_as_one_channel():
    entries = {f"{c}/{i}.png": png(v, mode="L") for c, v in (("x", 10), ("y", 240)) for i in range(3)}
    info = import_zip(make_zip(entries), "zip_grey")
    assert info.channels == 1
    assert load_dataset("zip_grey").train_x.shape[1] == 1


@pytest.mark.parametrize("bad", ["../evil.png", "/etc/evil.png", "cat/../../evil.png", "C:\\evil.png"])
def test_rejects_entries_outside_the_folder(bad):
    entries = good_entries() | {bad: png()}
    with pytest.raises(ValueError, match="outside the dataset folder") as err:
        import_zip(make_zip(entries), "zip_evil")
    assert bad in str(err.value)
    assert not (data_dir() / "zip_evil").exists()
    assert not (data_dir().parent / "evil.png").exists()


def test_rejects_archives_past_the_size_limit():
    with pytest.raises(ValueError, match="size limit"):
        import_zip(make_zip(good_entries()), "zip_big", max_bytes=500)
    assert not (data_dir() / "zip_big").exists()


def test_rejects_a_header_that_lies_about_size():
    data = bytearray(make_zip({"a/1.png": png(size=(64, 64)), "b/1.png": png(size=(64, 64))}))
    # Shrink the declared uncompressed size in the central directory; the real bytes still count.
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    real = sum(i.file_size for i in archive.infolist())
    with pytest.raises(ValueError, match="size limit"):
        import_zip(bytes(data), "zip_liar", max_bytes=real - 1)


def test_rejects_files_that_are_not_images_and_lists_them():
    entries = good_entries() | {"cat/readme.txt": b"hi", "dog/model.pkl": b"\x80"}
    with pytest.raises(ValueError, match="not images") as err:
        import_zip(make_zip(entries), "zip_text")
    assert "cat/readme.txt" in str(err.value) and "dog/model.pkl" in str(err.value)
    assert not (data_dir() / "zip_text").exists()


def test_rejects_corrupt_images_by_name():
    entries = good_entries() | {"cat/broken.png": b"not really a png"}
    with pytest.raises(ValueError, match="cat/broken.png"):
        import_zip(make_zip(entries), "zip_corrupt")
    assert not (data_dir() / "zip_corrupt").exists()
    assert not list(data_dir().glob(".import-*"))


def test_rejects_fewer_than_two_classes():
    with pytest.raises(ValueError, match="at least 2 classes"):
        import_zip(make_zip({f"only/{i}.png": png() for i in range(3)}), "zip_one")


def test_rejects_loose_images_and_non_zips():
    with pytest.raises(ValueError, match="class folders"):
        import_zip(make_zip(good_entries() | {"loose.png": png()}), "zip_loose")
    with pytest.raises(ValueError, match="not a readable zip"):
        import_zip(b"plain bytes", "zip_bytes")
    with pytest.raises(ValueError, match="no images"):
        import_zip(make_zip({}), "zip_empty")


def test_never_overwrites_silently_but_can_when_asked():
    import_zip(make_zip(good_entries()), "zip_twice")
    with pytest.raises(ValueError, match="a dataset named zip_twice exists; choose another name or pass overwrite"):
        import_zip(make_zip(good_entries()), "zip_twice")
    bigger = good_entries() | {"bird/0.png": png((0, 200, 0))}
    info = import_zip(make_zip(bigger), "zip_twice", overwrite=True)
    assert info.classes == ["bird", "cat", "dog"]
    assert not list(data_dir().glob(".old-*"))


def test_rejects_bad_and_reserved_names():
    with pytest.raises(ValueError, match="dataset name"):
        import_zip(make_zip(good_entries()), "../up")
    for reserved in ("shapes", "mnist", "MNIST", "cifar-10-batches-py"):
        with pytest.raises(ValueError, match="built-in"):
            import_zip(make_zip(good_entries()), reserved)
