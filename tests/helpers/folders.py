"""Folder datasets of Shapes images written into the (temporary) data directory, for tests that load from disk."""

from __future__ import annotations

from PIL import Image

from cnnkit.data import SHAPE_CLASSES, generate_shapes
from cnnkit.paths import data_dir

SIZE = 16


def write_shapes_folder(name: str, classes: tuple[int, ...], train_per_class: int, test_per_class: int,
                        seed: int, size: int = SIZE, test_seed: int | None = None) -> str:
    """A train/ and test/ folder dataset of Shapes classes as PNGs in the (temporary) data dir.
    The test split is drawn with `test_seed` (default seed + 1000); an existing folder is reused."""
    root = data_dir() / name
    if root.is_dir():
        return name
    test_seed = seed + 1000 if test_seed is None else test_seed
    for split, per_class, split_seed in (("train", train_per_class, seed), ("test", test_per_class, test_seed)):
        x, y = generate_shapes(40 * per_class + 200, seed=split_seed, size=size)
        for c in classes:
            folder = root / split / SHAPE_CLASSES[c]
            folder.mkdir(parents=True, exist_ok=True)
            chosen = x[y == c][:per_class]
            assert len(chosen) == per_class
            for i, image in enumerate(chosen):
                Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")
    return name


def small_spec(num_classes: int, size: int = SIZE) -> dict:
    conv = lambda c: [{"type": "conv2d", "params": {"out_channels": c, "kernel_size": 3, "padding": 1}},  # noqa: E731
                      {"type": "batchnorm2d", "params": {}}, {"type": "relu", "params": {}},
                      {"type": "maxpool2d", "params": {"kernel_size": 2}}]
    return {"name": "small", "input_shape": [3, size, size], "num_classes": num_classes,
            "layers": conv(16) + conv(32) + conv(32) + [
                {"type": "flatten", "params": {}}, {"type": "linear", "params": {"out_features": 64}},
                {"type": "relu", "params": {}}, {"type": "linear", "params": {"out_features": num_classes}}]}


def tiny_folder(name: str = "reslab_tiny", per_class_train: int = 12, per_class_test: int = 6) -> str:
    """A 3-class 32×32 folder dataset (Shapes classes 0-2) that trains and tests in a second."""
    return write_shapes_folder(name, (0, 1, 2), per_class_train, per_class_test, seed=1, size=32, test_seed=2)
