"""Every preset builds, runs, and its parameter count matches torch; the course's totals exactly."""

import json
import subprocess
import sys

import pytest
import torch

from cnnkit.models import (PRESETS, SpecError, adapt_spec, build_model, conv_layer_names, get_preset, list_presets,
                           summarize)

PRESET_NAMES = ["lenet5", "mlp", "cnn2", "cnn3", "cnn4", "cnn5", "cnn3_bn", "cnn4_gap", "cnn4_gap_half",
                "cnn4_gap_bn", "vgg6", "fashion_arc2", "fashion_arc3", "resnet_small", "vgg11_bn",
                "speedrun94", "cnn3_fast", "cnn3_dropout", "cnn3_bn_dropout", "lenet_like", "lenet_like_k3",
                "lenet_like_k7", "lenet_like_narrow", "lenet_like_wide"]


def torch_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_preset_names_are_the_documented_ones():
    assert list(PRESETS) == PRESET_NAMES
    assert [p["name"] for p in list_presets()] == PRESET_NAMES


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_params_match_torch_and_forward_runs(name):
    spec = get_preset(name)
    model = build_model(spec).eval()
    summary = summarize(spec)
    assert summary.total_params == torch_params(model)
    assert summary.trainable_params == summary.total_params and summary.frozen_params == 0
    with torch.no_grad():
        out = model(torch.randn(2, *spec.input_shape))
    assert out.shape == (2, spec.num_classes)
    # The summary's shapes are what torch computes, layer by layer.
    x = torch.randn(1, *spec.input_shape)
    with torch.no_grad():
        for row, layer in zip(summary.rows, model.layers):
            x = layer(x)
            assert list(x.shape[1:]) == row.output_shape, row
    assert spec.description


@pytest.mark.parametrize("name,expected", [
    ("cnn3", 620_362), ("cnn4_gap", 525_130), ("cnn4_gap_half", 133_034), ("cnn4_gap_bn", 526_090),
    ("lenet5", 61_706), ("cnn3_fast", 53_794), ("speedrun94", 1_972_792),
])
def test_course_totals_exact(name, expected):
    assert torch_params(build_model(get_preset(name))) == expected
    assert summarize(get_preset(name)).total_params == expected


def test_cnn4_gap_at_32_reports_the_fourth_conv():
    with pytest.raises(SpecError) as err:
        adapt_spec(get_preset("cnn4_gap"), input_shape=(3, 32, 32))
    assert err.value.layer_index == 9
    assert "layer 9 (Conv2d)" in str(err.value) and "2×2 map" in str(err.value)
    assert get_preset("cnn4_gap").input_shape == (3, 64, 64)


def test_fashion_first_linear_inputs():
    for name, inputs in [("fashion_arc2", 9216), ("fashion_arc3", 1600)]:
        model = build_model(get_preset(name))
        first = next(m for m in model.layers if isinstance(m, torch.nn.Linear))
        assert first.in_features == inputs


def test_last_linear_follows_num_classes_and_names_are_stable():
    spec = adapt_spec(get_preset("cnn3"), num_classes=100)
    model = build_model(spec)
    assert model.layers[-1].out_features == 100
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 100)
    names = dict(model.named_modules())
    assert "layers.0" in names and isinstance(names["layers.0"], torch.nn.Conv2d)
    assert conv_layer_names(spec) == ["layers.0", "layers.3", "layers.6"] == conv_layer_names(model)
    assert [k for k in model.state_dict()][:2] == ["layers.0.weight", "layers.0.bias"]


def test_adapt_to_grey_digits_and_resnet_blocks():
    spec = adapt_spec(get_preset("cnn3"), input_shape=(1, 28, 28), num_classes=10)
    model = build_model(spec)
    assert model.layers[0].in_channels == 1
    assert model.layers[10].in_features == 128 * 3 * 3
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert conv_layer_names(get_preset("resnet_small")) == ["layers.0"] + [f"layers.{i}" for i in range(3, 9)]


def test_get_preset_unknown_and_copies_are_independent():
    with pytest.raises(ValueError, match="unknown preset 'nope'.*cnn3"):
        get_preset("nope")
    a = get_preset("cnn3")
    a.layers.pop()
    assert len(get_preset("cnn3").layers) == 13


def test_cli_presets_json_in_a_fresh_process():
    result = subprocess.run([sys.executable, "-m", "cnnkit", "presets", "--json"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    by_name = {p["name"]: p for p in json.loads(result.stdout)}
    assert by_name["cnn3"] == {"name": "cnn3", "description": by_name["cnn3"]["description"],
                               "input_shape": [3, 32, 32], "num_classes": 10, "params": 620_362}
    assert set(by_name) == set(PRESET_NAMES)


def test_cli_summary(tmp_path, capsys):
    from cnnkit.cli import main

    spec = get_preset("cnn3")
    path = tmp_path / "my.json"
    path.write_text(spec.to_json())
    assert main(["summary", str(path), "--json", "--num-classes", "5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output_shape"] == [5]
    assert summary["rows"][0]["output_shape"] == [32, 32, 32]
    assert summary["total_params"] == 620_362 - 5 * 257

    assert main(["summary", "cnn4_gap", "--input-shape", "3,32,32"]) == 1
    assert "layer 9 (Conv2d)" in capsys.readouterr().err
    assert main(["summary", "nothing_like_this"]) == 1
    assert "neither a preset nor a spec .json file" in capsys.readouterr().err
    assert main(["summary", str(tmp_path / "missing.json")]) == 1
    assert "no spec file" in capsys.readouterr().err

    assert main(["summary", "lenet5"]) == 0
    assert "61,706" in capsys.readouterr().out
    assert main(["presets"]) == 0
    assert "620,362" in capsys.readouterr().out
