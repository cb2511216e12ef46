"""Saved runs for the export tests: a tiny trained one (seconds) and untrained ones of any model."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnkit import store
from tests.helpers.train import patch_dataset, tiny_dataset, tiny_spec


def train_tiny_run(monkeypatch, tmp_path: Path, epochs: int = 2) -> tuple[Path, object]:
    """(run folder, dataset) of a finished 2-epoch run of the tiny spec on the tiny colour set."""
    from cnnkit.train import TrainConfig, train

    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    dataset = tiny_dataset()
    patch_dataset(monkeypatch, dataset)
    result = train(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=epochs, batch_size=16, lr=0.01,
                               val_fraction=0.25, device="cpu", log_every=2))
    return Path(result.run_dir), dataset


def untrained_run(model, input_shape: tuple[int, int, int], classes: list[str], root: Path, seed: int = 0) -> Path:
    """A saved run of `model` (preset name, spec dict or {"kind": ...}) with random weights, as training saves it."""
    import cnnkit.transfer  # noqa: F401  registers the transfer kind
    from cnnkit.models import build_bundle

    torch.manual_seed(seed)
    bundle = build_bundle(model, input_shape, len(classes))
    model_name = model if isinstance(model, str) else bundle.name
    mean, std = bundle.normalisation or ([0.5] * input_shape[0], [0.25] * input_shape[0])
    # BatchNorm running statistics away from 0/1, so a wrong normalisation or a lost buffer shows
    with torch.no_grad():
        for module in bundle.model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    with store.RunWriter.create({"model": model, "dataset": "fake"}, model_name, "fake", root) as writer:
        writer.write_finished(bundle.model.state_dict(), classes=classes, model_record=bundle.record,
                              model_name=model_name, mean=list(mean), std=list(std),
                              input_shape=list(bundle.input_shape))
    return writer.run_dir
