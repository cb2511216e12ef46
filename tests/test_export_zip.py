"""Download a run: the zip loads and classifies in a fresh interpreter that cannot import cnnkit."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit import store
from cnnkit.cli import main
from cnnkit.export import build_run_zip
from tests.helpers.export import train_tiny_run, untrained_run


def _readme_code(readme: str) -> str:
    """The README's first Python block: the lines that load the model and classify an image."""
    return re.search(r"```python\n(.*?)```", readme, re.S).group(1)


def _run_isolated(folder: Path, code: str) -> str:
    """Python code run with -I (no PYTHONPATH, no user site) from `folder`: only the zip's files are importable."""
    prelude = ("import sys, importlib.util\nsys.path.insert(0, '.')\n"
               "assert importlib.util.find_spec('cnnkit') is None, 'cnnkit must not be importable here'\n")
    done = subprocess.run([sys.executable, "-I", "-c", prelude + code], cwd=folder, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_zip_reproduces_the_runs_test_predictions_without_cnnkit(monkeypatch, tmp_path, capsys):
    run_dir, dataset = train_tiny_run(monkeypatch, tmp_path)
    out = tmp_path / "run.zip"
    assert main(["export", str(run_dir), "--zip", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["zip"]["bytes"] == out.stat().st_size > 0

    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        archive.extractall(folder)
    assert {"README.md", "weights.pt", "model.py", "predict.py", "model_info.json", "config.json", "run.json",
            "history.json", "results.json", "predictions.json"} <= names
    # the weights are a plain state_dict, equal to the run's best
    state = torch.load(folder / "weights.pt", weights_only=True)
    best = store.load_tensors(run_dir / "best.pt")
    assert set(state) == set(best) and all(torch.equal(state[k], best[k]) for k in best)
    info = json.loads((folder / "model_info.json").read_text())
    meta = json.loads((run_dir / "run.json").read_text())
    assert info["classes"] == meta["classes"] and info["mean"] == meta["mean"] and info["std"] == meta["std"]
    assert info["input_shape"] == [3, 16, 16]
    assert json.loads((folder / "config.json").read_text())["epochs"] == 2
    assert json.loads((folder / "history.json").read_text()) == store.load_history(run_dir)

    # the README's lines, as written, on the first test images saved as PNG files
    count = 6
    for index in range(count):
        Image.fromarray(dataset.test_x[index].permute(1, 2, 0).numpy()).save(folder / f"image{index}.png")
    readme_code = _readme_code((folder / "README.md").read_text())
    assert len(readme_code.strip().splitlines()) == 5
    loop = "results = []\nfor n in range(%d):\n" % count + "".join(
        "    " + line.replace('"your_image.png"', 'f"image{n}.png"') + "\n" for line in readme_code.splitlines())
    # print(...) of the README becomes the collected answer; logits too, to compare closely
    loop = loop.replace("    print(", "    results.append((").replace("float(scores.max()))", "float(scores.max()), "
                                                                       "model(x)[0].tolist()))")
    output = _run_isolated(folder, loop + "import json\nprint(json.dumps(results))\n")
    results = json.loads(output.strip().splitlines()[-1])

    predictions = store.load_predictions(run_dir)
    expected = [meta["classes"][i] for i in predictions["y_pred"][:count]]
    assert [row[0] for row in results] == expected
    assert [row[1] for row in results] == pytest.approx(predictions["confidence"][:count], abs=1e-3)
    loaded = store.load_run_model(run_dir)
    with torch.no_grad():
        reference = loaded.model(loaded.preprocess(dataset.test_x[:count]))
    assert torch.tensor([row[2] for row in results]) == pytest.approx(reference, abs=1e-5)


def test_zip_of_a_run_with_no_weights_says_so(tmp_path):
    with store.RunWriter.create({"model": "cnn3"}, "cnn3", "fake", tmp_path) as writer:
        run_dir = writer.run_dir
    store.update_run(run_dir, model_record={"kind": "spec"}, input_shape=[3, 8, 8], classes=["a", "b"])
    with pytest.raises(FileNotFoundError, match="no saved weights yet"):
        build_run_zip(run_dir)


def test_transfer_run_zip_rebuilds_efficientnet_lite0_from_its_model_py(tmp_path):
    classes = ["a", "b", "c"]
    run_dir = untrained_run({"kind": "transfer", "source": "efficientnet_lite0", "image_size": 64},
                            (3, 64, 64), classes, tmp_path / "runs")
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(io.BytesIO(build_run_zip(run_dir))) as archive:
        archive.extractall(folder)
    readme = (folder / "README.md").read_text()
    assert "efficientnet-lite-pytorch" in readme
    assert "efficientnet-lite-pytorch==0.1.0" in json.loads((folder / "model_info.json").read_text())["requirements"]
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    np.save(folder / "pixels.npy", pixels)
    output = _run_isolated(folder, "import json, numpy as np, torch\nfrom predict import load_model, preprocess\n"
                                   "model, info = load_model()\n"
                                   "with torch.no_grad():\n"
                                   "    print(json.dumps(model(preprocess(np.load('pixels.npy'), info))[0].tolist()))\n")
    logits = torch.tensor(json.loads(output.strip().splitlines()[-1]))
    loaded = store.load_run_model(run_dir)
    with torch.no_grad():
        reference = loaded.model(loaded.preprocess(torch.from_numpy(pixels).permute(2, 0, 1)[None]))[0]
    assert logits == pytest.approx(reference, abs=1e-4)
