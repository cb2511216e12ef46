"""Folder datasets: layouts, mixed image modes, deterministic split, the decode cache, the registry."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data import dataset_info, list_datasets, load_dataset
from cnnkit.data.images import read_image
from cnnkit.paths import cache_dir, data_dir


def save(path: Path, image: Image.Image, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)


def solid(colour, size=(8, 8), mode="RGB"):
    return Image.new(mode, size, colour)


def make_split_folder(root: Path, name: str, per_class: int = 3) -> Path:
    base = root / name
    for split in ("train", "test"):
        for c, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
            for i in range(per_class if split == "train" else 1):
                save(base / split / c / f"{i}.png", solid(colour))
    return base


def test_train_test_folder_loads_and_is_cached():
    base = make_split_folder(data_dir(), "tt_colours")
    info = dataset_info("tt_colours")
    assert (info.source, info.available, info.classes) == ("folder", True, ["blue", "red"])
    assert (info.num_train, info.num_test, info.channels, info.height, info.width) == (6, 2, 3, 8, 8)
    messages = []
    data = load_dataset("tt_colours", progress=lambda f, m: messages.append((f, m)))
    assert data.train_x.shape == (6, 3, 8, 8) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (2, 3, 8, 8)
    assert sorted(data.train_y.tolist()) == [0, 0, 0, 1, 1, 1]
    red = data.train_x[data.train_y == 1]
    assert torch.all(red[:, 0] == 255) and torch.all(red[:, 2] == 0)
    assert any("decoding" in m for _, m in messages) and messages[-1][0] <= 1.0
    assert list(cache_dir().glob("tt_colours-*.pt"))
    # Second load: from the cache, no decoding reported.
    messages.clear()
    again = load_dataset("tt_colours", progress=lambda f, m: messages.append((f, m)))
    assert torch.equal(again.train_x, data.train_x)
    assert not any("decoding" in m for _, m in messages)
    # A new image changes the fingerprint: decoded again, with the new count.
    save(base / "train" / "red" / "new.png", solid((255, 0, 0)))
    assert load_dataset("tt_colours").train_x.shape[0] == 7


def test_cache_survives_nothing_but_is_reused(monkeypatch):
    make_split_folder(data_dir(), "tt_cached")
    load_dataset("tt_cached")
    import cnnkit.data.folders as folders

    def boom(*args, **kwargs):
        raise AssertionError("decoded again although nothing changed")

    monkeypatch.setattr(folders, "decode_folder", boom)
    assert load_dataset("tt_cached").train_x.shape == (6, 3, 8, 8)


def test_mixed_mode_folder_converts_everything_to_rgb():
    base = data_dir() / "tt_mixed"
    grey = solid(128, mode="L")
    rgba = Image.new("RGBA", (8, 8), (0, 255, 0, 255))
    palette = solid((0, 0, 255)).convert("P")
    sixteen = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    assert sixteen.mode.startswith("I")
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red in CMYK
    big = solid((10, 20, 30), size=(16, 16))  # another size: resized to the common one
    for i, img in enumerate([grey, rgba, palette]):
        save(base / "a" / f"{i}.png", img)
    save(base / "b" / "0.png", sixteen)
    save(base / "b" / "1.jpg", cmyk, "JPEG")
    save(base / "b" / "2.png", big)
    info = dataset_info("tt_mixed")
    assert info.channels == 3 and info.classes == ["a", "b"]
    data = load_dataset("tt_mixed")
    x = torch.cat([data.train_x, data.test_x])
    assert x.shape == (6, 3, 8, 8) and x.dtype == torch.uint8
    pixels = {tuple(img[:, 4, 4].tolist()) for img in x}
    assert (128, 128, 128) in pixels          # L
    assert (0, 255, 0) in pixels              # RGBA
    assert (0, 0, 255) in pixels              # P
    assert (255, 255, 255) in pixels          # I;16 full scale, not clipped garbage
    assert any(p[0] > 200 and p[1] < 60 for p in pixels)  # CMYK red
    assert (10, 20, 30) in pixels             # resized 16x16
    assert any("split" in n for n in data.notes)


def test_all_grey_folder_is_one_channel_and_split_is_stratified_and_fixed():
    base = data_dir() / "tt_grey"
    for c, value in (("dark", 20), ("light", 230)):
        for i in range(10):
            save(base / c / f"{i}.png", solid(value, mode="L"))
    save(base / "light" / "rgb_but_grey.png", solid((200, 200, 200)))
    info = dataset_info("tt_grey")
    assert (info.num_train, info.num_test) == (17, 4)  # round(0.2 * 10) + round(0.2 * 11) test images
    data = load_dataset("tt_grey")
    assert data.train_x.shape[1] == 1
    assert torch.bincount(data.test_y).tolist() == [2, 2]
    again = load_dataset("tt_grey")
    assert torch.equal(again.test_x, data.test_x)


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    path = data_dir() / "alpha.png"
    img.save(path)
    rgb, colour, _ = read_image(path)
    assert rgb[0, 0].tolist() == [255, 255, 255]
    path.unlink()


def test_registry_lists_builtins_torchvision_and_folders():
    make_split_folder(data_dir(), "tt_listed")
    (data_dir() / "not_a_dataset").mkdir(exist_ok=True)
    (data_dir() / "not_a_dataset" / "notes.txt").write_text("hello")
    infos = {i.name: i for i in list_datasets()}
    assert infos["shapes"].available and infos["shapes"].channels == 3 and len(infos["shapes"].classes) == 10
    assert (infos["shapes"].num_train, infos["shapes"].num_test) == (10000, 2000)
    assert infos["digits"].num_train + infos["digits"].num_test == 1797
    assert infos["digits"].channels == 1 and infos["digits"].height == 8
    assert {"mnist", "fashion_mnist", "cifar10"} <= set(infos)
    assert "tt_listed" in infos and "not_a_dataset" not in infos
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        dataset_info("nope")


def test_torchvision_offline_message(monkeypatch):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    info = dataset_info("mnist")
    assert not info.available
    assert "not downloaded and no network" in info.reason and "MNIST/raw" in info.reason
    with pytest.raises(ValueError, match="not downloaded and no network"):
        load_dataset("mnist")


def test_torchvision_reads_mnist_files_from_the_data_dir(tmp_path, monkeypatch):
    """Tiny idx files in torchvision's layout load as uint8 (N, 1, H, W)."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)

    def idx(path, array):
        dims = array.shape
        header = bytes([0, 0, 8, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
        path.write_bytes(header + array.astype(np.uint8).tobytes())

    images = np.arange(5 * 28 * 28, dtype=np.int64).reshape(5, 28, 28) % 256
    for prefix in ("train", "t10k"):
        idx(raw / f"{prefix}-images-idx3-ubyte", images)
        idx(raw / f"{prefix}-labels-idx1-ubyte", np.array([0, 1, 2, 3, 4]))
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    assert dataset_info("mnist").available
    data = load_dataset("mnist")
    assert data.train_x.shape == (5, 1, 28, 28) and data.train_x.dtype == torch.uint8
    assert data.train_y.tolist() == [0, 1, 2, 3, 4]
    assert np.array_equal(data.train_x[:, 0].numpy(), images.astype(np.uint8))


def test_digits_and_shapes_load(monkeypatch):
    digits = load_dataset("digits")
    assert digits.train_x.shape[1:] == (1, 8, 8) and digits.train_x.dtype == torch.uint8
    assert len(digits.train_x) + len(digits.test_x) == 1797
    assert int(digits.train_x.max()) == 255
    from sklearn.datasets import load_digits

    assert sorted(torch.cat([digits.train_y, digits.test_y]).tolist()) == sorted(load_digits().target.tolist())


@pytest.mark.slow
def test_shapes_default_dataset_loads_and_caches():
    start = time.perf_counter()
    shapes = load_dataset("shapes")
    assert shapes.train_x.shape == (10000, 3, 32, 32) and shapes.test_x.shape == (2000, 3, 32, 32)
    assert list(cache_dir().glob("shapes-*.pt"))
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = load_dataset("shapes")
    assert time.perf_counter() - start < max(1.0, first / 2)
    assert torch.equal(again.test_y, shapes.test_y)


def test_cache_dir_falls_back_when_data_dir_is_read_only(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(ro))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CNNKIT_CACHE_DIR", raising=False)  # the session's own (tests/conftest.py)
    try:
        assert cache_dir() == (tmp_path / "home" / ".cache" / "cnnkit").resolve()
        monkeypatch.setenv("CNNKIT_CACHE_DIR", str(tmp_path / "elsewhere"))
        assert cache_dir() == (tmp_path / "elsewhere").resolve()
    finally:
        os.chmod(ro, 0o755)


def _cifar_copy(root: Path, folder: str, classes: list[str]) -> None:
    """Two train images and one test image per class; CIFAR-10 class c has red level c*20 (colour, like CIFAR)."""
    from cnnkit.data.torchvision_sets import CIFAR10_CLASSES

    for name in classes:
        for split, n in (("train", 2), ("test", 1)):
            for i in range(n):
                save(root / folder / split / name / f"{i}.png", solid((CIFAR10_CLASSES.index(name) * 20, 0, 200)))


@pytest.fixture
def offline_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CNNKIT_CACHE_DIR", str(tmp_path / ".cache"))
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    return tmp_path


def _red_levels(x: torch.Tensor) -> list[int]:
    return [int(img[0, 0, 0]) // 20 for img in x]


def test_cifar10_falls_back_to_a_folder_copy(offline_data_dir):
    """No torchvision files, offline: `cifar10` loads <data_dir>/cifar10-jpeg and says so."""
    from cnnkit.data.torchvision_sets import CIFAR10_CLASSES

    assert not dataset_info("cifar10").available  # nothing there yet
    assert "cifar10-jpeg" in dataset_info("cifar10").reason
    _cifar_copy(offline_data_dir, "cifar10-jpeg", CIFAR10_CLASSES)
    info = dataset_info("cifar10")
    assert (info.available, info.classes, info.num_train, info.num_test) == (True, CIFAR10_CLASSES, 20, 10)
    assert info.source == "torchvision" and "folder copy cifar10-jpeg/" in info.description
    data = load_dataset("cifar10")
    assert data.name == "cifar10" and data.classes == CIFAR10_CLASSES
    assert data.train_x.shape == (20, 3, 8, 8) and data.test_x.shape == (10, 3, 8, 8)
    assert data.train_y.tolist() == _red_levels(data.train_x) and sorted(data.train_y.tolist()) == sorted([*range(10)] * 2)
    assert data.test_y.tolist() == _red_levels(data.test_x) == list(range(10))
    assert any("cifar10-jpeg" in n for n in data.notes)
    # The copy stays listed as a folder dataset under its own name too.
    assert {"cifar10", "cifar10-jpeg"} <= {i.name for i in list_datasets()}


def test_cifar10_folder_copy_is_labelled_in_torchvision_order(offline_data_dir, monkeypatch):
    """Folder classes load alphabetically; a set whose torchvision order differs is relabelled to it."""
    import dataclasses

    from cnnkit.data import torchvision_sets
    from cnnkit.data.torchvision_sets import CIFAR10_CLASSES

    spec = torchvision_sets.TORCHVISION_SETS["cifar10"]
    monkeypatch.setitem(torchvision_sets.TORCHVISION_SETS, "cifar10",
                        dataclasses.replace(spec, classes=tuple(reversed(CIFAR10_CLASSES))))
    _cifar_copy(offline_data_dir, "cifar10-jpeg", CIFAR10_CLASSES)
    data = load_dataset("cifar10")
    assert data.classes == list(reversed(CIFAR10_CLASSES))
    assert data.test_y.tolist() == [9 - level for level in _red_levels(data.test_x)]
    assert data.classes[data.test_y[_red_levels(data.test_x).index(0)]] == "airplane"


def test_cifar10_folder_copy_named_cifar10_and_class_mismatch(offline_data_dir):
    from cnnkit.data.torchvision_sets import CIFAR10_CLASSES

    _cifar_copy(offline_data_dir, "cifar10-jpeg", CIFAR10_CLASSES[:9])  # a class missing: not taken for cifar10
    assert not dataset_info("cifar10").available
    _cifar_copy(offline_data_dir, "cifar10", CIFAR10_CLASSES)
    info = dataset_info("cifar10")
    assert info.available and "folder copy cifar10/" in info.description and not info.shipped_subset
    assert load_dataset("cifar10").test_y.tolist() == list(range(10))


def test_offline_fashion_mnist_is_the_shipped_subset_with_its_slashed_class_in_a_dashed_folder(offline_data_dir,
                                                                                               monkeypatch):
    """Fashion-MNIST offline is the subset that ships (greyscale PNGs in class folders); "T-shirt/top" cannot be a
    folder's name, so its folder is "T-shirt-top", and its images still get label 0 (torchvision's order)."""
    from cnnkit.data.torchvision_sets import FASHION_CLASSES, class_folder

    shipped = offline_data_dir / "shipped"
    monkeypatch.setenv("CNNKIT_SHIPPED_DATASETS_DIR", str(shipped))
    assert not dataset_info("fashion_mnist").available
    for label, name in enumerate(FASHION_CLASSES):   # class k has grey level k * 20
        for split, n in (("train", 2), ("test", 1)):
            for i in range(n):
                save(shipped / "fashion_mnist-subset" / split / class_folder(name) / f"{i}.png",
                     solid(label * 20, size=(28, 28), mode="L"))
    assert class_folder("T-shirt/top") == "T-shirt-top" and (shipped / "fashion_mnist-subset/train/T-shirt-top").is_dir()
    info = dataset_info("fashion_mnist")
    assert (info.available, info.num_train, info.num_test, info.shipped_subset) == (True, 20, 10, True)
    data = load_dataset("fashion_mnist")
    assert data.classes == FASHION_CLASSES and tuple(data.train_x.shape[1:]) == (1, 28, 28)
    assert data.train_y.tolist() == _red_levels(data.train_x) and data.test_y.tolist() == _red_levels(data.test_x)
    assert sorted(data.test_y.tolist()) == list(range(10))


def test_offline_cifar10_falls_back_to_the_subset_that_ships_and_a_data_dir_copy_wins(offline_data_dir, monkeypatch):
    """A fresh install offline: `cifar10` is the shipped subset (quick lessons run); a copy in the data directory
    (the full set) is preferred when there is one."""
    from cnnkit.data.torchvision_sets import CIFAR10_CLASSES

    shipped = offline_data_dir / "shipped"
    monkeypatch.setenv("CNNKIT_SHIPPED_DATASETS_DIR", str(shipped))
    _cifar_copy(shipped, "cifar10-subset", CIFAR10_CLASSES)
    info = dataset_info("cifar10")
    assert (info.available, info.num_train, info.num_test, info.shipped_subset) == (True, 20, 10, True)
    assert "subset that ships with CNN Lab" in info.description
    data = load_dataset("cifar10")
    assert data.train_y.tolist() == _red_levels(data.train_x) and data.test_y.tolist() == list(range(10))
    _cifar_copy(offline_data_dir, "cifar10-jpeg", CIFAR10_CLASSES[:5])  # not all classes: not taken
    assert "subset" in dataset_info("cifar10").description
    _cifar_copy(offline_data_dir, "cifar10-jpeg", CIFAR10_CLASSES)
    assert "folder copy cifar10-jpeg/" in dataset_info("cifar10").description


def test_the_shipped_cifar10_subset_holds_every_class_in_both_splits():
    from cnnkit.data.folders import split_class_counts
    from cnnkit.data.torchvision_sets import CIFAR10_CLASSES

    counts = split_class_counts(Path(__file__).resolve().parents[1] / "assets" / "datasets" / "cifar10-subset")
    assert counts["train"] == {name: 600 for name in CIFAR10_CLASSES}
    assert counts["test"] == {name: 100 for name in CIFAR10_CLASSES}
