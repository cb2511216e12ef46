"""The class queue shared by several app servers (cnnkit.jobs.shared, issue 31), on a local Ray instance: two
SharedJobManager clients stand for two servers. A job submitted on one is seen and stopped on the other, owners
take turns across servers (one fair order), the per-owner cap holds for the class, closures stay on their
server. A server process that dies (and a second Ray node) are in tests/test_department.py (slow)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements-ray.txt)")

from cnnkit.classroom.gate import NotAllowed  # noqa: E402
from cnnkit.jobs import QueueFull  # noqa: E402
from cnnkit.store import load_run  # noqa: E402
from cnnkit.train import TrainConfig  # noqa: E402
from tests.helpers.folders import write_shapes_folder  # noqa: E402
from tests.helpers.train import tiny_spec  # noqa: E402

DATASET = "shared_shapes"


@pytest.fixture(scope="module")
def servers():
    from cnnkit.jobs.shared import SharedJobManager

    write_shapes_folder(DATASET, (0, 1, 2, 3), 24, 6, seed=0)
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, namespace="test-shared")
    try:
        one = SharedJobManager.connect("test-class", address="local", slots=1, max_queued_per_owner=5,
                                       cpus_per_job=1)
        two = SharedJobManager.connect("test-class", address="local", slots=1, max_queued_per_owner=5,
                                       cpus_per_job=1)
        yield one, two
        one.close(), two.close()
    finally:
        ray.shutdown()


def config(epochs: int = 1, **changes) -> TrainConfig:
    return TrainConfig(dataset=DATASET, model=tiny_spec(), epochs=epochs, batch_size=8, device="cpu",
                       log_every=2, **changes)


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"no {what} after {timeout} s")


def test_a_job_from_one_server_is_followed_and_stopped_from_the_other(servers):
    one, two = servers
    job_id = one.submit_training(config(epochs=300, name="long"), owner="ana")
    seen = wait_until(lambda: (s := two.snapshot(job_id)).history and s, 90, "an epoch row on the other server")
    assert seen.status == "running" and seen.steps and seen.owner == "ana" and seen.meta["ray_node_ip"]
    assert job_id in [s.job_id for s in two.active_of("ana")]
    with pytest.raises(NotAllowed):
        two.cancel(job_id, by="bo")  # the class gate holds on every server
    two.cancel(job_id, by="ana")
    stopped = one.wait(job_id, timeout=20)
    assert stopped.status == "cancelled"
    assert load_run(Path(stopped.run_dir)).status == "cancelled"  # the run store says so too


def test_owners_take_turns_across_servers_and_the_cap_is_the_class_s(servers):
    one, two = servers
    sweep = [one.submit_training(config(name=f"s{i}"), owner="sam", group="sweep-x") for i in range(4)]
    others = [two.submit_training(config(name=n), owner=n) for n in ("kim", "lou")]
    one.refresh()  # a server's copy is at most POLL_S old; read it fresh here
    queued = [s for s in one.list() if s.status == "queued"]
    assert sorted(s.queue_position for s in queued) == list(range(1, len(queued) + 1))  # one order for both
    with pytest.raises(QueueFull, match="most this class allows"):
        for i in range(5):
            two.submit_training(config(name="extra"), owner="sam")
    extra = [s for s in two.list() if s.owner == "sam" and s.label == "extra" and s.status == "queued"]
    for snap in extra:
        two.cancel(snap.job_id, by="sam")
    done = [one.wait(j, timeout=120) for j in sweep + others]
    assert all(s.status == "done" for s in done), [s.error for s in done]
    by_start = [s.label for s in sorted(done, key=lambda s: s.started)]
    # the sweep's later runs wait for the other server's students: both start before the sweep's third run
    assert by_start.index("kim") < by_start.index("s2") and by_start.index("lou") < by_start.index("s3"), by_start


def test_closures_run_on_the_server_that_was_asked(servers):
    one, two = servers
    job_id = one.submit(lambda context: os.getpid(), label="closure")
    assert one.wait(job_id, timeout=10).result == os.getpid()
    assert job_id in [s.job_id for s in one.list()] and job_id not in [s.job_id for s in two.list()]
