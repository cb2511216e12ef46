"""The class queue's journal (cnnkit.jobs.shared, issue 31): when the cluster's head goes, the queue in its actor
goes with it; a new class queue takes the waiting jobs back from the journal on the shared storage (same ids, same
order, same owners) and ends the job that was training as failed and resumable. Its own module: the test of a
head that goes starts and ends two Ray sessions of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements-ray.txt)")

from cnnkit.store import load_run  # noqa: E402
from cnnkit.train import TrainConfig  # noqa: E402
from tests.helpers.folders import write_shapes_folder  # noqa: E402
from tests.helpers.ray_cluster import local_ray  # noqa: E402
from tests.helpers.train import tiny_spec  # noqa: E402
from tests.helpers.waiting import wait_until  # noqa: E402

DATASET = "journal_shapes"
CLASS = "journal-class"


def config(epochs: int, name: str) -> TrainConfig:
    return TrainConfig(dataset=DATASET, model=tiny_spec(), epochs=epochs, batch_size=8, device="cpu", log_every=2,
                       name=name)


def test_waiting_jobs_outlive_the_head_and_the_training_one_ends_resumable(tmp_path, monkeypatch):
    from cnnkit.jobs.shared import HEAD_LOST, SharedJobManager, journal_dir

    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    write_shapes_folder(DATASET, (0, 1, 2, 3), 24, 6, seed=0)
    journal = journal_dir(CLASS)
    with local_ray(namespace="test-journal"):
        before = SharedJobManager.connect(CLASS, address="local", slots=1, cpus_per_job=1)
        training = before.submit_training(config(300, "long"), owner="ana")
        waiting = [before.submit_training(config(1, "first"), owner="bo"),
                   before.submit_training(config(1, "second"), owner="cy")]
        run_dir = wait_until(lambda: before.snapshot(training).history and before.snapshot(training).run_dir, 90,
                             "the long run's first epoch")
        saved = {p.stem: json.loads(p.read_text())["status"] for p in journal.glob("class-*.json")}
        assert saved == {training: "running", waiting[0]: "queued", waiting[1]: "queued"}
        before.close()
    # The head is gone (its Ray session ended, the actor and the worker with it). A new cluster, a server connects:
    with local_ray(namespace="test-journal"):
        after = SharedJobManager.connect(CLASS, address="local", slots=1, cpus_per_job=1)
        try:
            ended = after.snapshot(training)
            assert ended.status == "failed" and ended.error == HEAD_LOST and ended.owner == "ana"
            assert load_run(Path(run_dir)).status == "failed"  # listed as resumable, on disk too
            done = [after.wait(job_id, timeout=120) for job_id in waiting]
            assert [(s.status, s.owner, s.label) for s in done] == [("done", "bo", "first"), ("done", "cy", "second")]
            assert done[0].started <= done[1].started  # in their order
            assert ray.get(after.actor.ping.remote())["recovered"] == {"queued": 2, "failed": 1}
            fresh = after.submit_training(config(1, "new"), owner="bo")
            assert int(fresh.split("-")[1]) > max(int(j.split("-")[1]) for j in [training, *waiting])  # no id again
            assert after.wait(fresh, timeout=120).status == "done"
            assert not list(journal.glob("class-*.json"))  # every job ended: the journal holds none
        finally:
            after.close()


def test_damaged_journal_entries_are_passed_over_and_ids_go_on_after_the_journal_s(tmp_path):
    """The queue's own start-up from a journal (no Ray needed: the actor's class itself)."""
    from cnnkit.jobs.shared import ClassQueue, journal_dir

    journal = journal_dir("damaged-class", tmp_path)
    journal.mkdir(parents=True)
    spec = {"owner": "ana", "label": "kept", "device": "cpu", "group": "", "meta": {}, "config": {}}
    entries = {"class-3": "{not json",
               "class-4": {"job_id": "class-4", "status": "queued", "created": "x", "spec": spec},  # no time
               "class-5": {"job_id": "class-5", "status": "queued", "created": 1.0, "spec": {"owner": "ana"}},
               "class-6": {"job_id": "class-9", "status": "queued", "created": 1.0, "spec": spec},  # not its file
               "class-7": {"job_id": "class-7", "status": "queued", "created": 2.0, "spec": spec}}
    for name, entry in entries.items():
        (journal / f"{name}.json").write_text(entry if isinstance(entry, str) else json.dumps(entry))
    (journal / "next-id.json").write_text("5")
    queue = ClassQueue.__ray_actor_class__("damaged-class", {"journal": str(journal)})
    assert list(queue.jobs) == ["class-7"] and queue.jobs["class-7"]["snap"].status == "queued"
    assert queue.jobs["class-7"]["snap"].owner == "ana" and queue.recovered == {"queued": 1, "failed": 0}
    assert queue.next_id == 8  # after every id the journal names, and after next-id
