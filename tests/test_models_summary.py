"""Receptive field, multiply-adds, activation memory and parameters against hand computations."""

import json

import torch

from cnnkit.cli.common import to_jsonable
from cnnkit.models import (CATEGORY_COLOURS, LayerSpec, ModelSpec, build_model, diagram_blocks, format_summary,
                           summarize, summary_table)


def small_spec() -> ModelSpec:
    # 1×12×12 → conv 3×3 pad 1 (4) → maxpool 2 → conv 3×3 dilation 2 (6) → flatten → linear 3
    return ModelSpec("small", (1, 12, 12), 3, [
        LayerSpec("conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}),
        LayerSpec("maxpool2d", {"kernel_size": 2}),
        LayerSpec("conv2d", {"out_channels": 6, "kernel_size": 3, "dilation": 2}),
        LayerSpec("flatten"),
        LayerSpec("linear", {"out_features": 99}),  # the last Linear always gets num_classes
    ])


def test_hand_computed_summary():
    s = summarize(small_spec())
    assert [r.output_shape for r in s.rows] == [[4, 12, 12], [4, 6, 6], [6, 2, 2], [24], [3]]
    # Receptive field: 3; pool adds (2-1)*1 = 4 (jump 2); dilated 3×3 spans 5: 4 + 4*2 = 12; flat: whole input.
    assert [r.receptive_field for r in s.rows] == [3, 4, 12, None, None]
    # Multiply-adds: 4*12*12*(1*9) = 5184; 0; 6*2*2*(4*9) = 864; 0; 24*3 = 72.
    assert [r.mult_adds for r in s.rows] == [5184, 0, 864, 0, 72]
    assert s.mult_adds == 6120
    # Parameters: 4*9+4 = 40; 6*4*9+6 = 222; 24*3+3 = 75.
    assert [r.params for r in s.rows] == [40, 0, 222, 0, 75]
    assert s.total_params == 337 == sum(p.numel() for p in build_model(small_spec()).parameters())
    # Activations (float32): input 144 + 576 + 144 + 24 + 24 + 3 values.
    assert s.activation_bytes == 4 * (144 + 576 + 144 + 24 + 24 + 3)
    assert s.output_shape == [3] and s.input_shape == [1, 12, 12]


def test_receptive_field_matches_gradient_extent():
    # With positive weights and average pooling no gradient cancels, so the input pixels that reach
    # output (0, 0) form a square whose side is the receptive field.
    spec = ModelSpec("rf", (1, 32, 32), 2, [
        LayerSpec("conv2d", {"out_channels": 2, "kernel_size": 3}), LayerSpec("avgpool2d", {"kernel_size": 2}),
        LayerSpec("conv2d", {"out_channels": 2, "kernel_size": 5, "stride": 2}),
        LayerSpec("conv2d", {"out_channels": 2, "kernel_size": 3, "dilation": 2}),
        LayerSpec("flatten"), LayerSpec("linear", {}),
    ])
    model = build_model(spec)
    with torch.no_grad():
        for m in model.layers:
            if isinstance(m, torch.nn.Conv2d):
                m.weight.fill_(1.0)
    x = torch.zeros(1, 1, 32, 32, requires_grad=True)
    features = model.layers[:4](x)
    features[0, 0, 0, 0].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    side = int(rows.max()) + 1
    assert int(cols.max()) + 1 == side
    assert summarize(spec).rows[3].receptive_field == side == 3 + 1 + 4 * 2 + 4 * 4


def test_residual_block_costs():
    spec = ModelSpec("res", (8, 8, 8), 2, [LayerSpec("residual", {"out_channels": 16, "stride": 2}),
                                           LayerSpec("residual", {"out_channels": 16}),
                                           LayerSpec("global_avg_pool"), LayerSpec("linear")])
    s = summarize(spec)
    assert s.rows[0].output_shape == [16, 4, 4]
    # conv1 8*16*9 + conv2 16*16*9 + two BN 4*16 + projection 8*16 + its BN 2*16.
    assert s.rows[0].params == 1152 + 2304 + 64 + 128 + 32
    assert s.rows[1].params == 2304 * 2 + 64  # no projection: same shape
    assert s.rows[0].mult_adds == 16 * (1152 + 2304 + 128)
    assert s.rows[0].receptive_field == 1 + 2 + 2 * 2 and s.rows[1].receptive_field == 7 + 4 * 2
    assert s.total_params == sum(p.numel() for p in build_model(spec).parameters())


def test_summary_is_json_able_and_formats():
    s = summarize(small_spec())
    data = json.loads(json.dumps(to_jsonable(s)))
    assert data["rows"][2]["name"] == "layers.2" and data["total_params"] == 337
    assert s.to_dict()["mult_adds"] == 6120
    table = summary_table(s)
    assert table[0]["output"] == "4×12×12" and table[3]["receptive field"] == "all"
    assert table[2]["details"] == "3×3, 6 filters, dilation 2"
    text = format_summary(s)
    assert "parameters: 337" in text and "multiply-adds: 6,120" in text


def test_diagram_blocks():
    blocks = diagram_blocks(small_spec())
    assert [b["index"] for b in blocks] == [-1, 0, 1, 2, 3, 4]
    assert [b["category"] for b in blocks] == ["input", "conv", "pool", "conv", "flatten", "linear"]
    assert all(b["category"] in CATEGORY_COLOURS for b in blocks)
    heights = [b["y2"] - b["y"] for b in blocks]
    assert heights[1] > heights[2] > heights[3] > heights[4]  # 12 > 6 > 2 > flat
    widths = [b["x2"] - b["x"] for b in blocks]
    assert widths[3] > widths[1] > widths[0]  # 6 > 4 > 1 channels
    assert all(blocks[i]["x2"] < blocks[i + 1]["x"] for i in range(len(blocks) - 1))
    assert blocks[3]["shape"] == "6×2×2"
