"""The Inside page's unit helpers: which part of a big map is drawn, and the labels of the arithmetic."""

from __future__ import annotations

import numpy as np

from ui.inside_unit import map_chart, normalisation_note, view_region


def test_small_maps_are_drawn_whole_and_big_ones_around_their_marks():
    assert view_region(32, 32, {"unit": (3, 3, 3, 3)}) == (0, 0, 31, 31)
    assert view_region(224, 224, {"window": (110, 110, 112, 112)}) == (87, 87, 134, 134)
    assert view_region(224, 224, {"window": (0, 0, 2, 2)}) == (0, 0, 47, 47)  # clipped at the edges
    assert view_region(224, 224, {"unit": (223, 223, 223, 223)}) == (176, 176, 223, 223)


def test_map_charts_are_square_and_say_which_part_they_show():
    chart = map_chart(np.arange(64 * 64, dtype=float).reshape(64, 64), "layers.0", {"unit": (60, 2, 60, 2)}, 200,
                      (0, 4095)).to_dict()
    assert chart["width"] == chart["height"] == 200 and chart["autosize"]["type"] == "pad"
    assert chart["title"]["subtitle"] == "rows 16–63, columns 0–47 of 64×64"
    assert len(chart["datasets"][chart["data"]["name"]]) == 48 * 48


def test_normalisation_note_uses_the_model_numbers():
    extra = {"mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616]}
    assert normalisation_note(extra, 1).startswith("normalised input (mean 0.482, std 0.243)")
    assert normalisation_note({}, 0) == "normalised input (the model's own normalisation)"


def test_overview_maps_get_whole_pixel_units_when_they_fit():
    from ui.inside_unit import overview_cell

    assert overview_cell({8, 4, 2}, 90) == 88  # 11, 22, 44 px per unit
    assert overview_cell({28, 14, 7}, 60) == 56
    assert overview_cell({32, 16}, 61) == 61  # no multiple of 32 fits: what fits
    assert overview_cell({32}, 10) == 40  # never smaller than a clickable map
