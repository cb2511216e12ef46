"""`python -m cnnkit inspect` and `conv-arith` on a preset with random weights."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from cnnkit.cli import main


def _image(tmp_path):
    path = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(path)
    return path


def test_inspect_json_and_grid(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["inspect", "preset:cnn3", str(_image(tmp_path)), "--layer", "layers.3", "--out", str(out),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    shapes = {row["layer"]: row["shape"] for row in result["layers"]}
    assert shapes["layers.0"] == [32, 32, 32] and shapes["layers.3"] == [64, 16, 16]
    assert len(result["top_k"]) == 5 and result["grid_layer"] == "layers.3" and len(result["grid_channels"]) == 64
    assert Image.open(out).size[0] > 100


def test_conv_arith_reproduces_the_value(tmp_path, capsys):
    assert main(["conv-arith", "cnn3", str(_image(tmp_path)), "--layer", "layers.3", "--at", "7,0,15", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "conv" and result["matches"]
    assert abs(result["value"] - result["framework_value"]) < 1e-4
    assert np.array(result["inputs"]).shape == (32, 3, 3) and result["rows"] == [-1, 0, 1]


def test_conv_arith_bad_input_is_one_line(tmp_path, capsys):
    image = _image(tmp_path)
    assert main(["conv-arith", "cnn3", str(image), "--layer", "layers.9", "--at", "0"]) == 1
    assert "Flatten only reorders" in capsys.readouterr().err
    assert main(["conv-arith", "cnn3", str(image), "--layer", "layers.0", "--at", "a,b"]) == 1
    assert "--at must be whole numbers" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("nope")
    assert main(["inspect", "cnn3", str(tmp_path / "notes.txt"), "--json"]) == 1
    assert "notes.txt is not an image PIL can read" in capsys.readouterr().err
