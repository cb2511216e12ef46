"""TensorBoard export: the event files read back (EventAccumulator) equal the run's history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from cnnkit import store
from cnnkit.cli import main
from cnnkit.export import export_runs
from tests.helpers.export import train_tiny_run


def _read(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def test_event_files_hold_the_history_and_the_hparams(monkeypatch, tmp_path, capsys):
    run_dir, _ = train_tiny_run(monkeypatch, tmp_path, epochs=3)
    logdir = tmp_path / "tb"
    assert main(["tensorboard-export", str(run_dir), "--logdir", str(logdir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["runs"][0]["run_id"] == run_dir.name and summary["runs"][0]["epochs"] == 3

    events = _read(logdir / run_dir.name)
    history = store.load_history(run_dir)
    epochs = history["epochs"]

    def series(tag: str) -> list[tuple[int, float]]:
        return [(event.step, event.value) for event in events.Scalars(tag)]

    for column, tag in (("train_loss", "loss/train"), ("val_loss", "loss/validation"), ("train_acc", "accuracy/train"),
                        ("val_acc", "accuracy/validation"), ("lr", "learning_rate")):
        steps, values = zip(*series(tag))
        assert list(steps) == [row["epoch"] for row in epochs]
        assert list(values) == pytest.approx([row[column] for row in epochs], rel=1e-6)
    layers = sorted(epochs[0]["grad"])
    assert layers and sorted(t[len("grad/"):] for t in events.Tags()["scalars"] if t.startswith("grad/")) == layers
    for layer in layers:
        assert [v for _, v in series(f"grad/{layer}")] == pytest.approx([row["grad"][layer] for row in epochs],
                                                                         rel=1e-6)
    assert [s for s, _ in series("loss/train_step")] == [p["step"] for p in history["steps"]]

    # hyperparameters for the HParams plugin: the config's values and the run's final figures
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["lr"].number_value == pytest.approx(0.01)
    assert start.hparams["optimizer"].string_value == json.loads((run_dir / "config.json").read_text())["optimizer"]
    assert start.hparams["epochs"].number_value == 3
    meta = json.loads((run_dir / "run.json").read_text())
    assert series("hparams/test_accuracy")[0][1] == pytest.approx(meta["test_accuracy"], rel=1e-6)


def test_no_runs_to_export_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="no saved run has a finished epoch yet"):
        export_runs([], tmp_path / "tb")
