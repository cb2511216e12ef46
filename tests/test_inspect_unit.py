"""One unit, every view: its window in the layer below and its receptive field on the image, checked by hand
on a small conv/pool stack, its arithmetic, and the overview rows that mark them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnkit.inspect import INPUT, capture_activations, overview_channels, overview_layers, overview_rows, trace_unit
from cnnkit.models.build import build_model
from cnnkit.models.spec import LayerSpec, ModelSpec


@pytest.fixture(scope="module")
def stack():
    """1×10×10 → conv 3×3 pad 1 (2 ch) → ReLU → max pool 2 → conv 3×3 pad 0 (3 ch) → flatten → linear."""
    spec = ModelSpec("tiny", (1, 10, 10), 4, [
        LayerSpec("conv2d", {"out_channels": 2, "kernel_size": 3, "padding": 1}), LayerSpec("relu", {}),
        LayerSpec("maxpool2d", {"kernel_size": 2}),
        LayerSpec("conv2d", {"out_channels": 3, "kernel_size": 3, "padding": 0}),
        LayerSpec("flatten", {}), LayerSpec("linear", {"out_features": 4})])
    torch.manual_seed(0)
    model = build_model(spec).eval()
    x = torch.randn(1, 1, 10, 10)
    return model, x, capture_activations(model, x)


def bounds(window):
    return (window.top, window.left, window.bottom, window.right)


def box_of(trace):
    return (trace.box.top, trace.box.left, trace.box.bottom, trace.box.right)


def test_first_conv_reads_a_3x3_window_of_the_image_clipped_at_the_corner(stack):
    model, x, acts = stack
    corner = trace_unit(model, x, acts, "layers.0", 1, 0, 0)
    # rows/cols −1..1: the −1s are padding
    assert corner.window.layer == INPUT and corner.window.channels == [0] and corner.window.padded
    assert bounds(corner.window) == (0, 0, 1, 1) and box_of(corner) == (0, 0, 1, 1)
    inside = trace_unit(model, x, acts, "layers.0", 0, 4, 7)
    assert bounds(inside.window) == (3, 6, 5, 8) and not inside.window.padded
    assert box_of(inside) == (3, 6, 5, 8) and inside.box.rf == 3
    assert inside.breakdown is not None and inside.breakdown.matches
    assert inside.value == pytest.approx(float(acts.get("layers.0").values[0, 4, 7]))
    assert inside.value == pytest.approx(inside.breakdown.value, abs=1e-5)


def test_relu_reads_one_position_and_the_pool_a_2x2_window_of_its_channel(stack):
    model, x, acts = stack
    relu = trace_unit(model, x, acts, "layers.1", 1, 2, 3)
    assert relu.window.layer == "layers.0" and relu.window.channels == [1] and bounds(relu.window) == (2, 3, 2, 3)
    assert relu.breakdown.kind == "relu" and relu.breakdown.matches
    pool = trace_unit(model, x, acts, "layers.2", 1, 2, 3)
    assert pool.window.layer == "layers.1" and pool.window.channels == [1]
    assert bounds(pool.window) == (4, 6, 5, 7)  # rows 2·2..2·2+1, cols 2·3..2·3+1
    # conv: start −1, jump 1, rf 3; pool 2: start −1, jump 2, rf 4 → rows −1+2·2 .. +3, cols −1+3·2 .. +3
    assert box_of(pool) == (3, 5, 6, 8) and pool.box.rf == 4
    assert pool.breakdown.kind == "maxpool" and pool.breakdown.matches


def test_second_conv_reads_every_channel_of_the_pool_and_sees_8x8_pixels(stack):
    model, x, acts = stack
    conv = trace_unit(model, x, acts, "layers.3", 2, 1, 2)
    assert conv.window.layer == "layers.2" and conv.window.channels == [0, 1]
    assert bounds(conv.window) == (1, 2, 3, 4) and conv.window.size == "3×3"
    # rf 4 + (3 − 1)·2 = 8, start −1, jump 2: rows 1..8, cols 3..10 clipped to 9
    assert conv.box.rf == 8 and box_of(conv) == (1, 3, 8, 9)
    assert conv.breakdown.kind == "conv" and conv.breakdown.matches
    assert conv.breakdown.inputs.shape == (2, 3, 3)


def test_bad_units_and_flat_layers_say_what_to_pick(stack):
    model, x, acts = stack
    with pytest.raises(ValueError, match=r"outside layers.3's 3×3×3 output; use channel 0–2, y 0–2, x 0–2"):
        trace_unit(model, x, acts, "layers.3", 0, 3, 0)
    with pytest.raises(ValueError, match="layers.4 is flat"):
        trace_unit(model, x, acts, "layers.4", 0, 0, 0)


def test_overview_rows_mark_the_unit_its_window_and_its_field(stack):
    model, x, acts = stack
    trace = trace_unit(model, x, acts, "layers.3", 2, 1, 2)
    rows = overview_rows(acts, x[0].numpy(), trace, channels_per_layer=2)
    assert [r["layer"] for r in rows if r["slot"] == 0 and r["y"] == 0 and r["x"] == 0] == \
           [INPUT, "layers.0", "layers.1", "layers.2", "layers.3"]  # the image, then every map layer in order
    units = [r for r in rows if r["role"] == "unit"]
    assert [(r["layer"], r["channel"], r["uy"], r["ux"]) for r in units] == [("layers.3", 2, 1, 2)]
    window = [r for r in rows if r["role"] == "window"]
    assert {r["layer"] for r in window} == {"layers.2"} and len(window) == 2 * 9  # 3×3 in both shown channels
    field = [r for r in rows if r["role"] == "field"]
    assert len(field) == 8 * 7 and {(r["uy"], r["ux"]) for r in field} == {(y, x) for y in range(1, 9)
                                                                         for x in range(3, 10)}
    levels = [r["level"] for r in rows if r["layer"] == "layers.0"]
    assert 0.0 <= min(levels) and max(levels) <= 1.0


def test_overview_bounds_big_maps_and_long_networks():
    from cnnkit.inspect.activations import Activations, LayerActivation, layer_stats

    values = np.arange(64 * 64, dtype=np.float32).reshape(1, 64, 64)
    layers = [LayerActivation(f"l{i}", "Conv2d", values, layer_stats(values)) for i in range(40)]
    acts = Activations(layers=layers, logits=np.zeros(2), input_shape=(1, 64, 64))
    names = overview_layers(acts, limit=16, keep=("l7",))
    assert len(names) <= 18 and "l7" in names and names[-1] == "l39" and names == sorted(names, key=lambda n: int(n[1:]))
    rows = overview_rows(acts, values, None, channels_per_layer=1, layers=["l0"])
    drawn = [r for r in rows if r["layer"] == "l0"]
    assert len(drawn) == 32 * 32  # 2×2 blocks of 64×64
    assert drawn[1]["ux"] == 2 and drawn[0]["value"] == pytest.approx(np.mean([0, 1, 64, 65]))
    assert overview_channels(np.stack([np.zeros((2, 2)), np.ones((2, 2)), 2 * np.ones((2, 2))]), 2, keep=(0,)) == [0, 2]


def test_a_module_called_twice_is_traced_on_its_first_call_only():
    from torch import nn

    class Twice(nn.Module):  # one ReLU module used twice: hooks would mix its two calls
        def __init__(self):
            super().__init__()
            self.conv, self.relu = nn.Conv2d(1, 2, 3, padding=1), nn.ReLU()

        def forward(self, x):
            return self.relu(self.conv(self.relu(x)))

    model, x = Twice().eval(), torch.randn(1, 1, 6, 6)
    acts = capture_activations(model, x)
    assert acts.names == ["relu", "conv", "relu#2"]
    second = trace_unit(model, x, acts, "relu#2", 1, 2, 2)
    assert second.window is None and second.breakdown is None and "first call (relu)" in second.notes[0]
    assert second.value == pytest.approx(float(acts.get("relu#2").values[1, 2, 2]))
    first = trace_unit(model, x, acts, "relu", 0, 2, 2)
    assert first.window.layer == INPUT and first.breakdown.matches
