"""The class queue shared by several app servers (cnnkit.jobs.shared, issue 31), on a local Ray instance: two
SharedJobManager clients stand for two servers. A job submitted on one is seen and stopped on the other, owners
take turns across servers (one fair order), the per-owner cap holds for the class, closures stay on their
server. A server process that dies (and a second Ray node) are in tests/test_department.py (slow)."""

from __future__ import annotations

import json
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
from tests.helpers.ray_cluster import local_ray  # noqa: E402
from tests.helpers.waiting import wait_until  # noqa: E402

DATASET = "shared_shapes"


@pytest.fixture(scope="module")
def servers():
    from cnnkit.jobs.shared import SharedJobManager

    write_shapes_folder(DATASET, (0, 1, 2, 3), 24, 6, seed=0)
    with local_ray(namespace="test-shared"):
        one = SharedJobManager.connect("test-class", address="local", slots=1, max_queued_per_owner=5,
                                       cpus_per_job=1)
        two = SharedJobManager.connect("test-class", address="local", slots=1, max_queued_per_owner=5,
                                       cpus_per_job=1)
        yield one, two
        one.close(), two.close()


def config(epochs: int = 1, **changes) -> TrainConfig:
    return TrainConfig(dataset=DATASET, model=tiny_spec(), epochs=epochs, batch_size=8, device="cpu",
                       log_every=2, **changes)


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


def test_a_job_the_teacher_stops_from_the_other_server_says_so(servers):
    one, two = servers
    running = one.submit_training(config(epochs=300, name="long"), owner="kim")
    waiting = one.submit_training(config(epochs=300, name="waits"), owner="kim")
    wait_until(lambda: two.snapshot(running).history, 90, "an epoch row on the other server")
    two.cancel(waiting, by="", teacher=True)
    two.cancel(running, by="", teacher=True)
    stopped, never = one.wait(running, timeout=20), one.wait(waiting, timeout=20)
    assert (stopped.status, stopped.message) == ("cancelled", "stopped by the teacher")
    assert (never.status, never.message) == ("cancelled", "stopped by the teacher before it started")
    meta = json.loads((Path(stopped.run_dir) / "run.json").read_text())
    assert meta["message"].startswith("stopped by the teacher during epoch") and meta["stopped_by"] == "teacher"


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


# --- the class state the servers share (cnnkit.classroom.class_state) ------------------------------------------
@pytest.fixture
def shared_state(servers, monkeypatch):
    """The class state through each server's store in turn (`use(0)` / `use(1)`), as two servers would."""
    from cnnkit.classroom import class_state

    stores = [servers[0].class_store, servers[1].class_store]
    for store in stores:
        store.put("teacher_guard", None)
    monkeypatch.setattr(class_state, "_SHARED_GUARDS", {})

    def use(index: int):
        class_state.set_class_store(stores[index])
        return class_state.teacher_guard()
    yield use
    class_state.set_class_store(None)


def test_a_teacher_signed_in_on_one_server_is_the_teacher_on_the_other(shared_state):
    from cnnkit.classroom.config import hash_password

    password = hash_password("staff-room")
    token = shared_state(0).sign_in("staff-room", password)
    assert shared_state(1).is_session(token)
    shared_state(1).sign_out(token)  # leaving teacher mode on one server ends it on both
    assert not shared_state(0).is_session(token)


def test_a_guesser_gets_the_free_tries_once_for_the_whole_class(shared_state):
    from cnnkit.classroom.config import hash_password
    from cnnkit.classroom.permissions import NotAllowed
    from cnnkit.classroom.teacher import FREE_TRIES, TooManyTries

    password = hash_password("staff-room")
    for attempt in range(FREE_TRIES):
        with pytest.raises(NotAllowed, match="not the teacher password"):
            shared_state(attempt % 2).sign_in(f"guess{attempt}", password)  # alternating servers
    with pytest.raises(TooManyTries):
        shared_state(0).sign_in("guess-again", password)
    with pytest.raises(TooManyTries):
        shared_state(1).sign_in("staff-room", password)  # even the right one waits: the class is rate-limited


def test_a_class_lock_held_by_one_server_waits_for_the_other(servers):
    one, two = (server.class_store for server in servers)
    assert one.acquire("names", "server-1", 30.0)
    assert not two.acquire("names", "server-2", 30.0)  # held elsewhere: wait
    one.release("names", "server-1")
    # a release is not waited for (RayClassStore.release): the other server gets the lock on one of its next tries
    deadline, acquired = time.monotonic() + 30, False
    while not acquired and time.monotonic() < deadline:
        acquired = two.acquire("names", "server-2", 0.2)
    assert acquired
    time.sleep(0.3)
    assert one.acquire("names", "server-1", 30.0)  # a dead holder's lease runs out
    one.release("names", "server-1")


# Both "servers" start claiming at the same moment: each marks itself ready in a folder, then waits for the other.
START_TOGETHER = r"""
import os, pathlib, time
def start_together(folder, count=2):
    folder = pathlib.Path(folder)
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(list(folder.iterdir())) < count and time.monotonic() < deadline:
        time.sleep(0.005)
"""

CLAIM = START_TOGETHER + r"""
import json, os, sys, time
import ray
ray.init(address=sys.argv[1], log_to_driver=False)
import cnnkit.jobs  # registers the shared class state
from cnnkit.classroom.names import NameTaken, use_name
start_together(sys.argv[2])  # both servers claim at the same moment
won = {}
for name in sys.argv[3:]:
    try:
        won[name] = bool(use_name(name)[1])
    except NameTaken:
        won[name] = False
print(json.dumps(won))
"""


def test_two_servers_claiming_one_name_at_the_same_moment_exactly_one_wins(servers, tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    names = [f"student{i}" for i in range(8)]
    env = {**os.environ, "CNNKIT_SHARED_QUEUE": "test-class", "CNNKIT_RAY_ADDRESS": "auto",
           "CNNKIT_CHECKPOINT_DIR": str(tmp_path), "PYTHONPATH": str(root)}
    start = tmp_path / "ready"
    start.mkdir()
    address = ray.get_runtime_context().gcs_address
    procs = [subprocess.Popen([sys.executable, "-c", CLAIM, address, str(start), *names], env=env, cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    won = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    assert all(won[0][n] != won[1][n] for n in names), won  # every name: one server won, the other was refused


CLAIM_BURST = START_TOGETHER + r"""
import json, sys, threading, time
import ray
ray.init(address=sys.argv[1], log_to_driver=False)
import cnnkit.jobs  # registers the shared class state
from cnnkit.classroom.names import use_name
prefix = sys.argv[3]
start_together(sys.argv[2])
errors, began = [], time.monotonic()
def claim(i):
    try:
        use_name(f"{prefix}{i}")
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
threads = [threading.Thread(target=claim, args=(i,)) for i in range(12)]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps({"errors": errors, "seconds": time.monotonic() - began}))
"""


def test_two_servers_each_claiming_a_burst_of_names_at_once_all_succeed_quickly(servers, tmp_path):
    # A class's first pages: each server claims a dozen names on a dozen threads at the same moment, and every
    # claim is made (claims take no lock: cnnkit.classroom.names).
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "CNNKIT_SHARED_QUEUE": "test-class", "CNNKIT_RAY_ADDRESS": "auto",
           "CNNKIT_CHECKPOINT_DIR": str(tmp_path), "PYTHONPATH": str(root)}
    start = tmp_path / "ready"
    start.mkdir()
    address = ray.get_runtime_context().gcs_address
    procs = [subprocess.Popen([sys.executable, "-c", CLAIM_BURST, address, str(start), prefix], env=env, cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for prefix in ("ann", "bob")]
    outs = [p.communicate(timeout=150) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    results = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    assert [r["errors"] for r in results] == [[], []]
    assert max(r["seconds"] for r in results) < 15, results
    from cnnkit.classroom.names import claimed_names

    assert sorted(row["name"] for row in claimed_names(tmp_path)) == sorted(
        f"{p}{i}" for p in ("ann", "bob") for i in range(12))
