"""Trainings through the job manager on a local Ray instance (issue 16): results, live progress, Stop, a worker
that dies, and the app's own queue order. One Ray instance (2 CPUs) for the whole module.

Ray workers are other processes: a monkeypatched in-process dataset does not reach them, so the runs train on
a small folder dataset in the session's data folder (CNNKIT_DATA_DIR, passed to the workers by the backend)."""

from __future__ import annotations

import inspect
import json
import os
import signal
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements-ray.txt)")

from cnnkit.jobs import JobManager, TrainingJob  # noqa: E402
from cnnkit.paths import data_dir  # noqa: E402
from cnnkit.store import load_run  # noqa: E402
from cnnkit.train import TrainConfig, train  # noqa: E402
from tests.helpers.train import tiny_spec  # noqa: E402
from tests.helpers.ray_cluster import local_ray  # noqa: E402
from tests.helpers.waiting import wait_until  # noqa: E402

DATASET = "ray_colours"
COLOURS = [(200, 60, 60), (60, 200, 60), (60, 60, 200), (120, 120, 120)]


def _make_folder_dataset(root: Path, per_class_train: int = 24, per_class_test: int = 6) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class_train), ("test", per_class_test)):
        for index, colour in enumerate(COLOURS):
            folder = root / DATASET / split / f"c{index}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 50, (16, 16, 3)), 0, 255)
                Image.fromarray(pixels.astype("uint8")).save(folder / f"{i}.png")


@pytest.fixture(scope="module")
def backend():
    from cnnkit.jobs.backends.ray import RayBackend

    _make_folder_dataset(data_dir())
    with local_ray():
        yield RayBackend(cpus_per_job=1)


def config(epochs: int = 1, **changes) -> TrainConfig:
    return TrainConfig(dataset=DATASET, model=tiny_spec(), epochs=epochs, batch_size=8, device="cpu",
                       log_every=2, **changes)


def test_a_training_through_ray_ends_like_a_local_one(backend):
    manager = JobManager(backend=backend)
    snap = manager.wait(manager.submit_training(config(epochs=2, name="via ray")), timeout=60)
    assert snap.status == "done", snap.error
    local = train(config(epochs=2, name="local"))
    assert set(asdict(snap.result)) == set(asdict(local))
    assert (snap.result.status, snap.result.epochs, snap.result.dataset) == ("done", 2, DATASET)
    assert [row["epoch"] for row in snap.history] == [1, 2] and snap.steps
    assert load_run(Path(snap.result.run_dir)).status == "done"  # written to the (shared) checkpoint folder


def test_progress_arrives_while_it_runs_and_stop_ends_it_within_seconds(backend):
    manager = JobManager(backend=backend)
    job_id = manager.submit_training(config(epochs=500))
    running = wait_until(lambda: (s := manager.snapshot(job_id)).history and not s.finished and s, 60,
                         "epoch row while running")
    assert running.status == "running" and running.steps and running.phase == "training"
    assert running.epoch >= 1 and running.steps_per_epoch == 11  # 86 of 96 images (val 10 %) / batch 8
    asked = time.monotonic()
    manager.cancel(job_id)
    snap = manager.wait(job_id, timeout=10)
    latency = time.monotonic() - asked
    assert snap.status == "cancelled" and latency < 5, (snap.status, latency)
    assert load_run(Path(snap.run_dir)).status == "cancelled"


def test_a_worker_that_dies_fails_the_job_and_resume_continues_it(backend):
    manager = JobManager(backend=backend)
    epochs = 40  # enough that the kill lands mid-run even when the events reach the app late
    job_id = manager.submit_training(config(epochs=epochs))
    snap = wait_until(lambda: (s := manager.snapshot(job_id)).history and s, 60, "first epoch")
    assert not snap.finished, "the run finished before its worker could be killed: give it more epochs"
    pid = json.loads((Path(snap.run_dir) / "run.json").read_text())["pid"]
    assert pid != os.getpid()  # trained in a Ray worker, not here
    os.kill(pid, signal.SIGKILL)
    failed = manager.wait(job_id, timeout=30)
    assert failed.status == "failed" and "Ray worker" in failed.error and "resume" in failed.error
    record = load_run(Path(failed.run_dir))
    assert record.status == "failed" and 1 <= record.epochs_done < epochs
    assert manager.can_resume(record)
    resumed = manager.wait(manager.submit_resume(record), timeout=60)
    assert resumed.status == "done", resumed.error
    # Right after the last commit: run.json's count, or one more when the kill fell between state.pt (the commit)
    # and run.json's update.
    first = resumed.history[0]["epoch"]
    assert first in (record.epochs_done + 1, record.epochs_done + 2), (first, record.epochs_done)
    assert [row["epoch"] for row in resumed.history] == list(range(first, epochs + 1))
    assert resumed.result.epochs == epochs
    assert load_run(Path(failed.run_dir)).status == "done"


def test_a_worker_is_warmed_on_every_alive_node_before_the_first_training(backend):
    import ray

    from cnnkit.jobs.backends.ray import warm_workers, worker_env

    alive = sorted(node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"])
    assert sorted(ray.get(warm_workers(1, worker_env()), timeout=120)) == alive
    assert ray.get(warm_workers(10_000, worker_env()), timeout=10) == []  # no node has that many CPUs: none asked


def test_the_app_decides_the_order_and_ray_runs_one_at_a_time_per_slot(backend):
    """Two owners (or, before the classroom branch adds `owner`, two groups): the manager's dispatch order is
    the order the jobs start on Ray, one at a time with one slot."""
    manager = JobManager(max_concurrent_per_device=1, backend=backend)
    has_owner = "owner" in inspect.signature(manager.submit).parameters
    ids = {}
    for name in ("a1", "a2", "b1", "b2"):
        who = {"owner": name[0]} if has_owner else {}
        ids[name] = manager.submit(TrainingJob(config(name=name)), label=name, device="cpu", group=name[0], **who)
    snaps = [manager.wait(job_id, timeout=60) for job_id in ids.values()]
    assert all(s.status == "done" for s in snaps), [s.error for s in snaps]
    by_start = [s.label for s in sorted(snaps, key=lambda s: s.started)]
    assert by_start == (["a1", "b1", "a2", "b2"] if has_owner else ["a1", "a2", "b1", "b2"])
    ordered = sorted(snaps, key=lambda s: s.started)
    assert all(prev.ended <= nxt.started for prev, nxt in zip(ordered, ordered[1:]))


def test_jobs_that_are_not_trainings_run_in_the_app(backend):
    manager = JobManager(backend=backend)
    snap = manager.wait(manager.submit(lambda context: os.getpid(), label="closure"), timeout=10)
    assert (snap.status, snap.result) == ("done", os.getpid())


def test_a_jobs_api_address_is_refused_with_what_to_set_instead(monkeypatch):
    from cnnkit.jobs.backends.ray import RayAddressError, _connect

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(RayAddressError, match="ray://"):
        _connect("http://head:8265")
