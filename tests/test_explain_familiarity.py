"""Honest predictions: cnnkit.explain.familiarity says when an answer is unsure or the image is unlike the data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.explain.familiarity import (COLOUR_THRESHOLD, FEW_CLASSES, check_prediction, colourfulness,
                                        entropy_fraction, image_statistics, reference_stats)

CLASSES = ["circle", "square", "triangle"]


def _light_on_dark(n: int = 200, seed: int = 0) -> torch.Tensor:
    """Grey 8×8 'digits': a bright blob on black, a little noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 8, 8)
    x[:, :, 2:6, 3:5] = 200
    x += torch.rand(n, 1, 8, 8, generator=g) * 30
    return x.clamp(0, 255).to(torch.uint8)


def test_statistics_of_flat_and_coloured_images():
    flat_grey = torch.full((3, 4, 4), 100, dtype=torch.uint8)
    stats = image_statistics(flat_grey)
    assert stats["brightness"][0] == pytest.approx(100)
    assert stats["contrast"][0] == 0 and stats["colourfulness"][0] == 0 and stats["texture"][0] == 0
    red = torch.zeros(3, 4, 4, dtype=torch.uint8)
    red[0] = 255
    # |R−G| = 255, |G−B| = 0, |R−B| = 255 → mean 170
    assert image_statistics(red)["colourfulness"][0] == pytest.approx(170)
    assert colourfulness(np.full((4, 4, 3), 7, dtype=np.uint8)) == 0.0
    with pytest.raises(ValueError, match="images must be"):
        image_statistics(np.zeros((4, 4)))


def test_entropy_fraction_bounds():
    assert entropy_fraction([1, 0, 0]) == pytest.approx(0)
    assert entropy_fraction([1 / 3] * 3) == pytest.approx(1)


def test_confident_familiar_prediction_has_no_caveat():
    data = _light_on_dark()
    reference = reference_stats(data, dataset="toy")
    check = check_prediction([0.95, 0.03, 0.02], CLASSES, data[0], reference, model_channels=1)
    assert check.trustworthy and check.caveats == []
    assert check.summary().startswith("The model is fairly sure: circle (95%)")


def test_unsure_and_spread_answers_are_said():
    unsure = check_prediction([0.4, 0.35, 0.25], CLASSES)
    assert [c.kind for c in unsure.caveats] == ["unsure"] and "only 40%" in unsure.summary()
    many = [0.52] + [0.48 / 9] * 9
    spread = check_prediction(many, [str(i) for i in range(10)])
    assert [c.kind for c in spread.caveats] == ["spread"]


def test_a_different_kind_of_image_is_flagged_even_when_confident():
    reference = reference_stats(_light_on_dark(), dataset="digits")
    dark_on_light = 255 - _light_on_dark(1, seed=9)[0]  # the inverse: a dark digit on white paper
    check = check_prediction([0.99, 0.005, 0.005], CLASSES, dark_on_light, reference, model_channels=1)
    assert [c.kind for c in check.caveats] == ["unusual"]
    assert "unlike the digits images" in check.summary() and "much more brightness" in check.summary()


def test_colour_picture_for_a_grey_model_and_grey_picture_for_a_colour_model():
    grey_model = check_prediction([0.9, 0.05, 0.05], CLASSES, original_colourfulness=COLOUR_THRESHOLD * 5,
                                  model_channels=1)
    assert [c.kind for c in grey_model.caveats] == ["colour"]
    g = torch.Generator().manual_seed(0)
    coloured = (torch.rand(100, 3, 8, 8, generator=g) * 255).to(torch.uint8)
    reference = reference_stats(coloured, dataset="shapes")
    assert reference.colour
    grey_picture = coloured[0].float().mean(0, keepdim=True).repeat(3, 1, 1).to(torch.uint8)
    check = check_prediction([0.9, 0.05, 0.05], CLASSES, grey_picture, reference, model_channels=3)
    assert "grey" in [c.kind for c in check.caveats]
    assert "learned from colour shapes images" in check.summary()


def test_small_models_list_their_classes_large_ones_do_not():
    small = check_prediction([0.9, 0.05, 0.05], CLASSES)
    assert small.known_classes == CLASSES
    assert small.classes_text().startswith("This model knows only 3 classes: circle, square, triangle.")
    many = [f"c{i}" for i in range(FEW_CLASSES + 1)]
    big = check_prediction([1.0] + [0.0] * FEW_CLASSES, many)
    assert big.known_classes == [] and big.classes_text() == ""


def test_reference_needs_enough_images():
    with pytest.raises(ValueError, match="at least 20 images"):
        reference_stats(_light_on_dark(5))
