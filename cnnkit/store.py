"""Saved runs: one folder per run under the checkpoint directory, every write atomic.

<checkpoint_dir>/<run_id>/
  config.json       the TrainConfig
  run.json          status, dataset, classes, model record, normalisation, input shape, summary figures
  history.json      {"epochs": [...], "steps": [...]} (per-epoch rows and training-loss points)
  results.json      the test-set evaluation (cnnkit.evaluate.EvalResult)
  predictions.json  per test image: true label, prediction, confidence (for confusion-matrix drill-down)
  last.pt, best.pt  model state_dicts (best by validation accuracy)
  resume.pt         optimizer/schedule/RNG state of last.pt, so an interrupted run can go on
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn as nn

from cnnkit.fileio import atomic_write_bytes, read_json, to_jsonable, write_json
from cnnkit.models import ModelSpec, rebuild_model
from cnnkit.paths import checkpoint_dir

ACTIVE_STATUSES = ("queued", "running")


def save_tensors(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, lambda handle: torch.save(obj, handle))


def load_tensors(path: Path, device: str | torch.device = "cpu") -> Any:
    return torch.load(path, map_location=device, weights_only=True)


def new_run_id(model_label: str, dataset: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{model_label}-{dataset}")[:40]
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{secrets.token_hex(2)}"


def create_run(config_dict: dict, model_label: str, dataset: str, root: Optional[Path] = None) -> Path:
    root = Path(root) if root else checkpoint_dir()
    run_dir = root / new_run_id(model_label, dataset)
    run_dir.mkdir(parents=True, exist_ok=False)
    write_json(run_dir / "config.json", config_dict)
    update_run(run_dir, status="starting", dataset=dataset, model_name=model_label, created=time.time(),
               pid=os.getpid(), name=config_dict.get("name", ""))
    return run_dir


def update_run(run_dir: Path, **fields: Any) -> dict:
    meta = read_json(Path(run_dir) / "run.json", {}) or {}
    meta.update(fields)
    write_json(Path(run_dir) / "run.json", meta)
    return meta


@dataclass
class RunRecord:
    """One saved run as the run list shows it."""

    run_id: str
    run_dir: Path
    status: str
    dataset: str
    classes: list[str]
    model_name: str
    name: str = ""
    created: float = 0.0
    epochs_done: int = 0
    epochs: int = 0
    test_accuracy: Optional[float] = None
    macro_f1: Optional[float] = None
    best_val_accuracy: Optional[float] = None
    seconds: Optional[float] = None
    device: str = ""
    message: str = ""
    config: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return to_jsonable(self)


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_run(run_dir: Path) -> RunRecord:
    run_dir = Path(run_dir)
    meta = read_json(run_dir / "run.json")
    if meta is None:
        raise FileNotFoundError(f"{run_dir} is not a saved run (no run.json)")
    config = read_json(run_dir / "config.json", {}) or {}
    status = meta.get("status", "unknown")
    if status in ACTIVE_STATUSES + ("starting",) and not _pid_alive(meta.get("pid")):
        status = "interrupted"  # the process that ran it is gone (app restarted): it can be resumed
    return RunRecord(
        run_id=run_dir.name, run_dir=run_dir, status=status, dataset=meta.get("dataset", ""),
        classes=list(meta.get("classes", [])), model_name=meta.get("model_name", ""), name=meta.get("name", ""),
        created=float(meta.get("created", 0.0)), epochs_done=int(meta.get("epochs_done", 0)),
        epochs=int(config.get("epochs", 0)), test_accuracy=meta.get("test_accuracy"), macro_f1=meta.get("macro_f1"),
        best_val_accuracy=meta.get("best_val_accuracy"), seconds=meta.get("seconds"), device=meta.get("device", ""),
        message=meta.get("message", ""), config=config)


def list_runs(root: Optional[Path] = None) -> list[RunRecord]:
    """Every saved run, newest first; folders that are not runs are skipped."""
    root = Path(root) if root else checkpoint_dir()
    if not root.is_dir():
        return []
    records = []
    for child in root.iterdir():
        if child.is_dir() and (child / "run.json").is_file():
            try:
                records.append(load_run(child))
            except (OSError, ValueError):
                continue
    return sorted(records, key=lambda r: (r.created, r.run_id), reverse=True)


def resolve_run_dir(run: str | Path) -> Path:
    """A run folder from a path or a run id inside the checkpoint directory."""
    for candidate in (Path(run), checkpoint_dir() / str(run)):
        if (candidate / "run.json").is_file():
            return candidate
    raise FileNotFoundError(f"no saved run {str(run)!r} (looked for run.json in it and in {checkpoint_dir()})")


def load_history(run_dir: Path) -> dict:
    return read_json(Path(run_dir) / "history.json", {"epochs": [], "steps": []}) or {"epochs": [], "steps": []}


def load_results(run_dir: Path) -> Optional[dict]:
    return read_json(Path(run_dir) / "results.json")


def load_predictions(run_dir: Path) -> Optional[dict]:
    return read_json(Path(run_dir) / "predictions.json")


def delete_run(run_dir: Path) -> None:
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise ValueError(f"{run_dir} is not a saved run; nothing deleted")
    shutil.rmtree(run_dir)


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
    """The run's network with its best (or last) weights, in eval mode."""
    run_dir = resolve_run_dir(run_dir)
    meta = read_json(run_dir / "run.json", {}) or {}
    weights = run_dir / f"{which}.pt"
    if not weights.is_file() and which == "best":
        weights = run_dir / "last.pt"
    if not weights.is_file():
        raise FileNotFoundError(f"run {run_dir.name} has no saved weights yet ({which}.pt)")
    if "model_record" not in meta:
        raise ValueError(f"run {run_dir.name} does not say how to build its model (run.json has no model_record)")
    input_shape = tuple(int(v) for v in meta["input_shape"])
    classes = list(meta.get("classes", []))
    model = rebuild_model(meta["model_record"], input_shape, len(classes))
    model.load_state_dict(load_tensors(weights))
    model.to(device).eval()
    spec = None
    if meta["model_record"].get("kind", "spec") == "spec":
        spec = ModelSpec.from_dict(meta["model_record"]["spec"])
    return LoadedRun(model=model, spec=spec, classes=classes, input_shape=input_shape,
                     mean=list(meta.get("mean", [])), std=list(meta.get("std", [])), dataset=meta.get("dataset", ""),
                     run_dir=run_dir, record=meta["model_record"])
