"""A department on one Ray cluster (issue 31), for real: a head and a second node as separate `ray start`
processes on 127.0.0.2 and 127.0.0.3 (token auth), the class queue in the cluster, and app servers as separate
processes. One flow (slow, ~1-2 min):

1. server A (a child process) queues three trainings: one pinned to each node, one waiting for a slot;
2. server A is killed: the two runs go on and the waiting one keeps its place;
3. server B (this process) sees them, on both nodes; node 2 is killed mid-run: that run ends failed saying so;
4. the teacher stops the run on the head from server B: the waiting job starts there and finishes;
5. Resume of the failed run goes on after its last finished epoch on the remaining node.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements-ray.txt)")

from cnnkit.store import load_run  # noqa: E402
from tests.helpers.folders import write_shapes_folder  # noqa: E402
from tests.helpers.ray_cluster import connect, disconnect, ray_cluster, wait_for_nodes  # noqa: E402
from tests.helpers.waiting import wait_until  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DATASET = "dept_shapes"
CLASS = "dept-test"

SERVER_A = r"""
import json, sys, time
from cnnkit.jobs.shared import SharedJobManager
from cnnkit.train import TrainConfig
from tests.helpers.train import tiny_spec

address, head, second = sys.argv[1:4]
queue = SharedJobManager.connect("%s", address=address, slots=2, cpus_per_job=1)
config = lambda name, epochs: TrainConfig(dataset="%s", model=tiny_spec(), epochs=epochs, batch_size=8,
                                          device="cpu", log_every=2, name=name)
ids = {"ana": queue.submit_training(config("ana", 400), owner="ana", meta={"ray_node": head}),
       "cy": queue.submit_training(config("cy", 20), owner="cy", meta={"ray_node": second}),
       "bo": queue.submit_training(config("bo", 1), owner="bo")}
print(json.dumps(ids), flush=True)
time.sleep(600)
""" % (CLASS, DATASET)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    write_shapes_folder(DATASET, (0, 1, 2, 3), 24, 6, seed=0)
    with ray_cluster(tmp_path_factory.mktemp("ray"), nodes=2, cpus_per_node=1) as cluster:
        try:
            connect(cluster, namespace="test-department")
            yield cluster
        finally:
            disconnect(cluster)


def test_a_department_loses_no_job_to_a_dead_server_or_node(cluster):
    from cnnkit.jobs.shared import SharedJobManager

    nodes = {n["NodeManagerAddress"]: n["NodeID"] for n in wait_for_nodes(2)}
    assert sorted(nodes) == ["127.0.0.2", "127.0.0.3"]  # two alive nodes, each its own `ray start`

    # 1. server A queues three trainings, then 2. dies
    server_a = subprocess.Popen([sys.executable, "-c", SERVER_A, cluster.address, nodes["127.0.0.2"],
                                 nodes["127.0.0.3"]], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        ids = json.loads(server_a.stdout.readline() or "{}")
        assert set(ids) == {"ana", "cy", "bo"}, "server A did not queue its jobs"
    finally:
        server_a.send_signal(signal.SIGKILL)
        server_a.wait(10)

    # 3. server B sees the runs on both nodes, and the waiting job in its place
    queue = SharedJobManager.connect(CLASS, address=cluster.address, slots=2, cpus_per_job=1)
    try:
        assert queue.snapshot(ids["bo"]).status == "queued" and queue.snapshot(ids["bo"]).queue_position == 1
        cy = wait_until(lambda: (s := queue.snapshot(ids["cy"])).history and s, 90, "an epoch of cy on node 2")
        ana = wait_until(lambda: (s := queue.snapshot(ids["ana"])).meta.get("ray_node_ip") and s, 30, "ana placed")
        assert (ana.meta["ray_node_ip"], cy.meta["ray_node_ip"]) == ("127.0.0.2", "127.0.0.3")
        assert cluster.kill_node(1) > 0  # node 2 goes away mid-run
        failed = queue.wait(ids["cy"], timeout=60)
        assert failed.status == "failed" and "127.0.0.3" in failed.error and "resume" in failed.error, failed.error
        record = wait_until(lambda: (r := load_run(Path(failed.run_dir))).status == "failed" and r, 10, "run failed")
        assert 1 <= record.epochs_done < 20 and queue.can_resume(record)

        # 4. the teacher stops ana from server B; bo, which waited, runs on the head
        queue.cancel(ids["ana"], by="teacher", teacher=True)
        assert queue.wait(ids["ana"], timeout=30).status == "cancelled"
        bo = queue.wait(ids["bo"], timeout=90)
        assert bo.status == "done" and bo.meta["ray_node_ip"] == "127.0.0.2", bo.error

        # 5. Resume goes on after the last finished epoch, on the node that is left
        resumed = queue.wait(queue.submit_resume(record, by="cy"), timeout=120)
        assert resumed.status == "done" and resumed.meta["ray_node_ip"] == "127.0.0.2", resumed.error
        first = resumed.history[0]["epoch"]
        assert first in (record.epochs_done + 1, record.epochs_done + 2), (first, record.epochs_done)
        assert resumed.result.epochs == 20 and load_run(Path(failed.run_dir)).status == "done"
    finally:
        queue.close()
