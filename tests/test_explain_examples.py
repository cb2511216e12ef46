"""Example images that ship with the app: the bundled photos, plus generated Shapes when cnnkit.data has them."""

from __future__ import annotations

import sys
import types

import numpy as np
import torch

from cnnkit.explain.examples import EXAMPLES_DIR, list_examples


def test_bundled_photos_are_there_and_small():
    names = {p.name for p in EXAMPLES_DIR.glob("*.jpg")}
    assert {"china.jpg", "flower.jpg", "grace_hopper.jpg"} <= names
    for path in EXAMPLES_DIR.glob("*.jpg"):
        assert path.stat().st_size < 100_000  # downscaled copies, not the originals


def test_the_photos_come_first_and_load_as_rgb():
    examples = list_examples()
    assert [e.name for e in examples][:3] == ["china", "flower", "grace_hopper"]
    image = examples[0].load()
    assert image.mode == "RGB" and max(image.size) == 400


def test_generated_shapes_are_added_when_available(monkeypatch):
    def generate_shapes(n, seed=0, size=32):
        generator = torch.Generator().manual_seed(seed)
        return (torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8),
                torch.arange(n) % 2)

    fake = types.ModuleType("cnnkit.data")
    fake.generate_shapes = generate_shapes
    fake.SHAPE_CLASSES = ["circle", "square"]
    monkeypatch.setitem(sys.modules, "cnnkit.data", fake)
    examples = list_examples(shapes=2, shape_size=48, seed=5)
    shapes = [e for e in examples if e.name.startswith("shapes_")]
    assert [e.description for e in shapes] == ["Generated Shapes #1: circle", "Generated Shapes #2: square"]
    picture = np.asarray(shapes[1].load())
    expected = generate_shapes(2, seed=5, size=48)[0][1].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(picture, expected)
