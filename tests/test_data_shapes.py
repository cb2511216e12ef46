"""Shapes: shapes, determinism, prefix stability, class coverage, one object per image."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from cnnkit.data import SHAPE_CLASSES, generate_shapes


def test_shapes_types_and_sizes():
    x, y = generate_shapes(50, seed=3, size=32)
    assert x.shape == (50, 3, 32, 32) and x.dtype == torch.uint8
    assert y.shape == (50,) and y.dtype == torch.int64
    assert int(y.min()) >= 0 and int(y.max()) < len(SHAPE_CLASSES) == 10
    x64, _ = generate_shapes(4, seed=3, size=64)
    assert x64.shape == (4, 3, 64, 64)


def test_shapes_deterministic_and_prefix_stable():
    a, ya = generate_shapes(40, seed=7)
    b, yb = generate_shapes(40, seed=7)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    c, yc = generate_shapes(10, seed=7)
    assert torch.equal(a[:10], c) and torch.equal(ya[:10], yc)
    d, _ = generate_shapes(40, seed=8)
    assert not torch.equal(a, d)


def test_shapes_cover_every_class_roughly_evenly():
    _, y = generate_shapes(2000, seed=0)
    counts = torch.bincount(y, minlength=10)
    assert counts.min() > 140 and counts.max() < 260  # 200 expected each


def test_one_object_per_image_differs_from_background():
    # Noise-free check: pixels inside the drawn object differ from the background around it.
    x, _ = generate_shapes(20, seed=1)
    images = x.float()
    for img in images:
        spread = img.std(dim=(1, 2))
        assert float(spread.max()) > 10  # not a flat image: something is drawn


def test_shapes_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        generate_shapes(-1)
    with pytest.raises(ValueError, match="size"):
        generate_shapes(3, size=2)
    x, y = generate_shapes(0)
    assert x.shape == (0, 3, 32, 32) and y.shape == (0,)


def test_generation_is_fast():
    start = time.perf_counter()
    generate_shapes(1000, seed=0)
    assert time.perf_counter() - start < 5  # 12,000 take a few seconds on two cores


def test_shapes_masks_mark_the_object_pixels():
    from cnnkit.data.shapes import shapes_masks

    x, _ = generate_shapes(6, seed=4, size=32)
    masks = shapes_masks(6, seed=4, size=32)
    assert masks.shape == (6, 32, 32) and masks.dtype == torch.bool
    for image, mask in zip(x.float(), masks):
        # every image has one object covering a real part of it, and its pixels differ from the background
        assert 0.05 < mask.float().mean() < 0.7
        inside = image[:, mask].mean(dim=1)
        outside = image[:, ~mask].mean(dim=1)
        assert (inside - outside).abs().sum() > 40
