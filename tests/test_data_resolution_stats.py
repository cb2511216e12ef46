"""Resolution changes and per-channel statistics, checked against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.data import channel_stats, resize_batch


def test_area_downsample_is_the_block_mean():
    x = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    out = resize_batch(x, 2, mode="area")
    assert out.shape == (1, 1, 2, 2)
    expected = torch.tensor([[(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4], [(8 + 9 + 12 + 13) / 4, (10 + 11 + 14 + 15) / 4]])
    assert torch.allclose(out[0, 0], expected)


def test_uint8_in_uint8_out_and_restore_size():
    x = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for mode in ("area", "bilinear", "nearest"):
        small = resize_batch(x, 8, mode=mode)
        assert small.shape == (3, 3, 8, 8) and small.dtype == torch.uint8
        back = resize_batch(x, 8, mode=mode, restore_size=32)
        assert back.shape == (3, 3, 32, 32) and back.dtype == torch.uint8
    # nearest down then up gives 4x4 blocks of equal pixels
    blocky = resize_batch(x, 8, mode="nearest", restore_size=32)
    assert torch.equal(blocky[:, :, 0:4, 0:4], blocky[:, :, 0:1, 0:1].expand(-1, -1, 4, 4))


def test_same_size_is_unchanged_and_bad_input_rejected():
    x = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    assert torch.equal(resize_batch(x, 8), x)
    with pytest.raises(ValueError, match="unknown resize mode"):
        resize_batch(x, 4, mode="lanczos")
    with pytest.raises(ValueError, match="N, C, H, W"):
        resize_batch(x[0], 4)


def test_channel_stats_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 3, 5, 7), dtype=np.uint8)
    mean, std = channel_stats(torch.from_numpy(x), chunk=6)  # several chunks
    arr = x.astype(np.float64) / 255
    assert np.allclose(mean, arr.mean(axis=(0, 2, 3)), atol=1e-9)
    assert np.allclose(std, arr.std(axis=(0, 2, 3)), atol=1e-9)
    grey_mean, grey_std = channel_stats(torch.full((2, 1, 3, 3), 51, dtype=torch.uint8))
    assert grey_mean == pytest.approx([0.2]) and grey_std == pytest.approx([0.0])
