"""Spec JSON round-trip, adapt_spec and set_dropout."""

import json

import pytest

from cnnkit.models import (LayerSpec, ModelSpec, SpecError, adapt_spec, build_model, get_preset, set_dropout,
                           summarize)


def test_json_round_trip_every_preset():
    for name in ["lenet5", "resnet_small", "cnn4_gap_bn", "vgg11_bn"]:
        spec = get_preset(name)
        text = spec.to_json()
        back = ModelSpec.from_json(text)
        assert back == spec
        assert ModelSpec.from_dict(json.loads(text)).to_dict() == spec.to_dict()
        assert summarize(back).total_params == summarize(spec).total_params


def test_round_trip_keeps_odd_params():
    spec = ModelSpec("odd", (3, 16, 16), 4, [
        LayerSpec("Conv2d", {"out_channels": 8, "padding": "same", "dilation": 2, "bias": False, "frozen": True}),
        LayerSpec("leakyrelu", {"negative_slope": 0.2}), LayerSpec("dropout2d", {"p": 0.1}),
        LayerSpec("maxpool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
        LayerSpec("global_avg_pool"), LayerSpec("batchnorm1d"), LayerSpec("linear", {"out_features": 4}),
    ], "with every kind of value")
    back = ModelSpec.from_json(spec.to_json())
    assert back == spec
    assert back.layers[0].type == "conv2d"  # types are normalised to lower case
    assert back.layers[0].params["padding"] == "same"
    model = build_model(back)
    assert not model.layers[0].weight.requires_grad
    summary = summarize(back)
    assert summary.frozen_params == 8 * 3 * 9 and summary.trainable_params == summary.total_params - 216


@pytest.mark.parametrize("text,message", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"name": "x", "layers": []}', "lacks input_shape, num_classes"),
    ('{"input_shape": [3, 32], "num_classes": 10, "layers": []}', "input_shape must be"),
    ('{"input_shape": [3, 32, 32], "num_classes": 10, "layers": [{"params": {}}]}', "must be an object with a 'type'"),
    ('{"input_shape": [3, 32, 32], "num_classes": "ten", "layers": []}', "whole numbers"),
])
def test_from_json_errors(text, message):
    with pytest.raises(SpecError, match=message):
        ModelSpec.from_json(text)


def test_adapt_spec_changes_header_and_last_linear_only():
    spec = get_preset("cnn3")
    new = adapt_spec(spec, input_shape=[1, 64, 64], num_classes=3)
    assert new.input_shape == (1, 64, 64) and new.num_classes == 3
    assert new.layers[-1].params["out_features"] == 3
    assert spec.input_shape == (3, 32, 32) and spec.layers[-1].params["out_features"] == 10  # original untouched
    assert summarize(new).rows[10].params == 128 * 8 * 8 * 256 + 256
    with pytest.raises(SpecError, match="at least 1 class"):
        adapt_spec(spec, num_classes=0)


def test_set_dropout():
    spec = get_preset("cnn4_gap_bn")
    new = set_dropout(spec, 0.2)
    assert [l.params["p"] for l in new.layers if l.type == "dropout"] == [0.2]
    assert [l.params["p"] for l in spec.layers if l.type == "dropout"] == [0.5]
    assert build_model(new).layers[-2].p == 0.2
    assert set_dropout(get_preset("cnn3"), 0.3) == get_preset("cnn3")  # no dropout layers: unchanged
    assert set_dropout(spec, None) == spec
    with pytest.raises(SpecError, match=r"\[0, 1\)"):
        set_dropout(spec, 1.0)
