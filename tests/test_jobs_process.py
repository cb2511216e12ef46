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
from tests.helpers.waiting import wait_until

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
    wait_until(lambda: manager.snapshot(job_id).steps, 120, "a step event from the worker")  # it trains
    manager.cancel(job_id)
    snap = manager.wait(job_id, timeout=60)
    assert snap.status == "cancelled"
    assert snap.epoch < 200


def _pid(snap) -> int:
    return __import__("json").loads((Path(snap.run_dir) / "run.json").read_text())["pid"]


def test_workers_stay_warm_between_jobs_and_a_stop_does_not_reach_the_next_job():
    from cnnkit.lessons.runner import WORKER_START_S, worker_start_seconds

    backend = ProcessBackend()
    manager = JobManager(backend=backend)
    assert not backend.has_warm_worker() and worker_start_seconds(manager) == WORKER_START_S  # a lesson waits
    stopped = manager.submit_training(config(epochs=200, name="stopped first"))
    wait_until(lambda: manager.snapshot(stopped).steps, 120, "a step event from the worker")  # it trains
    manager.cancel(stopped)
    assert manager.wait(stopped, timeout=60).status == "cancelled"
    first = manager.wait(manager.submit_training(config(epochs=1, name="next")), timeout=120)
    second = manager.wait(manager.submit_training(config(epochs=1, name="and next")), timeout=120)
    assert first.status == second.status == "done", (first.error, second.error)  # the Stop was the last job's
    assert _pid(first) == _pid(second) == _pid(manager.snapshot(stopped))         # one warm worker trained all 3
    assert backend.started_workers == 1
    wait_until(backend.has_warm_worker, 30, "the worker back in the pool")
    assert worker_start_seconds(manager) == 0.0                 # the next lesson's estimate adds no start-up
    backend.close()
    assert not backend.has_warm_worker()
    assert worker_start_seconds(JobManager()) == 0.0             # threads: nothing to start


def test_a_worker_that_dies_fails_its_job_and_the_next_job_gets_a_new_worker():
    backend = ProcessBackend()
    manager = JobManager(backend=backend)
    doomed = manager.submit_training(config(epochs=200, name="its worker dies"))
    wait_until(lambda: manager.snapshot(doomed).steps, 120, "a step event from the worker")  # it trains
    os.kill(_pid(manager.snapshot(doomed)), 9)
    snap = manager.wait(doomed, timeout=60)
    assert snap.status == "failed"
    assert "the worker process training this job stopped (exit code -9)" in snap.error
    after = manager.wait(manager.submit_training(config(epochs=1, name="after")), timeout=120)
    assert after.status == "done", after.error
    assert backend.started_workers == 2 and _pid(after) != _pid(snap)
    backend.close()


def test_an_idle_worker_leaves_when_its_app_server_is_killed(manager):  # manager: the dataset exists
    # A killed server cannot tell its warm workers to go: they see their parent gone and leave on their own.
    import signal
    import subprocess
    import sys

    code = ("import time\nfrom cnnkit.jobs import JobManager, ProcessBackend\n"
            "manager = JobManager(backend=ProcessBackend())\n"
            "from tests.test_jobs_process import config\n"
            "snap = manager.wait(manager.submit_training(config(epochs=1)), timeout=120)\n"
            "import json, pathlib\n"
            "print(json.loads((pathlib.Path(snap.run_dir) / 'run.json').read_text())['pid'], flush=True)\n"
            "time.sleep(600)\n")
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        worker_pid = int(server.stdout.readline())
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{worker_pid}").exists() and "Z" not in _state(worker_pid):
            assert time.monotonic() < deadline, "the worker outlived its killed server"
            time.sleep(0.2)
    finally:
        server.kill()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
