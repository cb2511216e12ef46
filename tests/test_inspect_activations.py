"""Activation capture, channel grids, receptive fields (layers vs. summary vs. gradients), filters, top images,
presets and a run's initial weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnkit.inspect import (capture_activations, channel_grid, channel_scores, first_conv_filters, from_preset,
                            gradient_box, kernel_grid, layer_table, receptive_box, shape_changes, spec_geometry,
                            top_images, unit_box)
from cnnkit.models import ModelSpec
from cnnkit.models.build import build_model
from cnnkit.models.summary import summarize


def test_inplace_relu_does_not_overwrite_the_stored_map():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True)).eval()
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        expected = model[0](x)[0].numpy()
    kept = capture_activations(model, x)
    assert kept.names == ["0", "1"]
    assert np.allclose(kept.get("0").values, expected) and kept.get("0").stats.min < 0  # pre-ReLU values
    assert kept.get("1").stats.min == 0 and kept.get("1").stats.zero_fraction > 0
    overwritten = capture_activations(model, x, clone=False)  # without the clone the ReLU wins
    assert overwritten.get("0").stats.min == 0


def test_every_layer_shape_statistics_and_strip():
    model = from_preset("cnn3")
    x = torch.randn(1, 3, 32, 32)
    acts = capture_activations(model.model, x)
    table = {row["layer"]: row for row in layer_table(acts)}
    assert table["layers.0"]["shape"] == [32, 32, 32] and table["layers.2"]["shape"] == [32, 16, 16]
    assert acts.logits.shape == (len(model.classes),)
    strip = [layer.shape for layer in shape_changes(acts)]
    assert strip[:3] == [(32, 32, 32), (32, 16, 16), (64, 16, 16)]  # the map shrinks, the channels multiply
    with pytest.raises(ValueError, match="no layer called"):
        acts.get("nope")


def test_channel_grid_sorts_by_mean_and_pages():
    values = np.stack([np.full((4, 4), float(v)) for v in [1, 5, 3, 0, 2]])
    grid = channel_grid(values, per_page=2)
    assert grid.channels == [1, 2] and grid.pages == 3 and grid.value_range == (0.0, 5.0)
    assert channel_grid(values, page=2, per_page=2).channels == [3]
    big = np.random.default_rng(0).random((600, 2, 2), dtype=np.float32)
    assert len(channel_grid(big).channels) == 256  # never more than a few hundred tiles at once
    with pytest.raises(ValueError, match="page 5 does not exist"):
        channel_grid(values, page=5, per_page=2)


def _probe_spec() -> ModelSpec:
    # tanh and average pooling: every pixel in the window has a non-zero gradient (max pooling and ReLU
    # would make the measured box smaller than the window).
    layers = [{"type": "conv2d", "params": {"out_channels": 4, "kernel_size": 3, "padding": 1}},
              {"type": "tanh", "params": {}},
              {"type": "conv2d", "params": {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}},
              {"type": "avgpool2d", "params": {"kernel_size": 2}},
              {"type": "conv2d", "params": {"out_channels": 4, "kernel_size": 3, "dilation": 2, "padding": 2}},
              {"type": "tanh", "params": {}},
              {"type": "residual", "params": {"out_channels": 8, "stride": 2}},
              {"type": "flatten", "params": {}}, {"type": "linear", "params": {"out_features": 3}}]
    return ModelSpec.from_dict({"name": "probe", "input_shape": [2, 40, 40], "num_classes": 3, "layers": layers})


def test_receptive_field_matches_the_summary_and_the_gradients():
    spec = _probe_spec()
    torch.manual_seed(3)
    model = build_model(spec).eval()
    for parent in list(model.modules()):  # the residual block's ReLUs would zero some gradients
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(parent, name, nn.Identity())
    geometry = spec_geometry(spec)
    for row in summarize(spec).rows:
        assert (geometry[row.name].rf if geometry[row.name] else None) == row.receptive_field
    x = torch.randn(1, 2, 40, 40)
    for layer, units in [("layers.0", [(0, 0), (5, 7)]), ("layers.2", [(0, 0), (19, 19), (7, 3)]),
                         ("layers.4", [(0, 0), (4, 6), (9, 9)]), ("layers.6", [(0, 0), (2, 3), (4, 4)])]:
        for y, x_pos in units:
            analytic = receptive_box(model, x, layer, 1, y, x_pos)
            measured = gradient_box(model, x, layer, 1, y, x_pos)
            assert analytic.method == "layers" and measured.method == "gradient"
            assert (analytic.top, analytic.left, analytic.bottom, analytic.right) == \
                   (measured.top, measured.left, measured.bottom, measured.right), (layer, y, x_pos)


def test_receptive_field_of_a_pretrained_style_model_is_measured():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.Conv2d(2, 2, 3, stride=2)).eval()
    x = torch.rand(1, 1, 11, 11) + 1
    box = receptive_box(model, x, "2", 0, 1, 2)
    assert box.method == "gradient" and box.height <= 5 and box.width <= 5
    clipped = unit_box(spec_geometry(_probe_spec())["layers.0"], 0, 0, 40, 40)
    assert (clipped.top, clipped.left, clipped.rf) == (0, 0, 3)  # reaches into the padding: clipped
    with pytest.raises(ValueError, match="outside 2's 2×4×4 output"):
        gradient_box(model, x, "2", 5, 0, 0)


def test_filters_as_pictures():
    model = from_preset("cnn3").model
    first = first_conv_filters(model)
    assert first.layer == "layers.0" and len(first.tiles) == 32 and first.tiles[0].shape[2] == 3
    deeper = kernel_grid(model, "layers.3", out_channel=5)
    assert len(deeper.tiles) == 32 and deeper.tiles[0].ndim == 2  # one grey tile per input channel
    with pytest.raises(ValueError, match="is not a Conv2d"):
        kernel_grid(model, "layers.1", 0)


def test_top_images_are_the_strongest_in_the_sample(monkeypatch):
    import cnnkit.data
    from cnnkit.data import LoadedDataset, generate_shapes, SHAPE_CLASSES

    x, y = generate_shapes(40, seed=1)
    data = LoadedDataset("shapes", list(SHAPE_CLASSES), x[:0], y[:0], x, y)
    monkeypatch.setattr(cnnkit.data, "load_dataset", lambda name, progress=None: data)
    model = from_preset("cnn3")
    scores = channel_scores(model, "layers.1", sample=30)
    assert scores.scores.shape == (30, 32)
    best = top_images(model, scores, channel=4, k=5)
    assert [b.score for b in best] == sorted(scores.scores[:, 4], reverse=True)[:5]
    assert best[0].image.shape == (32, 32, 3) and best[0].activation.shape == (32, 32)
    assert best[0].activation.mean() == pytest.approx(best[0].score, rel=1e-4)
    with pytest.raises(ValueError, match="between 1 and 2000"):
        channel_scores(model, "layers.1", sample=5000)


def test_presets_have_reproducible_random_weights():
    a, b = from_preset("cnn3"), from_preset("cnn3")
    assert torch.equal(a.model.layers[0].weight, b.model.layers[0].weight)
    assert a.dataset == "shapes" and a.kind == "preset"
