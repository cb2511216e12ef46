"""Hand-made run zips and dataset zips for the importer tests (no training: a spec with random weights)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Optional

import torch

from tests.helpers.train import tiny_spec


def gap_spec(input_shape=(3, 16, 16), width: int = 4, classes: int = 2) -> dict:
    """A conv + global-average-pool net: its weights do not depend on the input size."""
    return {"name": "gap", "input_shape": list(input_shape), "num_classes": classes,
            "layers": [{"type": "conv2d", "params": {"out_channels": width, "kernel_size": 3, "padding": 1}},
                       {"type": "relu", "params": {}}, {"type": "global_avg_pool", "params": {}},
                       {"type": "linear", "params": {"out_features": classes}}]}


def spec_weights(spec: dict) -> dict:
    from cnnkit.models import ModelSpec
    from cnnkit.models.build import SpecNet, make_layer
    from cnnkit.models.validate import analyze

    parsed = ModelSpec.from_dict(spec)
    return SpecNet(parsed, [make_layer(r) for r in analyze(parsed)]).state_dict()  # no size check: a hostile zip


def run_zip(spec: Optional[dict] = None, meta: Optional[dict] = None, members: Optional[dict] = None,
            weights: Optional[bytes] = None) -> bytes:
    """A run zip of `spec` (default: the tiny spec) with `meta` merged into its run.json and `members`
    (name -> bytes or JSON-able) added or replacing the defaults."""
    spec = spec or tiny_spec()
    classes = [f"c{i}" for i in range(spec["num_classes"])]
    run = {"dataset": "tiny", "model_name": spec["name"], "classes": classes,
           "model_record": {"kind": "spec", "spec": spec}, "input_shape": spec["input_shape"],
           "mean": [0.5] * spec["input_shape"][0], "std": [0.25] * spec["input_shape"][0]}
    run.update(meta or {})
    if weights is None:
        buffer = io.BytesIO()
        torch.save(spec_weights(spec), buffer)
        weights = buffer.getvalue()
    files = {"run.json": run, "weights.pt": weights}
    files.update(members or {})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data if isinstance(data, (bytes, str)) else json.dumps(data))
    return out.getvalue()


def dataset_zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def png(colour=(200, 0, 0), size: int = 8) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()
