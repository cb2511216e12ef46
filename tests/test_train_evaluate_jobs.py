"""Evaluation metrics against scikit-learn, the job queue, and the train/evaluate/runs CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score, top_k_accuracy_score

from cnnkit.evaluate import metrics_from_probs
from cnnkit.jobs import JobManager
from cnnkit.train import TrainConfig
from tests.helpers.train import patch_dataset, tiny_dataset, tiny_spec


def test_metrics_equal_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 300)
    logits = rng.normal(size=(300, 5)) + 2.0 * np.eye(5)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    result = metrics_from_probs(probs, y, [f"k{i}" for i in range(5)], max_mistakes=7)
    assert result.accuracy == pytest.approx((pred == y).mean())
    assert result.macro_f1 == pytest.approx(f1_score(y, pred, average="macro"))
    assert result.macro_precision == pytest.approx(precision_score(y, pred, average="macro"))
    assert result.macro_recall == pytest.approx(recall_score(y, pred, average="macro"))
    assert [row["f1"] for row in result.per_class] == pytest.approx(list(f1_score(y, pred, average=None)))
    assert result.top_k["top3"] == pytest.approx(top_k_accuracy_score(y, probs, k=3))
    assert "top5" not in result.top_k  # k must be below the class count to mean anything
    for k, curve in enumerate(result.roc):
        assert curve["auc"] == pytest.approx(roc_auc_score(y == k, probs[:, k]))
        assert curve["fpr"][0] == 0 and curve["tpr"][-1] == 1 and len(curve["fpr"]) <= 101
    confusion = np.array(result.confusion)
    assert confusion.sum() == 300 and confusion[2, 3] == int(((y == 2) & (pred == 3)).sum())
    # mistakes: wrong ones only, most confident first
    assert len(result.mistakes) == 7
    confidences = [m["confidence"] for m in result.mistakes]
    assert confidences == sorted(confidences, reverse=True)
    assert all(pred[m["index"]] != y[m["index"]] for m in result.mistakes)
    assert json.loads(json.dumps(result.to_dict()))["accuracy"] == result.accuracy


def test_metrics_of_an_empty_test_split_say_so():
    with pytest.raises(ValueError, match="test split is empty"):
        metrics_from_probs(np.zeros((0, 3)), np.zeros(0), ["a", "b", "c"])


def test_job_manager_runs_jobs_in_order_and_survives_one_that_raises():
    manager = JobManager(max_concurrent_per_device=1)
    order: list[str] = []
    release = threading.Event()

    def first(context):
        order.append("first-start")
        release.wait(5)
        order.append("first-end")
        return "one"

    def broken(context):
        order.append("broken")
        raise ValueError("this job was given nothing to do")

    def third(context):
        order.append("third")
        return "three"

    a = manager.submit(first, "a")
    b = manager.submit(broken, "b")
    c = manager.submit(third, "c")
    time.sleep(0.1)
    assert manager.snapshot(a).status == "running"
    assert manager.snapshot(b).queue_position == 1 and manager.snapshot(c).queue_position == 2
    release.set()
    assert manager.wait(c, timeout=5).result == "three"
    assert order == ["first-start", "first-end", "broken", "third"]
    failed = manager.snapshot(b)
    assert failed.status == "failed" and failed.error == "this job was given nothing to do"
    assert [s.status for s in manager.list()] == ["done", "failed", "done"]


def test_job_snapshots_are_copies_and_queued_jobs_cancel():
    manager = JobManager()
    gate = threading.Event()

    def job(context):
        context.progress({"kind": "epoch", "row": {"epoch": 1, "train_loss": 1.0}})
        gate.wait(5)
        return None

    running = manager.submit(job, "runs")
    waiting = manager.submit(job, "waits")
    time.sleep(0.1)
    snap = manager.snapshot(running)
    snap.history.append({"epoch": 99})
    snap.history[0]["train_loss"] = -1
    assert manager.snapshot(running).history == [{"epoch": 1, "train_loss": 1.0}]
    manager.cancel(waiting)
    assert manager.snapshot(waiting).status == "cancelled"
    gate.set()
    manager.wait(running, timeout=5)
    assert manager.snapshot(waiting).started is None  # never ran


def test_two_devices_run_side_by_side():
    manager = JobManager()
    gate = threading.Event()
    cpu = manager.submit(lambda ctx: gate.wait(5), "cpu job", device="cpu")
    gpu = manager.submit(lambda ctx: gate.wait(5), "gpu job", device="cuda:0")
    time.sleep(0.1)
    assert manager.snapshot(cpu).status == manager.snapshot(gpu).status == "running"
    gate.set()


def test_training_job_cancel_takes_effect(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))
    patch_dataset(monkeypatch, tiny_dataset(n_train=400))
    manager = JobManager()
    job = manager.submit_training(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=50, batch_size=8,
                                              device="cpu", log_every=1))
    deadline = time.monotonic() + 20
    while manager.snapshot(job).epoch_step < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    manager.cancel(job)
    snap = manager.wait(job, timeout=10)
    assert snap.status == "cancelled" and snap.run_dir
    assert snap.result.epochs < 50
    message = json.loads((tmp_path / Path(snap.run_dir).name / "run.json").read_text())["message"]
    assert message == "stopped by the user during epoch 1"


@pytest.mark.parametrize("stopper, teacher, expected", [
    ("", True, "stopped by the teacher during epoch 1"),   # the teacher's session (no name of its own)
    ("Anna", False, "stopped by the user during epoch 1"),  # the student herself
])
def test_the_run_folder_says_who_stopped_it(monkeypatch, tmp_path, stopper, teacher, expected):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))
    patch_dataset(monkeypatch, tiny_dataset(n_train=400))
    manager = JobManager()
    job = manager.submit_training(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=50, batch_size=8,
                                              device="cpu", log_every=1), owner="Anna")
    deadline = time.monotonic() + 20
    while manager.snapshot(job).epoch_step < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    manager.cancel(job, by=stopper, teacher=teacher)
    snap = manager.wait(job, timeout=10)
    meta = json.loads((Path(snap.run_dir) / "run.json").read_text())
    assert meta["status"] == "cancelled" and meta["message"] == expected    # the Runs tab reads it days later
    assert meta.get("stopped_by") == ("teacher" if teacher else None)


@pytest.mark.slow
def test_cli_train_evaluate_runs(tmp_path):
    env = {"CNNKIT_CHECKPOINT_DIR": str(tmp_path / "runs"), "PYTHONPATH": ".", "PATH": "/usr/bin:/bin"}
    import os

    env = {**os.environ, **env}
    command = [sys.executable, "-m", "cnnkit", "train", "--dataset", "shapes", "--preset", "cnn2", "--epochs", "1",
               "--train-subset", "300", "--batch-size", "32", "--optimizer", "sgd", "--lr", "0.05",
               "--scheduler", "step", "--seed", "1", "--device", "cpu", "--hflip", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("test_acc", "macro_f1", "per_class", "epochs", "seconds", "train_img_per_s", "device", "run_dir"):
        assert key in result
    assert result["epochs"] == 1 and len(result["per_class"]) == 10 and result["device"] == "cpu"
    assert "epoch 1" in done.stderr  # progress goes to stderr
    config = json.loads((tmp_path / "runs" / result["run_dir"].split("/")[-1] / "config.json").read_text())
    assert config["optimizer"] == "sgd" and config["augment"] == {"hflip": True} and config["train_subset"] == 300

    evaluated = subprocess.run([sys.executable, "-m", "cnnkit", "evaluate", result["run_dir"], "--resolution", "16",
                                "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    at_16 = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert at_16["resolution"] == 16 and 0 <= at_16["test_acc"] <= 1 and len(at_16["per_class"]) == 10

    runs = subprocess.run([sys.executable, "-m", "cnnkit", "runs", "--json"], capture_output=True, text=True,
                          env=env, timeout=120)
    listed = json.loads(runs.stdout.strip().splitlines()[-1])
    assert [r["run_id"] for r in listed] == [result["run_id"]] and listed[0]["status"] == "done"

    bad = subprocess.run([sys.executable, "-m", "cnnkit", "train", "--lr", "-1"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert bad.returncode == 1 and "learning rate must be above 0" in bad.stderr


# --- job progress, cancellation, resumes -------------------------------------------------------------
def _snapshot(**fields):
    from cnnkit.jobs import JobSnapshot

    base = dict(job_id="job-1", label="a run", device="cpu", group="", status="running", queue_position=None,
                created=0.0, started=0.0, ended=None)
    return JobSnapshot(**{**base, **fields})


def test_job_progress_is_the_share_of_the_whole_job():
    from cnnkit.jobs import fractional_epoch, training_fraction

    # half-way through epoch 2 of 4: 1.5 epochs of 4 trained
    assert fractional_epoch(2, 5, 10) == 1.5
    assert training_fraction(2, 4, 5, 10) == pytest.approx(0.375)
    assert _snapshot(phase="training", epoch=2, epochs=4, epoch_step=5, steps_per_epoch=10).progress == pytest.approx(0.375)
    # the last step of the last epoch is the whole training, also while the best epoch is evaluated
    assert _snapshot(phase="evaluating", epoch=4, epochs=4, epoch_step=10, steps_per_epoch=10).progress == 1.0
    assert training_fraction(9, 4, 10, 10) == 1.0 and training_fraction(1, 0, 0, 0) == 0.0
    # before the first step: nothing trained, whatever share of the data has loaded
    assert _snapshot(phase="loading", fraction=0.6).progress == 0.0
    # a job that is not a training reports its own fraction
    assert _snapshot(phase="counting", fraction=0.25).progress == 0.25
    assert _snapshot(phase="counting", fraction=1.7).progress == 1.0
    assert _snapshot(status="queued", queue_position=2).progress == 0.0
    assert _snapshot(status="done").progress == 1.0
    # a stopped training keeps the share it reached
    assert _snapshot(status="cancelled", epoch=1, epochs=4, epoch_step=10, steps_per_epoch=10).progress == 0.25


def test_job_progress_text_says_where_the_job_is():
    queued = _snapshot(status="queued", queue_position=2)
    assert queued.progress_text == "Queued: position 2 on cpu; it starts when the runs ahead finish."
    training = _snapshot(phase="training", epoch=2, epochs=4, epoch_step=5, steps_per_epoch=10,
                         images_per_s=1234.4, eta_s=75.0)
    assert training.progress_text == "Epoch 2/4 · step 5/10 · 1,234 img/s · ETA 1 min 15 s"
    warming_up = _snapshot(phase="training", epoch=1, epochs=4, epoch_step=2, steps_per_epoch=10, eta_s=None)
    assert warming_up.progress_text == "Epoch 1/4 · step 2/10 · ETA estimating…"  # no guess from warm-up steps
    assert _snapshot(phase="loading", message="loading shapes").progress_text == "loading shapes"
    assert _snapshot(phase="preparing").progress_text == "preparing"


def test_step_points_are_placed_at_their_fractional_epoch():
    manager = JobManager()

    def job(context):
        context.progress({"kind": "step", "epoch": 2, "epochs": 3, "step": 15, "epoch_step": 5, "steps_per_epoch": 10,
                          "loss": 0.5, "lr": 0.1, "eta_s": 3.0, "images_per_s": 100.0})

    snap = manager.wait(manager.submit(job), timeout=5)
    assert snap.steps == [{"step": 15, "epoch": 1.5, "loss": 0.5, "lr": 0.1}]
    assert snap.status == "done" and snap.progress == 1.0


def test_a_job_that_raises_cancelled_ends_cancelled_and_only_that_type_counts():
    from cnnkit import cancellation
    from cnnkit.jobs import Cancelled, raise_if_cancelled

    assert Cancelled is cancellation.Cancelled  # one type, re-exported
    manager = JobManager()
    started = threading.Event()

    def stoppable(context):
        started.set()
        while True:
            raise_if_cancelled(context.cancel_event, "stopped after 3 items")
            time.sleep(0.01)

    job_id = manager.submit(stoppable, "stoppable")
    assert started.wait(5)
    manager.cancel(job_id)
    snap = manager.wait(job_id, timeout=5)
    assert snap.status == "cancelled" and snap.error is None and snap.message == "stopped after 3 items"

    class TrainingCancelled(Exception):  # the old name-based check would have taken this for a cancel
        pass

    def impostor(context):
        context.cancel_event.set()
        raise TrainingCancelled("not a Cancelled")

    snap = manager.wait(manager.submit(impostor, "impostor"), timeout=5)
    assert snap.status == "failed" and "not a Cancelled" in snap.error
    with pytest.raises(Cancelled):
        raise_if_cancelled(_set_event())
    raise_if_cancelled(None)
    raise_if_cancelled(threading.Event())


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


def _record(run_dir, status="cancelled", epochs_done=1, epochs=2):
    from types import SimpleNamespace

    config = TrainConfig(dataset="tiny", model=tiny_spec(), epochs=epochs, device="cpu")
    return SimpleNamespace(run_id=run_dir.name, run_dir=str(run_dir), status=status, epochs_done=epochs_done,
                           epochs=epochs, config=config.to_dict())


def test_run_is_resumable_only_when_stopped_before_its_last_epoch(tmp_path):
    from cnnkit.jobs import run_is_resumable

    assert run_is_resumable(_record(tmp_path / "a", "cancelled", 1, 2))
    assert run_is_resumable(_record(tmp_path / "a", "interrupted", 0, 2))
    assert run_is_resumable(_record(tmp_path / "a", "failed", 1, 3))
    assert not run_is_resumable(_record(tmp_path / "a", "done", 2, 2))
    assert not run_is_resumable(_record(tmp_path / "a", "early_stopped", 1, 2))
    assert not run_is_resumable(_record(tmp_path / "a", "cancelled", 2, 2))


def test_a_queued_resume_is_known_by_its_run_folder(tmp_path):
    manager = JobManager()
    release = threading.Event()
    blocker = manager.submit(lambda context: release.wait(10), "holds the cpu", device="cpu")
    stopped, other = _record(tmp_path / "run-1"), _record(tmp_path / "run-2")
    try:
        assert manager.can_resume(stopped) and manager.job_for_run(stopped.run_dir) is None
        job_id = manager.submit_resume(stopped)
        snap = manager.snapshot(job_id)
        assert snap.status == "queued" and snap.label == "resume run-1"
        assert snap.meta["resumes"] == str((tmp_path / "run-1").resolve())
        # found however the folder is spelled; one click, one job
        assert manager.job_for_run(tmp_path / "run-1").job_id == job_id
        assert manager.job_for_run(f"{tmp_path}/./run-1/").job_id == job_id
        assert not manager.can_resume(stopped) and not manager.can_delete(stopped)
        with pytest.raises(ValueError, match="already queued or training"):
            manager.submit_resume(stopped)
        # another run is not busy
        assert manager.job_for_run(other.run_dir) is None and manager.can_resume(other) and manager.can_delete(other)
        manager.cancel(job_id)  # queued: never starts
        assert manager.job_for_run(stopped.run_dir) is None and manager.can_resume(stopped)
    finally:
        release.set()
    manager.wait(blocker, timeout=10)
    with pytest.raises(ValueError, match="only a stopped, unfinished run can be resumed"):
        manager.submit_resume(_record(tmp_path / "run-3", "done", 2, 2))
    assert not manager.can_delete(_record(tmp_path / "run-4", "running"))


def test_new_group_ids_carry_their_prefix_and_differ():
    from cnnkit.jobs import new_group_id

    ids = {new_group_id("sweep-") for _ in range(20)}
    assert len(ids) == 20 and all(i.startswith("sweep-") for i in ids)


def test_old_finished_jobs_hand_back_their_live_curves_and_results():
    from cnnkit.jobs import JobManager

    manager = JobManager()
    manager.KEEP_LIVE_FINISHED = 2

    def job(context):
        context.progress({"kind": "epoch", "row": {"epoch": 1, "train_loss": 1.0}})
        return "result"

    ids = [manager.submit(job, label=f"j{i}") for i in range(4)]
    for job_id in ids:
        manager.wait(job_id, timeout=10)
    assert all(manager.snapshot(j).history for j in ids)  # recent: kept, whatever the count
    with manager._lock:
        released = manager._release_finished_histories(now=time.time() + JobManager.RELEASE_AFTER_S + 1)
    snaps = [manager.snapshot(j) for j in ids]
    assert released == 2
    assert [bool(s.history) for s in snaps] == [False, False, True, True]  # the oldest two, beyond the newest 2
    assert snaps[0].result is None and snaps[0].meta["released"] and snaps[0].status == "done"
