"""cnnkit.train.report: chart rows, decimation, confusion-cell images, run tables (tiny data, seconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnnkit import store
from cnnkit.store import RunRecord
from cnnkit.train import TrainConfig, train
from cnnkit.train import report
from tests.helpers.train import patch_dataset, tiny_dataset, tiny_spec


def test_decimate_keeps_ends_and_spacing():
    rows = list(range(1000))
    kept = report.decimate(rows, 100)
    assert len(kept) == 100
    assert kept[0] == 0 and kept[-1] == 999
    gaps = np.diff(kept)
    assert gaps.min() >= 10 and gaps.max() <= 11  # evenly spaced
    assert report.decimate(rows[:50], 100) == rows[:50]
    with pytest.raises(ValueError, match="at least 2"):
        report.decimate(rows, 1)


HISTORY = [
    {"epoch": 1, "train_loss": 2.0, "train_acc": 0.3, "val_loss": 1.8, "val_acc": 0.35, "lr": 1e-3,
     "grad": {"layers.0.weight": 0.01, "layers.4.weight": 0.1, "layers.9.weight": 0.0}},
    {"epoch": 2, "train_loss": 1.5, "train_acc": 0.5, "val_loss": None, "val_acc": None, "lr": 5e-4,
     "grad": {"layers.0.weight": 0.005, "layers.4.weight": 0.05, "layers.9.weight": float("nan")}},
]


def test_epoch_curves_long_format_skips_missing_validation():
    rows = report.epoch_curves(HISTORY)
    assert len(rows) == 4 + 2  # epoch 1: 4 values; epoch 2: train loss and accuracy only
    assert {"epoch": 1, "metric": "loss", "split": "validation", "value": 1.8} in rows
    assert {"epoch": 2, "metric": "accuracy", "split": "train", "value": 0.5} in rows
    assert not [r for r in rows if r["epoch"] == 2 and r["split"] == "validation"]


def test_step_points_and_lr_curve():
    steps = [{"step": i, "epoch": i / 10, "loss": 2.0 - i / 1000, "lr": 0.1} for i in range(1, 1001)]
    steps[5]["loss"] = float("nan")
    points = report.step_points(steps, max_points=50)
    assert len(points) == 50 and all(math.isfinite(p["loss"]) for p in points)
    assert points[-1]["step"] == 1000
    assert len(report.lr_curve(HISTORY, steps, max_points=20)) == 20
    # No step points: one lr per epoch from the history.
    assert report.lr_curve(HISTORY, []) == [{"epoch": 1.0, "lr": 1e-3}, {"epoch": 2.0, "lr": 5e-4}]


def test_grad_rows_names_layers_and_drops_non_positive():
    rows = report.grad_rows(HISTORY)
    assert {(r["epoch"], r["layer"]) for r in rows} == {(1, "layers.0"), (1, "layers.4"), (2, "layers.0"), (2, "layers.4")}
    first = [r for r in rows if r["layer"] == "layers.0"]
    assert [r["grad"] for r in first] == [0.01, 0.005] and all(r["order"] == 0 for r in first)


def test_grad_rows_of_a_deep_network_keep_first_last_and_spaced_layers():
    history = [{"epoch": e, "grad": {f"backbone.{i}.weight": 0.1 / (i + 1) for i in range(80)}} for e in (1, 2)]
    rows = report.grad_rows(history, max_layers=5)
    layers = sorted({(r["order"], r["layer"]) for r in rows})
    assert len(layers) == 5 and layers[0] == (0, "backbone.0") and layers[-1] == (79, "backbone.79")
    assert len(rows) == 10
    assert next(r["grad"] for r in rows if r["layer"] == "backbone.79") == pytest.approx(0.1 / 80)


def test_confusion_rows_shares_and_worst_cell():
    confusion = [[5, 3, 0], [0, 4, 0], [1, 0, 7]]
    rows = report.confusion_rows(confusion, ["a", "b", "c"])
    assert len(rows) == 9
    cell = next(r for r in rows if r["true"] == "a" and r["predicted"] == "b")
    assert cell["count"] == 3 and cell["share"] == pytest.approx(3 / 8)
    for name in "abc":
        assert sum(r["share"] for r in rows if r["true"] == name) == pytest.approx(1.0)
    assert report.worst_confusion(confusion) == (0, 1)
    assert report.worst_confusion([[3, 0], [0, 2]]) == (0, 0)  # no mistakes: open the first diagonal cell
    with pytest.raises(ValueError, match="2 classes"):
        report.confusion_rows(confusion, ["a", "b"])


PREDICTIONS = {"y_true": [0, 0, 1, 0, 1, 0], "y_pred": [1, 0, 1, 1, 0, 1],
               "confidence": [0.6, 0.9, 0.8, 0.95, 0.5, 0.7]}


def test_cell_indices_most_confident_first():
    assert report.cell_indices(PREDICTIONS, 0, 1) == [3, 5, 0]
    assert report.cell_indices(PREDICTIONS, 1, 0) == [4]
    assert report.cell_indices(PREDICTIONS, 1, 1) == [2]
    assert report.cell_indices(PREDICTIONS, 2, 2) == []


def test_cell_images_are_the_right_images_upscaled_without_blur():
    # Image i is filled with the value 10 * i, so every shown image says which test image it is.
    test_x = torch.stack([torch.full((1, 8, 8), 10 * i, dtype=torch.uint8) for i in range(6)])
    images, captions, total = report.cell_images(test_x, PREDICTIONS, 0, 1, limit=2, target=64)
    assert total == 3 and len(images) == 2
    assert [int(img[0, 0, 0]) for img in images] == [30, 50]
    assert images[0].shape == (64, 64, 3) and images[0].dtype == np.uint8
    assert captions == ["#3 · 95%", "#5 · 70%"]
    with pytest.raises(ValueError, match="evaluate the run again"):
        report.cell_images(test_x[:3], PREDICTIONS, 0, 1)


def test_cell_images_of_a_run_scored_on_a_test_subset_show_the_dataset_images():
    # The run scored test images 0, 2, 3, 5, 7, 8 of 9 (a test_subset): prediction i is dataset image test_index[i].
    test_x = torch.stack([torch.full((1, 8, 8), 10 * i, dtype=torch.uint8) for i in range(9)])
    predictions = {**PREDICTIONS, "test_index": [0, 2, 3, 5, 7, 8]}
    images, captions, total = report.cell_images(test_x, predictions, 0, 1, limit=2, target=64)
    assert [int(img[0, 0, 0]) for img in images] == [50, 80] and captions == ["#5 · 95%", "#8 · 70%"]
    with pytest.raises(ValueError, match="evaluate the run again"):
        report.cell_images(test_x[:8], predictions, 0, 1)


def test_mistake_images_and_roc_rows():
    test_x = torch.stack([torch.full((3, 4, 4), i, dtype=torch.uint8) for i in range(4)])
    mistakes = [{"index": 2, "true": "a", "predicted": "b", "confidence": 0.9},
                {"index": 7, "true": "b", "predicted": "a", "confidence": 0.8}]  # 7 is out of range: skipped
    images, captions = report.mistake_images(test_x, mistakes)
    assert len(images) == 1 and int(images[0][0, 0, 0]) == 2 and captions == ["a → b (90%)"]
    roc = [{"class": "a", "auc": 0.75, "fpr": [0, 0.5, 1], "tpr": [0, 1, 1]},
           {"class": "b", "auc": None, "fpr": [], "tpr": []}]
    rows = report.roc_rows(roc)
    assert len(rows) == 3 and rows[0]["label"] == "a (AUC 0.750)"


def test_metric_cards_and_seconds():
    results = {"accuracy": 0.8125, "macro_f1": 0.75, "top_k": {"top1": 0.8125, "top3": 0.95}}
    cards = {label: value for label, value, _ in report.metric_cards(results, {"seconds": 75, "train_img_per_s": 1234.4}, HISTORY)}
    assert cards == {"Test accuracy": "81.2%", "Macro F1": "0.750", "Top-3 accuracy": "95.0%", "Epochs": "2",
                     "Time": "1 min 15 s", "Images/s": "1,234"}
    empty = {label: value for label, value, _ in report.metric_cards(None, {}, [])}
    assert empty["Test accuracy"] == "–" and empty["Time"] == "–"


def test_format_seconds_has_one_format():
    from cnnkit.formatting import format_seconds

    assert format_seconds(9.94) == "9.9 s" and format_seconds(3725) == "1 h 02 min"
    assert format_seconds(125) == "2 min 05 s" and format_seconds(None) == "–" and format_seconds(-3) == "0.0 s"


def _record(run_id: str, lr: float, name: str = "", acc: float | None = 0.5) -> RunRecord:
    config = TrainConfig(lr=lr, name=name, augment={"hflip": True}).to_dict()
    return RunRecord(run_id=run_id, run_dir=store.checkpoint_dir() / run_id, status="done", dataset="shapes",
                     classes=["a"], model_name="cnn3_bn", name=name, created=0.0, epochs_done=4, epochs=4,
                     test_accuracy=acc, macro_f1=0.4, best_val_accuracy=0.6, seconds=12.345, config=config)


def test_runs_and_compare_tables_show_the_settings_that_differ():
    records = [_record("r-aaaa", 1e-3), _record("r-bbbb", 1e-2, name="fast")]
    row = report.run_row(records[0])
    assert row["lr"] == 1e-3 and row["augment"] == "hflip" and row["epochs"] == "4/4" and row["seconds"] == 12.3
    table = report.compare_table(records, [{"accuracy": 0.9, "macro_f1": 0.8}, None])
    differing = set(table[0]) - {"run", "test acc", "macro F1", "macro precision", "macro recall", "best val acc",
                                 "epochs", "seconds"}
    assert differing == {"lr"}  # the name differs too, but it is not a setting
    assert table[0]["test acc"] == 0.9 and table[1]["test acc"] == 0.5  # falls back to the record
    assert table[1]["run"] == "fast (bbbb)"
    overlay = report.overlay_curves([("A", HISTORY), ("B", HISTORY[:1])])
    assert {r["run"] for r in overlay} == {"A", "B"} and len(overlay) == 6 + 4


def test_report_of_a_real_run_is_consistent(monkeypatch, tmp_path):
    """Train a tiny run; the confusion matrix, the per-image predictions and the cell images agree."""
    data = tiny_dataset()
    patch_dataset(monkeypatch, data)
    result = train(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=2, batch_size=32, seed=1),
                   checkpoint_root=tmp_path)
    results = store.load_results(result.run_dir)
    predictions = store.load_predictions(result.run_dir)
    classes = results["classes"]
    rows = report.confusion_rows(results["confusion"], classes)
    assert sum(r["count"] for r in rows) == len(data.test_y)
    for r in rows:
        i, j = classes.index(r["true"]), classes.index(r["predicted"])
        assert len(report.cell_indices(predictions, i, j)) == r["count"]
        _, _, total = report.cell_images(data.test_x, predictions, i, j, limit=1)
        assert total == r["count"]
    per_class = report.per_class_rows(results)
    assert [r["class"] for r in per_class] == classes
    assert [r["support"] for r in per_class] == [int((data.test_y == k).sum()) for k in range(len(classes))]
    history = store.load_history(result.run_dir)
    assert {r["epoch"] for r in report.epoch_curves(history["epochs"])} == {1, 2}
    layers = {r["layer"] for r in report.grad_rows(history["epochs"])}
    assert layers == {"layers.0", "layers.4", "layers.7"}  # the two convs and the linear layer
