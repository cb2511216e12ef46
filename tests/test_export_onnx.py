"""ONNX export: dynamic batch, normalisation in the metadata, onnxruntime logits equal PyTorch's."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import nn

from cnnkit.cli import main
from cnnkit.export import OnnxExportError, export_run_onnx, model_to_onnx
from cnnkit.models.presets import PRESETS, get_preset
from tests.helpers.export import train_tiny_run, untrained_run

TOLERANCE = 1e-4  # max |logit difference| accepted between onnxruntime and PyTorch (float32)
DEEP_TOLERANCE = 1e-3  # EfficientNet-Lite0: ~50 float32 layers accumulate rounding differences
QUICK_PRESETS = ("cnn3_bn", "cnn4_gap", "resnet_small")


def test_cli_exports_a_trained_run_with_metadata_and_a_dynamic_batch(monkeypatch, tmp_path, capsys):
    run_dir, dataset = train_tiny_run(monkeypatch, tmp_path)
    out = tmp_path / "model.onnx"
    assert main(["export", str(run_dir), "--onnx", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["onnx"]
    print("tiny run: max |logit diff|", summary["max_abs_logit_diff"])
    assert summary["max_abs_logit_diff"] < TOLERANCE and summary["checked_images"] == 4
    assert summary["top1_agreement"] == 1.0

    model = onnx.load(str(out))
    meta = {p.key: p.value for p in model.metadata_props}
    run = json.loads((run_dir / "run.json").read_text())
    assert json.loads(meta["mean"]) == run["mean"] and json.loads(meta["std"]) == run["std"]
    assert json.loads(meta["classes"]) == run["classes"] and json.loads(meta["input_shape"]) == [3, 16, 16]
    assert "(x - mean[c]) / std[c]" in meta["normalisation"]

    # any batch size, and the run's own test predictions
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    mean = np.array(run["mean"], dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(run["std"], dtype=np.float32).reshape(1, 3, 1, 1)
    for batch in (1, 7):
        x = ((dataset.test_x[:batch].numpy().astype(np.float32) / 255.0 - mean) / std).astype(np.float32)
        logits = session.run(None, {"image": x})[0]
        assert logits.shape == (batch, 4)
    predictions = json.loads((run_dir / "predictions.json").read_text())
    assert logits.argmax(1).tolist() == predictions["y_pred"][:7]


@pytest.mark.parametrize("preset", [pytest.param(name, marks=[] if name in QUICK_PRESETS else [pytest.mark.slow])
                                    for name in PRESETS])
def test_course_presets_export_and_match_pytorch(preset, tmp_path):
    shape = tuple(get_preset(preset).input_shape)
    run_dir = untrained_run(preset, shape, [f"k{i}" for i in range(10)], tmp_path)
    exported = export_run_onnx(run_dir, tmp_path / "m.onnx")
    print(f"{preset}: max |logit diff| {exported.max_abs_diff:.2e}")
    assert exported.max_abs_diff < TOLERANCE and exported.agreement == 1.0


def test_efficientnet_lite0_transfer_model_exports_and_matches_pytorch(tmp_path):
    run_dir = untrained_run({"kind": "transfer", "source": "efficientnet_lite0", "image_size": 96}, (3, 96, 96),
                            ["a", "b", "c"], tmp_path)
    exported = export_run_onnx(run_dir, tmp_path / "lite0.onnx")
    print(f"efficientnet_lite0 transfer: max |logit diff| {exported.max_abs_diff:.2e}")
    assert exported.max_abs_diff < DEEP_TOLERANCE and exported.agreement == 1.0
    assert json.loads(exported.metadata["mean"]) == [0.5, 0.5, 0.5]  # the TF-Lite normalisation of the backbone


@torch.library.custom_op("cnnkit_test::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    """An operator with a kernel of its own and no ONNX translation (like a custom CUDA layer)."""
    return x.tanh()


@mystery.register_fake
def _(x):
    return torch.empty_like(x)


class MysteryLayer(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mystery(x)


def test_a_layer_that_cannot_be_exported_is_named():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), MysteryLayer(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    with pytest.raises(OnnxExportError, match=r"layer 1 \(MysteryLayer\) cannot be exported to ONNX"):
        model_to_onnx(model, (3, 8, 8), {})
