"""Write saved runs as TensorBoard event files: `tensorboard --logdir DIR` then compares them.

One folder per run under the log directory (named by run id). Per epoch: train/val loss and
accuracy, learning rate, seconds, images/s and the gradient norm of every layer (grad/<name>);
per logged step: the training loss; and the run's settings with its final figures for the HParams
plugin. Wall times follow the run's own timing, so TensorBoard's "relative" axis is real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from cnnkit import store
from cnnkit.fileio import ExportTargetError, check_output_folder, read_json, to_jsonable

# history column -> TensorBoard tag
EPOCH_TAGS = {"train_loss": "loss/train", "val_loss": "loss/validation", "train_acc": "accuracy/train",
              "val_acc": "accuracy/validation", "lr": "learning_rate", "seconds": "time/epoch_seconds",
              "images_per_s": "time/images_per_s"}
# run.json figure -> HParams metric tag
HPARAM_METRICS = {"test_accuracy": "hparams/test_accuracy", "macro_f1": "hparams/macro_f1",
                  "best_val_accuracy": "hparams/best_val_accuracy"}


@dataclass
class TensorBoardRun:
    run_id: str
    logdir: str
    epochs: int
    scalars: int

    def to_dict(self) -> dict:
        return to_jsonable(self)


def _hparam_value(value: Any) -> float | int | str | bool:
    if isinstance(value, (bool, int, float, str)):
        return value
    if value is None:
        return "none"
    return json.dumps(value, sort_keys=True)[:200]


def run_hparams(config: dict) -> dict[str, float | int | str | bool]:
    """The config flattened to HParams values: augment.<name>, model as its label (specs as JSON)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if key == "augment" and isinstance(value, dict):
            flat.update({f"augment.{k}": _hparam_value(v) for k, v in sorted(value.items())})
        elif key == "model" and isinstance(value, dict):
            flat["model"] = str(value.get("name") or value.get("source") or value.get("kind") or "custom")
        else:
            flat[key] = _hparam_value(value)
    return flat


def export_run(run: str | Path, logdir: str | Path) -> TensorBoardRun:
    """Event files for one saved run under logdir/<run id>."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    run_dir = store.resolve_run_dir(run)
    meta = read_json(run_dir / "run.json", {}) or {}
    config = read_json(run_dir / "config.json", {}) or {}
    history = store.load_history(run_dir)
    epochs, steps = history.get("epochs", []), history.get("steps", [])
    target = Path(logdir) / run_dir.name
    check_output_folder(target)   # a file, a device or a read-only folder gets the export's message, not OSError
    start = float(meta.get("created") or 0.0) or None
    count = 0
    writer = SummaryWriter(log_dir=str(target))
    try:
        elapsed = 0.0
        for row in epochs:
            epoch = int(row["epoch"])
            elapsed += float(row.get("seconds") or 0.0)
            walltime = start + elapsed if start else None
            for column, tag in EPOCH_TAGS.items():
                if row.get(column) is not None:
                    writer.add_scalar(tag, float(row[column]), epoch, walltime=walltime)
                    count += 1
            for layer, norm in (row.get("grad") or {}).items():
                if norm is not None:
                    writer.add_scalar(f"grad/{layer}", float(norm), epoch, walltime=walltime)
                    count += 1
        for point in steps:
            writer.add_scalar("loss/train_step", float(point["loss"]), int(point["step"]))
            count += 1
        metrics = {tag: float(meta[key]) for key, tag in HPARAM_METRICS.items()
                   if isinstance(meta.get(key), (int, float))}
        experiment, start_info, end_info = hparams(run_hparams(config), metrics)
        for summary in (experiment, start_info, end_info):
            writer.file_writer.add_summary(summary)
        last_epoch = int(epochs[-1]["epoch"]) if epochs else 0
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, last_epoch)
            count += 1
    finally:
        writer.close()
    return TensorBoardRun(run_id=run_dir.name, logdir=str(target), epochs=len(epochs), scalars=count)


def export_runs(runs: Optional[Iterable[str | Path]], logdir: str | Path) -> list[TensorBoardRun]:
    """Event files for the given runs (None or empty = every saved run with at least one epoch)."""
    selected = list(runs or [])
    if not selected:
        selected = [record.run_dir for record in store.list_runs() if store.load_history(record.run_dir).get("epochs")]
        if not selected:
            raise ValueError("no saved run has a finished epoch yet; train one first or name runs to export")
    check_output_folder(Path(logdir))   # before any run is written
    try:
        return [export_run(run, logdir) for run in selected]
    except OSError as error:   # what the checks could not foresee (a full disk)
        raise ExportTargetError(f"cannot write event files in {logdir} ({error.strerror}); choose another "
                                "folder") from None
