"""Download a run: one zip that loads and classifies without CNN Lab.

    weights.pt        the best weights, a plain state_dict (torch.load(..., weights_only=True))
    model.py          the network in plain PyTorch; build_model() returns it untrained
    predict.py        load_model() and preprocess(): the few lines that classify an image
    model_info.json   classes, input shape, normalisation (mean/std), model record, requirements
    config.json       the training config          run.json      the run's record (metrics, notes)
    history.json      per-epoch and per-step rows   results.json  the test-set evaluation
    predictions.json  per test image: true label, prediction, confidence
    README.md         what is inside and the five lines that load the model and classify an image

`cnnkit.export.run_import` reads such a zip back as a saved run (never running its code).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Optional

import torch

from cnnkit import store
from cnnkit.fileio import read_json, write_export
from cnnkit.export.model_code import ModelCode, ModelCodeError, model_code

FORMAT = "cnnkit-run"
FORMAT_VERSION = 1
JSON_MEMBERS = ("config.json", "run.json", "history.json", "results.json", "predictions.json")

PREDICT_PY = '''"""Load the exported model and classify images (needs torch, numpy, pillow and model.py's imports)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent


def load_model(folder=HERE):
    """(the network with its trained weights, in eval mode; model_info.json as a dict)."""
    folder = Path(folder)
    info = json.loads((folder / "model_info.json").read_text())
    spec = importlib.util.spec_from_file_location("exported_model", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model()
    model.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
    return model.eval(), info


def preprocess(image, info):
    """A path, PIL image or uint8 (H, W, C) array -> the (1, C, H, W) float input the network was trained on."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image.squeeze())
    elif not isinstance(image, Image.Image):
        image = Image.open(image)
    channels, height, width = info["input_shape"]
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (width, height):
        shrinking = image.width > width
        image = image.resize((width, height), Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32).reshape(height, width, channels) / 255.0
    x = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None]
    mean = torch.tensor(info["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(info["std"], dtype=torch.float32).view(1, -1, 1, 1)
    return (x - mean) / std


def classify(image, model=None, info=None):
    """(class name, probability) of the top class."""
    if model is None:
        model, info = load_model()
    with torch.no_grad():
        scores = model(preprocess(image, info)).softmax(1)[0]
    return info["classes"][int(scores.argmax())], float(scores.max())


if __name__ == "__main__":
    import sys

    model, info = load_model()
    for path in sys.argv[1:]:
        print(path, *classify(path, model, info))
'''


def _readme(run_id: str, meta: dict, info: dict, code: Optional[ModelCode], code_error: str) -> str:
    c, h, w = info["input_shape"]
    mean = ", ".join(f"{v:.4f}" for v in info["mean"])
    std = ", ".join(f"{v:.4f}" for v in info["std"])
    accuracy = meta.get("test_accuracy")
    lines = [
        f"# {meta.get('model_name') or 'model'} on {meta.get('dataset') or 'a dataset'} (CNN Lab run {run_id})",
        "",
        f"{len(info['classes'])} classes: {', '.join(map(str, info['classes'][:20]))}"
        + (" ..." if len(info["classes"]) > 20 else ""),
        f"Test accuracy: {accuracy:.4f}" if isinstance(accuracy, (int, float)) else "Test accuracy: not measured",
        "",
        "## Classify an image",
        "",
        "From this folder (needs `torch`, `numpy`, `pillow`"
        + (", " + ", ".join(f"`{r}`" for r in code.requirements) if code and code.requirements else "") + "):",
        "",
        "```python",
        "from predict import load_model, preprocess",
        "model, info = load_model()                  # model.py + weights.pt, in eval mode",
        f"x = preprocess(\"your_image.png\", info)      # {'grey' if c == 1 else 'RGB'}, {w}×{h} px, normalised",
        "scores = model(x).softmax(1)[0]",
        "print(info[\"classes\"][int(scores.argmax())], float(scores.max()))",
        "```",
        "",
        "## What the network expects",
        "",
        f"- input: float tensors (N, {c}, {h}, {w}); pixels scaled to [0, 1], then (x - mean) / std per channel",
        f"- mean: [{mean}]",
        f"- std: [{std}]",
        "- output: one score (logit) per class, in the order of `classes` in model_info.json",
        "",
        "Without predict.py:",
        "",
        "```python",
        "import torch",
        "from model import build_model",
        "model = build_model()",
        "model.load_state_dict(torch.load(\"weights.pt\", weights_only=True))",
        "model.eval()",
        "```",
        "",
    ]
    if code is None:
        lines += [f"model.py is missing: {code_error}", ""]
    elif code.note:
        lines += [f"Note: {code.note}.", ""]
    lines += [
        "## Files",
        "",
        "- weights.pt: the best weights (by validation accuracy), a plain state_dict",
        "- model.py, predict.py: the network in plain PyTorch, loading and preprocessing",
        "- model_info.json: classes, input shape, mean/std",
        "- config.json: the training settings; history.json: per-epoch losses, accuracies, learning rate, "
        "gradient norms",
        "- results.json, predictions.json: the test-set evaluation; run.json: the run's record",
        "",
        "Import the zip back into CNN Lab with `python -m cnnkit import-run THIS.zip` (its code is never run).",
        "",
    ]
    return "\n".join(lines)


def model_info(meta: dict, requirements: list[str], run_id: str = "") -> dict:
    """model_info.json: what a program needs to feed the network and read its output."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "classes": list(meta.get("classes", [])),
            "input_shape": [int(v) for v in meta["input_shape"]], "mean": list(meta.get("mean", [])),
            "std": list(meta.get("std", [])), "model_record": meta["model_record"],
            "model_name": meta.get("model_name", ""), "run_id": run_id, "dataset": meta.get("dataset", ""),
            "requirements": ["torch", "numpy", "pillow", *requirements]}


def _weights_file(run_dir: Path) -> Path:
    for name in ("best.pt", "last.pt"):
        if (run_dir / name).is_file():
            return run_dir / name
    raise FileNotFoundError(f"run {run_dir.name} has no saved weights yet (best.pt or last.pt); "
                            "wait until its first epoch has finished")


def _plain_state_dict(path: Path) -> bytes:
    """The state_dict re-saved as contiguous CPU tensors (training keeps channels_last), as bytes."""
    state = store.load_tensors(path)
    buffer = io.BytesIO()
    torch.save({key: value.detach().cpu().contiguous() for key, value in state.items()}, buffer)
    return buffer.getvalue()


def build_run_zip(run: str | Path, out: Optional[str | Path] = None) -> bytes:
    """The zip of a saved run (see the module docstring), as bytes; also written to `out` when given."""
    run_dir = store.resolve_run_dir(run)
    meta = read_json(run_dir / "run.json", {}) or {}
    if "model_record" not in meta or "input_shape" not in meta:
        raise ValueError(f"run {run_dir.name} has no model record yet; it can be downloaded once training started")
    weights = _weights_file(run_dir)
    input_shape = tuple(int(v) for v in meta["input_shape"])
    num_classes = len(meta.get("classes", []))
    code: Optional[ModelCode] = None
    code_error = ""
    try:
        code = model_code(meta["model_record"], input_shape, num_classes)
    except ModelCodeError as error:
        code_error = str(error)
    info = model_info(meta, code.requirements if code else [], run_dir.name)
    buffer = io.BytesIO()
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        def add(name: str, data: bytes | str) -> None:
            member = zipfile.ZipInfo(name, date_time=stamp)
            member.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(member, data)

        add("README.md", _readme(run_dir.name, meta, info, code, code_error))
        add("weights.pt", _plain_state_dict(weights))
        if code is not None:
            add("model.py", code.source)
            add("predict.py", PREDICT_PY)
        add("model_info.json", json.dumps(info, indent=2))
        for name in JSON_MEMBERS:
            if (run_dir / name).is_file():
                add(name, (run_dir / name).read_bytes())
    data = buffer.getvalue()
    if out is not None:
        write_export(Path(out), data)
    return data


def run_zip_name(run: str | Path) -> str:
    return f"{store.resolve_run_dir(run).name}.zip"
