"""cnnkit.train.sweeps: value parsing, grid expansion, comparison rows; a tiny sweep through a JobManager."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cnnkit.jobs import JobManager, new_group_id
from cnnkit.train import TrainConfig
from cnnkit.train import sweeps
from tests.helpers.train import patch_dataset, tiny_dataset, tiny_spec


def test_parse_values_lists_and_ranges():
    assert sweeps.parse_values("lr", "1e-1..1e-4") == [0.1, 0.01, 0.001, 0.0001]
    assert sweeps.parse_values("lr", "1e-4..1e-1") == [0.0001, 0.001, 0.01, 0.1]
    five = sweeps.parse_values("lr", "1e-3..1e-1/5")
    assert len(five) == 5 and five[0] == 0.001 and five[-1] == 0.1
    assert five[2] == pytest.approx(0.01)  # log-spaced: the middle of 1e-3..1e-1 is 1e-2
    assert sweeps.parse_values("seed", "0..3") == [0, 1, 2, 3]
    assert sweeps.parse_values("batch_size", "32, 64,64 ; 128") == [32, 64, 128]  # repeats dropped
    assert sweeps.parse_values("dropout", "0 0.25 0.5") == [0.0, 0.25, 0.5]
    assert sweeps.parse_values("optimizer", "sgd, adam") == ["sgd", "adam"]
    assert all(isinstance(v, int) for v in sweeps.parse_values("epochs", "1, 2.0"))


@pytest.mark.parametrize("field, text, message", [
    ("lr", "0.1, fast", "not a number"),
    ("lr", "0..1e-2", "above 0"),
    ("epochs", "1, 2.5", "whole numbers"),
    ("optimizer", "sgd, lion", "unknown optimizer 'lion'"),
    ("lr", " , ", "give the values"),
    ("colour", "1, 2", "cannot be swept"),
    ("lr", "1e-2..1e-1/x", "whole number"),
])
def test_parse_values_errors_say_what_to_change(field, text, message):
    with pytest.raises(ValueError, match=message):
        sweeps.parse_values(field, text)


def test_expand_grid_of_two_settings():
    base = TrainConfig(epochs=1, name="study", augment={"hflip": True})
    planned = sweeps.expand_sweep(base, [("dropout", [0.0, 0.5]), ("weight_decay", [0.0, 1e-4, 1e-3])], group="sweep-x")
    assert len(planned) == 6
    combos = {(c.dropout, c.weight_decay) for _, c in planned}
    assert combos == {(d, w) for d in (0.0, 0.5) for w in (0.0, 1e-4, 1e-3)}
    label, config = planned[1]
    assert label == "dropout=0, weight_decay=0.0001"
    assert config.name == "study dropout=0, weight_decay=0.0001 [sweep-x]"
    assert config.epochs == 1 and config.augment == {"hflip": True}
    config.augment["crop_padding"] = 4  # each config owns its augment dict
    assert base.augment == {"hflip": True} and base.dropout is None and base.name == "study"


def test_expand_refuses_bad_sweeps():
    base = TrainConfig()
    with pytest.raises(ValueError, match="dropout=1.5: dropout must be in"):
        sweeps.expand_sweep(base, [("dropout", [0.2, 1.5])])
    with pytest.raises(ValueError, match="same setting"):
        sweeps.expand_sweep(base, [("lr", [0.1, 0.01]), ("lr", [0.001])])
    with pytest.raises(ValueError, match="at least 2 runs"):
        sweeps.expand_sweep(base, [("lr", [0.1])])
    with pytest.raises(ValueError, match="25 runs"):
        sweeps.expand_sweep(base, [("seed", list(range(5))), ("lr", [1e-1, 1e-2, 1e-3, 1e-4, 1e-5])])
    with pytest.raises(ValueError, match="one setting, or two"):
        sweeps.expand_sweep(base, [])


def _snap(config: TrainConfig, status: str, acc: float | None, error: str | None = None):
    result = None if acc is None else SimpleNamespace(test_acc=acc, macro_f1=acc - 0.1, best_val_acc=acc + 0.01,
                                                      epochs=config.epochs, seconds=3.21, run_dir="/r")
    return SimpleNamespace(meta={"config": config.to_dict()}, status=status, result=result, error=error,
                           message="", run_dir="/r" if result else None, epoch=0)


def test_sweep_rows_and_best():
    planned = sweeps.expand_sweep(TrainConfig(), [("lr", [0.1, 0.01, 0.001])])
    snaps = [_snap(planned[0][1], "failed", None, error="loss became NaN"),
             _snap(planned[1][1], "done", 0.8), _snap(planned[2][1], "done", 0.7)]
    assert sweeps.varying_fields(s.meta["config"] for s in snaps) == ["lr"]  # the names differ, not a setting
    rows = sweeps.sweep_rows(snaps)
    assert [r["lr"] for r in rows] == [0.1, 0.01, 0.001]
    assert rows[0]["status"] == "failed" and rows[0]["test acc"] is None and rows[0]["message"] == "loss became NaN"
    assert rows[1]["test acc"] == 0.8 and rows[1]["seconds"] == 3.2
    assert sweeps.best_row(rows)["lr"] == 0.01
    assert sweeps.best_row(rows[:1]) is None


@pytest.mark.slow  # two tiny trainings, a few seconds
def test_a_sweep_runs_as_one_group(monkeypatch):
    patch_dataset(monkeypatch, tiny_dataset())
    manager = JobManager()
    base = TrainConfig(dataset="tiny", model=tiny_spec(), epochs=1, batch_size=32)
    group = new_group_id(sweeps.GROUP_PREFIX)
    assert group.startswith(sweeps.GROUP_PREFIX)
    ids = [manager.submit_training(config, label=label, group=group)
           for label, config in sweeps.expand_sweep(base, [("lr", [0.05, 0.005])], group=group)]
    manager.submit(lambda context: None, label="not in the sweep")
    for job_id in ids:
        manager.wait(job_id, timeout=120)
    snaps = manager.list(group=group)
    assert [s.job_id for s in snaps] == ids
    rows = sweeps.sweep_rows(snaps)
    assert [r["lr"] for r in rows] == [0.05, 0.005]
    assert all(r["status"] == "done" and 0 <= r["test acc"] <= 1 for r in rows)
    assert all(r["run_dir"] and r["epochs"] == 1 for r in rows)


def test_saved_sweeps_are_found_by_their_run_names():
    from cnnkit.store import RunRecord

    planned = sweeps.expand_sweep(TrainConfig(name="study"), [("lr", [0.1, 0.01])], group="sweep-1200-ab12")

    def record(i: int, config: TrainConfig, created: float, acc=None, status="done") -> RunRecord:
        return RunRecord(run_id=f"run-{i}", run_dir=f"/runs/run-{i}", status=status, dataset="shapes", classes=[],
                         model_name="cnn3_bn", name=config.name, created=created, epochs_done=1, epochs=1,
                         test_accuracy=acc, macro_f1=None, best_val_accuracy=None, seconds=2.0,
                         config=config.to_dict())

    records = [record(1, planned[1][1], 20.0, 0.7), record(2, TrainConfig(name="plain"), 30.0, 0.9),
               record(3, planned[0][1], 10.0, None, status="cancelled")]
    assert sweeps.group_of(planned[0][1].name) == "sweep-1200-ab12"
    assert sweeps.group_of("plain") is None and sweeps.group_of("[sweep-x] in the middle") is None
    found = sweeps.saved_sweeps(records)
    assert list(found) == ["sweep-1200-ab12"]
    assert [r.run_id for r in found["sweep-1200-ab12"]] == ["run-3", "run-1"]  # oldest first
    items = sweeps.saved_run_items(found["sweep-1200-ab12"], [[], [{"epoch": 1}]])
    assert [i.label for i in items] == ["lr=0.1", "lr=0.01"]
    rows = sweeps.sweep_rows(items)
    assert [r["status"] for r in rows] == ["cancelled", "done"] and rows[1]["test acc"] == 0.7
    assert rows[0]["test acc"] is None and sweeps.best_row(rows)["lr"] == 0.01
    assert items[1].history == [{"epoch": 1}] and all(i.finished for i in items)


def test_a_sweep_shows_who_queued_it():
    from cnnkit.train.sweeps import sweep_owner

    assert sweep_owner([SimpleNamespace(owner="Anna"), SimpleNamespace(owner="Anna")]) == "Anna"
    assert sweep_owner([SimpleNamespace(owner="")]) == "guest"
    assert sweep_owner([SimpleNamespace(owner="Ben"), SimpleNamespace(owner="Anna")]) == "Anna, Ben"
    assert sweep_owner([]) == "guest"
