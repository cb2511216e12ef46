"""Data shaping for the training pages: long-format rows for charts, decimation, run tables, the test
images behind a confusion-matrix cell. Plain Python/numpy/pandas; no Streamlit (pages only render)."""

from __future__ import annotations

import time
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from cnnkit.train.config import model_label
from cnnkit.formatting import format_seconds
from cnnkit.data.preview import chw_to_display

LOSS_SPLITS = (("train_loss", "train"), ("val_loss", "validation"))
ACC_SPLITS = (("train_acc", "train"), ("val_acc", "validation"))


def decimate(rows: Sequence[Any], max_points: int = 400) -> list:
    """At most max_points evenly spaced items, always keeping the first and the last (so the live
    curve ends where training is). Charts of thousands of step points stay light to redraw every second."""
    rows = list(rows)
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2 (got {max_points})")
    if len(rows) <= max_points:
        return rows
    keep = np.unique(np.linspace(0, len(rows) - 1, max_points).round().astype(int))
    return [rows[i] for i in keep]


def epoch_curves(history: Iterable[dict]) -> list[dict]:
    """Per-epoch rows -> long rows {epoch, metric ("loss"|"accuracy"), split ("train"|"validation"), value}.
    Missing values (no validation split) are left out rather than drawn as zeros."""
    rows = []
    for row in history:
        for metric, pairs in (("loss", LOSS_SPLITS), ("accuracy", ACC_SPLITS)):
            for column, split in pairs:
                value = row.get(column)
                if value is None or not np.isfinite(value):
                    continue
                rows.append({"epoch": int(row["epoch"]), "metric": metric, "split": split, "value": float(value)})
    return rows


def step_points(steps: Iterable[dict], max_points: int = 400) -> list[dict]:
    """Training-loss points {step, epoch (fractional), loss}, decimated; non-finite losses are dropped."""
    clean = [{"step": int(p["step"]), "epoch": float(p["epoch"]), "loss": float(p["loss"])}
             for p in steps if p.get("loss") is not None and np.isfinite(p["loss"])]
    return decimate(clean, max_points)


def lr_curve(history: Iterable[dict], steps: Iterable[dict], max_points: int = 400) -> list[dict]:
    """{epoch (fractional), lr}: from the step points when there are any (shows warm-up and one-cycle
    shapes inside an epoch), else one point per epoch."""
    points = [{"epoch": float(p["epoch"]), "lr": float(p["lr"])} for p in steps if p.get("lr") is not None]
    if not points:
        points = [{"epoch": float(r["epoch"]), "lr": float(r["lr"])} for r in history if r.get("lr") is not None]
    return decimate(points, max_points)


def _layer_name(param_name: str) -> str:
    return param_name[:-len(".weight")] if param_name.endswith(".weight") else param_name


def grad_rows(history: Iterable[dict], max_layers: int = 12) -> list[dict]:
    """{epoch, layer, order, grad}: mean |gradient| of each layer's weights per epoch. Zero values are
    left out (the chart is on a log scale); `order` is the layer's position, first layer = 0. Deep
    networks (a pretrained backbone has ~80 weight tensors) keep max_layers evenly spaced layers,
    always the first and the last, so the legend stays readable."""
    history = list(history)
    names: list[str] = []
    for row in history:
        for name in (row.get("grad") or {}):
            if name not in names:
                names.append(name)
    kept = set(decimate(names, max(2, max_layers)))
    rows = []
    for row in history:
        for name, value in (row.get("grad") or {}).items():
            if name not in kept or value is None or not np.isfinite(value) or value <= 0:
                continue
            rows.append({"epoch": int(row["epoch"]), "layer": _layer_name(name), "order": names.index(name),
                         "grad": float(value)})
    return rows


def confusion_rows(confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> list[dict]:
    """{true, predicted, count, share}: share = count / images of that true class (row-normalised)."""
    matrix = np.asarray(confusion, dtype=np.int64)
    if matrix.shape != (len(classes), len(classes)):
        raise ValueError(f"confusion matrix is {matrix.shape} but there are {len(classes)} classes")
    totals = matrix.sum(axis=1)
    return [{"true": classes[i], "predicted": classes[j], "count": int(matrix[i, j]),
             "share": float(matrix[i, j] / totals[i]) if totals[i] else 0.0}
            for i in range(len(classes)) for j in range(len(classes))]


def worst_confusion(confusion: Sequence[Sequence[int]]) -> tuple[int, int]:
    """(true, predicted) of the largest off-diagonal cell: the most common mistake (the diagonal
    (0, 0) when there are no mistakes). The page opens the drill-down there."""
    matrix = np.array(confusion, dtype=np.int64)
    if matrix.size == 0:
        return 0, 0
    off = matrix.copy()
    np.fill_diagonal(off, -1)
    i, j = np.unravel_index(int(off.argmax()), off.shape)
    if off[i, j] <= 0:
        return 0, 0
    return int(i), int(j)


def cell_indices(predictions: dict, true_index: int, predicted_index: int) -> list[int]:
    """Test-split indices of the images of class true_index that were predicted as predicted_index,
    most confident first."""
    y_true = np.asarray(predictions["y_true"], dtype=np.int64)
    y_pred = np.asarray(predictions["y_pred"], dtype=np.int64)
    confidence = np.asarray(predictions.get("confidence") or np.zeros(len(y_true)), dtype=np.float64)
    hits = np.flatnonzero((y_true == true_index) & (y_pred == predicted_index))
    return [int(i) for i in hits[np.argsort(-confidence[hits], kind="stable")]]


def cell_images(test_x, predictions: dict, true_index: int, predicted_index: int, limit: int = 24,
                target: int = 64) -> tuple[list[np.ndarray], list[str], int]:
    """(images, captions, total) for one confusion-matrix cell: up to `limit` upscaled test images of
    that cell, most confident first, captioned with the confidence; total = images in the cell."""
    indices = cell_indices(predictions, true_index, predicted_index)
    # A run scored on a test_subset lists each prediction's index in the dataset's test split.
    dataset_index = predictions.get("test_index") or range(len(predictions["y_true"]))
    if indices and max(dataset_index[i] for i in indices) >= len(test_x):
        raise ValueError(f"the run's predictions cover {len(predictions['y_true'])} test images but the dataset "
                         f"now has {len(test_x)}; evaluate the run again")
    confidence = predictions.get("confidence") or [None] * len(predictions["y_true"])
    shown = indices[:limit]
    images = [chw_to_display(test_x[dataset_index[i]], target) for i in shown]
    captions = [f"#{dataset_index[i]}" + (f" · {confidence[i]:.0%}" if confidence[i] is not None else "")
                for i in shown]
    return images, captions, len(indices)


def mistake_images(test_x, mistakes: Sequence[dict], limit: int = 24,
                   target: int = 64) -> tuple[list[np.ndarray], list[str]]:
    """The most confident mistakes (from EvalResult.mistakes) as upscaled images with captions."""
    images, captions = [], []
    for m in list(mistakes)[:limit]:
        if m["index"] >= len(test_x):
            continue
        images.append(chw_to_display(test_x[m["index"]], target))
        captions.append(f"{m['true']} → {m['predicted']} ({m['confidence']:.0%})")
    return images, captions


def roc_rows(roc: Iterable[dict]) -> list[dict]:
    """Long rows {class, label ("circle (AUC 0.98)"), fpr, tpr} for a line per class."""
    rows = []
    for curve in roc:
        if curve.get("auc") is None:
            continue
        label = f"{curve['class']} (AUC {curve['auc']:.3f})"
        rows.extend({"class": curve["class"], "label": label, "fpr": float(f), "tpr": float(t)}
                    for f, t in zip(curve["fpr"], curve["tpr"]))
    return rows


def per_class_rows(results: dict) -> list[dict]:
    """Per-class precision/recall/F1/support plus the class's ROC AUC."""
    auc = {c["class"]: c.get("auc") for c in results.get("roc", [])}
    return [{"class": r["class"], "precision": r["precision"], "recall": r["recall"], "f1": r["f1"],
             "support": r["support"], "auc": auc.get(r["class"])} for r in results.get("per_class", [])]


def metric_cards(results: Optional[dict], meta: dict, history: Sequence[dict]) -> list[tuple[str, str, Optional[str]]]:
    """(label, value, help) for the metric row of a finished run; missing figures read "–"."""
    def pct(v: Optional[float]) -> str:
        return "–" if v is None else f"{v:.1%}"

    results = results or {}
    top_k = results.get("top_k", {})
    top_label, top_value = "Top-k", None
    for k in ("top5", "top3"):
        if k in top_k:
            top_label, top_value = f"Top-{k[3:]} accuracy", top_k[k]
            break
    seconds = meta.get("seconds")
    rate = meta.get("train_img_per_s")
    epochs_done = len(history) or meta.get("epochs_done", 0)
    return [
        ("Test accuracy", pct(results.get("accuracy", meta.get("test_accuracy"))), "best epoch (by validation) on the test split"),
        ("Macro F1", "–" if results.get("macro_f1") is None else f"{results['macro_f1']:.3f}", "mean F1 over classes"),
        (top_label, pct(top_value), "the true class is among the k most likely"),
        ("Epochs", str(epochs_done), None),
        ("Time", "–" if seconds is None else format_seconds(seconds), "training and evaluation"),
        ("Images/s", "–" if not rate else f"{rate:,.0f}", "training throughput"),
    ]


def _augment_label(augment: dict) -> str:
    on = [k for k, v in (augment or {}).items() if v]
    return ", ".join(on) if on else "none"


def run_row(record) -> dict:
    """One saved run (cnnkit.store.RunRecord) as a row of the runs table: key settings and results."""
    c = record.config or {}
    # Results first after the identity columns: they are what a student scans the list for.
    return {
        "name": record.name or c.get("name", ""),
        "model": record.model_name or model_label(c.get("model")),
        "dataset": record.dataset,
        "status": record.status,
        "origin": getattr(record, "origin", ""),  # "imported from Anna": a copy, not a run trained here
        "epochs": f"{record.epochs_done}/{record.epochs}",
        "test acc": record.test_accuracy,
        "macro F1": record.macro_f1,
        "best val acc": record.best_val_accuracy,
        "optimizer": c.get("optimizer"),
        "lr": c.get("lr"),
        "schedule": c.get("scheduler"),
        "batch": c.get("batch_size"),
        "weight decay": c.get("weight_decay"),
        "dropout": c.get("dropout"),
        "augment": _augment_label(c.get("augment", {})),
        "seconds": None if record.seconds is None else round(float(record.seconds), 1),
        "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created)) if record.created else "",
        "run": record.run_id,
    }


def runs_table(records: Iterable) -> list[dict]:
    return [run_row(r) for r in records]


# --- near chance -------------------------------------------------------------------------------------------
NOT_LEARNT_ADVICE = ("this network has not learnt yet: train more epochs, raise the learning rate (or add warm-up), "
                     "or use more training images")


def chance_accuracy(classes: int) -> Optional[float]:
    """The accuracy (0-1) of guessing one class every time on balanced classes; None for fewer than 2 classes."""
    return 1.0 / classes if classes and classes >= 2 else None


def near_chance(accuracy: Optional[float], classes: int) -> bool:
    """Whether a test accuracy (0-1) is no better than guessing: under 1.5x chance, and under chance + 10 points
    (10 classes: under 15 %; 3 classes: under 43 %; 2 classes: under 60 %)."""
    chance = chance_accuracy(classes)
    if accuracy is None or chance is None:
        return False
    return float(accuracy) < min(1.5 * chance, chance + 0.10)


def chance_note(accuracies: Sequence[Optional[float]], classes: int, what: str = "run") -> str:
    """One sentence when any of the accuracies (0-1) ends near chance, e.g. "3 of 3 runs end near chance (10 % for
    10 classes): this network has not learnt yet: …"; "" when none does."""
    scored = [a for a in accuracies if a is not None]
    low = [a for a in scored if near_chance(a, classes)]
    if not low:
        return ""
    chance = chance_accuracy(classes) or 0.0
    count = f"{len(low)} of {len(scored)} {what}s end" if len(scored) > 1 else f"This {what} ends"
    return f"{count} near chance ({100 * chance:.0f} % for {classes} classes): {NOT_LEARNT_ADVICE}."


# Settings that differ between compared runs are the interesting ones; these are shown when they do.
COMPARE_SETTINGS = ("dataset", "model", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay",
                    "l1", "dropout", "label_smoothing", "loss", "scheduler", "warmup_epochs", "augment",
                    "train_resolution", "test_resolution", "image_size", "train_subset", "seed")


def _setting(config: dict, name: str) -> Any:
    value = config.get(name)
    if name == "model":
        return model_label(value)
    if name == "augment":
        return _augment_label(value or {})
    return value


def compare_table(records: Sequence, results: Sequence[Optional[dict]]) -> list[dict]:
    """One row per run: a label, the settings that differ between the runs, and the test metrics."""
    configs = [r.config or {} for r in records]
    differing = [name for name in COMPARE_SETTINGS
                 if len({repr(_setting(c, name)) for c in configs}) > 1]
    rows = []
    for record, config, result in zip(records, configs, results):
        row = {"run": run_label(record)}
        for name in differing:
            row[name] = _setting(config, name)
        result = result or {}
        row.update({"test acc": result.get("accuracy", record.test_accuracy),
                    "macro F1": result.get("macro_f1", record.macro_f1),
                    "macro precision": result.get("macro_precision"),
                    "macro recall": result.get("macro_recall"),
                    "best val acc": record.best_val_accuracy,
                    "epochs": record.epochs_done,
                    "seconds": None if record.seconds is None else round(float(record.seconds), 1)})
        rows.append(row)
    return rows


def run_label(record) -> str:
    """A short, unique-enough name for legends: the run's name, else model · optimizer lr · id tail."""
    c = record.config or {}
    if record.name:
        return f"{record.name} ({record.run_id[-4:]})"
    return f"{record.model_name or model_label(c.get('model'))} · {c.get('optimizer', '?')} {c.get('lr', '?')} ({record.run_id[-4:]})"


def overlay_curves(runs: Sequence[tuple[str, Sequence[dict]]]) -> list[dict]:
    """Long epoch-curve rows of several runs, each tagged with its label under "run"."""
    rows = []
    for label, history in runs:
        rows.extend({**row, "run": label} for row in epoch_curves(history))
    return rows
