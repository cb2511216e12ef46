"""A saved run's network, rebuilt from run.json's model record and loaded with its best (or last) weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cnnkit.models import ModelSpec, rebuild_model
from cnnkit.store.checkpoints import load_tensors, load_weights_into
from cnnkit.store.records import read_run_meta, resolve_run_dir


@dataclass
class LoadedRun:
    model: nn.Module
    spec: Any                      # ModelSpec for spec-built models, else None
    classes: list[str]
    input_shape: tuple[int, int, int]
    mean: list[float]
    std: list[float]
    dataset: str
    run_dir: Path
    record: dict = field(default_factory=dict)

    def preprocess(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> the float input the network was trained on (resized if needed)."""
        from cnnkit.data import resize_batch

        _, height, width = self.input_shape
        if tuple(x_uint8.shape[-2:]) != (height, width):
            x_uint8 = resize_batch(x_uint8, height, mode="area" if x_uint8.shape[-1] > width else "bilinear")
        device = next(self.model.parameters()).device
        mean = torch.tensor(self.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=device).view(1, -1, 1, 1)
        return (x_uint8.to(device).float() / 255.0 - mean) / std


def load_run_model(run_dir: str | Path, which: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """The run's network with its best (or last) weights, in eval mode. DamagedRun / CheckpointError
    (both ValueError) name the file and what is wrong with it."""
    run_dir = resolve_run_dir(run_dir)
    meta = read_run_meta(run_dir)
    weights = run_dir / f"{which}.pt"
    if not weights.is_file() and which == "best":
        weights = run_dir / "last.pt"
    if not weights.is_file():
        raise FileNotFoundError(f"run {run_dir.name} has no saved weights yet ({which}.pt)")
    for name in ("model_record", "input_shape", "classes"):
        if name not in meta:
            raise ValueError(f"run {run_dir.name} does not say how to build its model (run.json has no {name})")
    input_shape = tuple(int(v) for v in meta["input_shape"])
    classes = list(meta["classes"])
    model = rebuild_model(meta["model_record"], input_shape, len(classes))
    load_weights_into(model, load_tensors(weights), weights)
    model.to(device).eval()
    spec = None
    if meta["model_record"].get("kind", "spec") == "spec":
        spec = ModelSpec.from_dict(meta["model_record"]["spec"])
    return LoadedRun(model=model, spec=spec, classes=classes, input_shape=input_shape,
                     mean=list(meta.get("mean", [])), std=list(meta.get("std", [])), dataset=meta.get("dataset", ""),
                     run_dir=run_dir, record=meta["model_record"])
