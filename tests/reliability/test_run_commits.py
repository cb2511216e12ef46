"""The end of an epoch is one commit: a run killed at any write of it resumes to exactly the run that was
never killed (history, best epoch, weights, test accuracy). CPU arithmetic is deterministic here."""

from __future__ import annotations

import json

import pytest
import torch

from cnnkit import store
from cnnkit.store.writer import CRASH_POINTS
from cnnkit.train import resume, train
from tests.helpers.runs import only_run, tiny_config, train_in_child
from tests.helpers.train import patch_dataset, tiny_dataset


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its result and its final files."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            patch_dataset(mp, tiny_dataset())
            result = train(tiny_config(), checkpoint_root=tmp_path_factory.mktemp("reference"))
    finally:
        torch.set_num_threads(threads)
    return result


def _weights(run_dir, name):
    return store.load_tensors(f"{run_dir}/{name}")


def _assert_same_run(resumed, reference):
    assert resumed.status == "done"
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in reference.history]
    assert [r["val_acc"] for r in resumed.history] == [r["val_acc"] for r in reference.history]
    assert resumed.best_val_acc == reference.best_val_acc and resumed.test_acc == reference.test_acc
    for name in ("best.pt", "last.pt"):
        mine, theirs = _weights(resumed.run_dir, name), _weights(reference.run_dir, name)
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs), name
    history = json.loads((store.resolve_run_dir(resumed.run_dir) / "history.json").read_text())
    assert [r["epoch"] for r in history["epochs"]] == [1, 2, 3]
    assert store.load_run(resumed.run_dir).epochs_done == 3


def _kill_and_resume(tmp_path, monkeypatch, point: str, epoch: int):
    child = train_in_child(tmp_path, crash_at=f"{point}:{epoch}")
    assert child.returncode == 17, child.stderr[-2000:]  # died at the hook, not of an error
    run_dir = only_run(tmp_path)
    assert store.load_run(run_dir).status == "interrupted"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        patch_dataset(monkeypatch, tiny_dataset())
        events = []
        resumed = resume(run_dir, on_progress=events.append)
    finally:
        torch.set_num_threads(threads)
    assert not list(run_dir.glob(".*.tmp"))  # a write killed before its rename leaves nothing behind
    return resumed, events


# The two moments of the issue: during the state write (was resume.pt: epoch trained twice) and between
# the commit and history.json (was: history [1, 3] and the wrong best model).
@pytest.mark.parametrize("point", ["state_tmp", "history"])
def test_kill_at_a_commit_point_then_resume_equals_the_uninterrupted_run(tmp_path, monkeypatch, reference, point):
    resumed, events = _kill_and_resume(tmp_path, monkeypatch, point, 2)
    _assert_same_run(resumed, reference)
    committed = 1 if point == "state_tmp" else 2  # the temp file never became the commit
    assert {"kind": "status", "phase": "training", "message": f"resuming at epoch {committed + 1}",
            "fraction": None} in events
    assert [e["row"]["epoch"] for e in events if e["kind"] == "epoch"] == list(range(committed + 1, 4))


@pytest.mark.slow
@pytest.mark.parametrize("point", [p for p in CRASH_POINTS if p not in ("state_tmp", "history")])
def test_kill_at_every_other_write_of_an_epoch_end(tmp_path, monkeypatch, reference, point):
    resumed, _ = _kill_and_resume(tmp_path, monkeypatch, point, 2)
    _assert_same_run(resumed, reference)


@pytest.mark.slow
def test_kill_after_the_last_epoch_resumes_to_the_final_evaluation(tmp_path, monkeypatch, reference):
    resumed, events = _kill_and_resume(tmp_path, monkeypatch, "run", 3)
    _assert_same_run(resumed, reference)
    assert not [e for e in events if e["kind"] == "epoch"]  # nothing trained twice
