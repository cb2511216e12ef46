"""Preview helpers behind the Data explorer: grids, upscaling, counts, split balance, k-fold table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.data import AugmentConfig
from cnnkit.data.preview import (as_rgb_uint8, augment_preview, chw_to_display, chw_to_rgb, class_counts,
                                 display_factor, hwc_to_display, kfold_table, make_grid, resolution_strip,
                                 sample_grid, split_balance, stats_table, upscale_nearest)


def test_upscale_nearest_makes_blocks():
    image = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    big = upscale_nearest(image, 3)
    assert big.shape == (6, 6)
    assert (big[:3, :3] == 1).all() and (big[3:, 3:] == 4).all()
    with pytest.raises(ValueError):
        upscale_nearest(image, 0)


def test_display_factor_nearest_or_within():
    assert display_factor(28, 96) == 3 and display_factor(64, 96) == 2  # nearest: 1.5 rounds to 2
    assert display_factor(64, 96, fit_within=True) == 1  # 128 px would overflow a 96 px column
    assert display_factor(224, 448, fit_within=True) == 2 and display_factor(24, 448, fit_within=True) == 18
    assert display_factor(500, 96) == 1 and display_factor(500, 96, fit_within=True) == 1  # never below 1


def test_chw_to_display_nearest_neighbour_blocks():
    # (moved from test_train_report: the confusion-matrix cells use this helper)
    image = torch.tensor([[[0, 255], [128, 64]]], dtype=torch.uint8).repeat(3, 1, 1)
    shown = chw_to_display(image, target=8)
    assert shown.shape == (8, 8, 3)
    assert (shown[:4, :4] == 0).all() and (shown[:4, 4:] == 255).all() and (shown[4:, :4] == 128).all()
    with pytest.raises(ValueError, match="one"):
        chw_to_display(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), target=64)


def test_chw_to_rgb_grey_and_float():
    grey = chw_to_rgb(np.array([[[0, 200]]], dtype=np.uint8))
    assert grey.shape == (1, 2, 3) and grey.dtype == np.uint8 and (grey[0, 1] == 200).all()
    assert chw_to_rgb(torch.tensor([[[-3.0, 254.6, 300.0]]])).tolist() == [[[0] * 3, [255] * 3, [255] * 3]]


def test_hwc_to_display_fits_within_and_accepts_floats():
    shown = hwc_to_display(np.full((24, 24), 0.5, dtype=np.float32), 100)
    assert shown.shape == (96, 96, 3) and shown.dtype == np.uint8 and (shown == 128).all()
    assert hwc_to_display(np.zeros((224, 224, 3), dtype=np.uint8), 448).shape == (448, 448, 3)
    assert as_rgb_uint8(np.zeros((4, 4, 4), dtype=np.uint8)).shape == (4, 4, 3)  # alpha dropped
    with pytest.raises(ValueError, match="HxW or HxWx3"):
        hwc_to_display(np.zeros((4, 4, 2), dtype=np.uint8), 8)


def test_make_grid_layout_and_grey_to_rgb():
    x = torch.stack([torch.full((1, 4, 4), v, dtype=torch.uint8) for v in (10, 20, 30)])
    grid = make_grid(x, nrow=2, padding=1, pad_value=255)
    assert grid.shape == (2 * 5 + 1, 2 * 5 + 1, 3) and grid.dtype == np.uint8
    assert (grid[1:5, 1:5] == 10).all() and (grid[1:5, 6:10] == 20).all() and (grid[6:10, 1:5] == 30).all()
    assert (grid[6:10, 6:10] == 255).all()  # empty cell


def test_sample_grid_one_row_per_class():
    x = torch.zeros(30, 3, 4, 4, dtype=torch.uint8)
    y = torch.tensor([0] * 10 + [1] * 15 + [2] * 5)
    x[y == 1] = 100
    grid, rows = sample_grid(x, y, ["a", "b", "c", "empty"], per_class=6, seed=0, target=4)
    assert rows == ["a", "b", "c"]
    assert grid.shape == (3 * 5 + 1, 6 * 5 + 1, 3)
    assert (grid[6:10, 1:5] == 100).all()  # second row is class b
    assert (grid[11:15, 26:30] == 255).all()  # class c has only 5 samples: last cell blank
    again, _ = sample_grid(x, y, ["a", "b", "c", "empty"], per_class=6, seed=0, target=4)
    assert np.array_equal(grid, again)


def test_class_counts_and_split_balance():
    y = torch.tensor([0] * 40 + [1] * 10)
    counts = class_counts(y, ["big", "small", "none"])
    assert counts["count"].tolist() == [40, 10, 0]
    balance = split_balance(y, ["big", "small"], "stratified", 0.2, seed=0)
    val = balance[balance.split == "validation"]
    assert val["count"].tolist() == [8, 2]
    assert val["share"].tolist() == pytest.approx([0.8, 0.2])
    train = balance[balance.split == "train"]
    assert train["count"].tolist() == [32, 8]


def test_kfold_table_rows_per_fold():
    y = torch.tensor([0] * 10 + [1] * 5)
    table = kfold_table(y, ["a", "b"], k=5, seed=0)
    assert table["fold"].tolist() == [1, 2, 3, 4, 5]
    assert (table["validation"] == 3).all() and (table["train"] == 12).all()
    assert (table["a"] == 2).all() and (table["b"] == 1).all()


def test_resolution_strip_sizes_and_display():
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    strips = resolution_strip(x, [32, 16, 8], target=64)
    assert [s for s, _ in strips] == [32, 16, 8]
    heights = {img.shape[0] for _, img in strips}
    assert len({img.shape[1] for _, img in strips}) <= 3 and all(h >= 32 for h in heights)
    # 8 px images shown with 8x8 blocks of equal pixels
    _, eight = strips[2]
    assert eight.shape[0] > 8 * 4


def test_augment_preview_has_original_first():
    image = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    grid = augment_preview(image, AugmentConfig(hflip=True), n=8, seed=0, nrow=4, target=8)
    assert grid.shape == (2 * 10 + 2, 4 * 10 + 2, 3)
    assert np.array_equal(grid[2:10, 2:10], image.numpy().transpose(1, 2, 0))


def test_stats_table_names():
    assert stats_table(3, [0.1, 0.2, 0.3], [0.4, 0.5, 0.6])["channel"].tolist() == ["R", "G", "B"]
    assert stats_table(1, [0.1], [0.2])["channel"].tolist() == ["grey"]
