"""Overlays (colors, opacity, nearest upscaling), the model cache (bounded, keyed, locked), the sanity check."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from cnnkit.explain import ModelCache, cache_key, colorize, overlay, randomization_check, randomized_copy, rank_correlation
from tests.helpers.explain import random_input, tiny_model


def test_overlay_opacity_and_size():
    image = np.full((32, 32, 3), 100, dtype=np.uint8)
    heatmap = np.zeros((32, 32), dtype=np.float32)
    heatmap[:16] = 1.0
    out = overlay(image, heatmap, opacity=0.0, display_size=448)
    assert out.dtype == np.uint8 and out.shape == (448, 448, 3)  # 32 × 14
    assert (out == 100).all()  # opacity 0: only the image
    full = overlay(image, heatmap, opacity=1.0, display_size=448)
    np.testing.assert_array_equal(full[0, 0], colorize(np.array([[1.0]]))[0, 0])  # hot = jet red
    assert full[0, 0, 0] > 100 and full[-1, -1, 2] > 100  # top red, bottom blue
    half = overlay(image, heatmap, opacity=0.5).astype(int)
    np.testing.assert_allclose(half[0, 0], (100 + full[0, 0].astype(int)) / 2, atol=1)


def test_overlay_upscales_without_blur():
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    image[0, 0] = 255
    out = overlay(image, np.zeros((4, 4)), opacity=0.0, display_size=40)
    assert out.shape == (40, 40, 3)
    assert (out[:10, :10] == 255).all() and (out[10:, :] == 0).all()  # sharp 10×10 block
    assert set(np.unique(out)) == {0, 255}
    big = overlay(np.zeros((224, 224, 3), dtype=np.uint8), np.zeros((224, 224)), display_size=448)
    assert big.shape == (448, 448, 3)


def test_overlay_accepts_grayscale_and_rejects_mismatch():
    assert overlay(np.zeros((8, 8), dtype=np.uint8), np.ones((8, 8)), display_size=8).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="same height and width"):
        overlay(np.zeros((8, 8, 3), dtype=np.uint8), np.ones((4, 4)))
    with pytest.raises(ValueError, match="opacity"):
        overlay(np.zeros((8, 8, 3), dtype=np.uint8), np.ones((8, 8)), opacity=1.5)


def test_cache_is_bounded_lru_and_loads_once():
    cache = ModelCache(max_items=2)
    loads: list[str] = []

    def loader(name):
        return lambda: loads.append(name) or name

    assert cache.get(("a", 1, ""), loader("a")) == "a"
    assert cache.get(("a", 1, ""), loader("a")) == "a"
    cache.get(("b", 1, ""), loader("b"))
    cache.get(("a", 1, ""), loader("a"))  # a is now most recent
    cache.get(("c", 1, ""), loader("c"))  # evicts b
    assert loads == ["a", "b", "c"] and len(cache) == 2
    assert ("b", 1, "") not in cache and ("a", 1, "") in cache
    cache.get(("a", 2, ""), loader("a2"))  # same path, newer mtime: the stale entry goes
    assert ("a", 1, "") not in cache and cache.loads == 4


def test_cache_key_follows_modification_time(tmp_path):
    run = tmp_path / "run1"
    run.mkdir()
    (run / "best.pt").write_bytes(b"x")
    first = cache_key(run)
    time.sleep(0.01)
    (run / "best.pt").write_bytes(b"y")
    import os
    os.utime(run / "best.pt", ns=(first[1] + 10**9, first[1] + 10**9))
    assert cache_key(run) != first and cache_key(run)[0] == first[0]
    with pytest.raises(FileNotFoundError):
        cache_key(tmp_path / "missing")


def test_cache_use_is_exclusive_per_model():
    cache = ModelCache(max_items=2)
    inside = []
    overlaps = []

    def worker():
        with cache.use(("m", 0, ""), lambda: object()):
            inside.append(1)
            if len(inside) > 1:
                overlaps.append(1)
            time.sleep(0.02)
            inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [] and cache.loads == 1


def test_randomized_copy_changes_weights_not_the_original():
    model = tiny_model(seed=0)
    original = model.layers[0].weight.detach().clone()
    clone = randomized_copy(model, seed=1)
    torch.testing.assert_close(model.layers[0].weight.detach(), original)
    assert not torch.allclose(clone.layers[0].weight, original)
    torch.testing.assert_close(randomized_copy(model, seed=1).layers[0].weight, clone.layers[0].weight)


def test_rank_correlation():
    a = np.arange(10.0)
    assert rank_correlation(a, a ** 3) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert rank_correlation(a, np.zeros(10)) == 0.0


def test_randomization_check_returns_both_maps_and_rho():
    model = tiny_model(seed=2)
    x = random_input(seed=3)
    check = randomization_check(model, x, layer="layers.3", target=1, method="saliency")
    original, randomized, rho = check
    assert original.shape == randomized.shape == (32, 32)
    assert -1.0 <= rho <= 1.0 and check.target == 1
    assert not np.allclose(original, randomized)
    # The same model against itself would give rho 1: a sanity check of the check.
    assert rank_correlation(original, original) == pytest.approx(1.0)
