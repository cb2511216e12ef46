"""Trainings through the job manager's ProcessBackend (CNNKIT_JOB_BACKEND=process, issue 13): a run completes in
a worker process with its progress events in the snapshot, and Stop ends a running one.

Workers are spawned processes: a monkeypatched in-process dataset does not reach them, so the runs train on a
small folder dataset in the session's data folder (CNNKIT_DATA_DIR, which the workers inherit)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnkit.jobs import JobManager, ProcessBackend
from cnnkit.paths import data_dir
from cnnkit.store import load_run
from cnnkit.train import TrainConfig
from tests.helpers.train import tiny_spec

DATASET = "proc_colours"
COLOURS = [(200, 60, 60), (60, 200, 60), (60, 60, 200), (120, 120, 120)]


@pytest.fixture(scope="module")
def manager() -> JobManager:
    rng = np.random.default_rng(0)
    for split, count in (("train", 24), ("test", 6)):
        for index, colour in enumerate(COLOURS):
            folder = data_dir() / DATASET / split / f"c{index}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 50, (16, 16, 3)), 0, 255)
                Image.fromarray(pixels.astype("uint8")).save(folder / f"{i}.png")
    return JobManager(backend=ProcessBackend())


def config(epochs: int = 1, **changes) -> TrainConfig:
    return TrainConfig(dataset=DATASET, model=tiny_spec(), epochs=epochs, batch_size=8, device="cpu",
                       log_every=2, **changes)


def test_a_training_runs_in_a_worker_process_with_progress(manager):
    snap = manager.wait(manager.submit_training(config(epochs=2, name="in a process"), owner="ana"), timeout=120)
    assert snap.status == "done", snap.error
    assert [row["epoch"] for row in snap.history] == [1, 2]   # epoch events arrived
    assert snap.steps and snap.steps[-1]["epoch"] == 2.0       # step events too
    assert snap.result.status == "done" and snap.result.epochs == 2
    record = load_run(Path(snap.run_dir))
    assert record.status == "done" and record.owner == "ana"
    pid = __import__("json").loads((Path(snap.run_dir) / "run.json").read_text()).get("pid")
    assert pid and pid != os.getpid()                          # trained in another process


def test_stop_ends_a_running_training(manager):
    job_id = manager.submit_training(config(epochs=200, name="stopped"))
    deadline = time.monotonic() + 120
    while not manager.snapshot(job_id).steps:  # training has begun in the worker
        assert time.monotonic() < deadline, "no step event from the worker"
        time.sleep(0.05)
    manager.cancel(job_id)
    snap = manager.wait(job_id, timeout=60)
    assert snap.status == "cancelled"
    assert snap.epoch < 200
