"""The tiny explainable CNN the explain tests share (tests/helpers/explain.py) has the shapes they assume."""

from __future__ import annotations

import torch

from tests.helpers.explain import random_input, tiny_model


def test_tiny_cnn_shapes():
    # The helpers themselves: 32×32 in, one logit per class out, deterministic per seed.
    model = tiny_model(seed=0, classes=5)
    out = model(random_input(seed=0))
    assert out.shape == (1, 5)
    torch.testing.assert_close(tiny_model(seed=0, classes=5)(random_input(seed=0)), out)
