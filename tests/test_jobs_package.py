"""cnnkit.jobs as a package: backends are found by name (one file each), the settings pick one with a clear
message for a wrong name, and the one fair order interleaves owners the same way for every queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnkit import jobs
from cnnkit.jobs import backends
from cnnkit.jobs.fair import start_order


def test_backends_are_registered_by_their_file_name():
    assert {"thread", "process", "ray"} <= set(backends.backend_names())
    assert "base" not in backends.backend_names()
    assert backends.create_backend("thread").name == "thread"
    assert backends.create_backend("process").name == "process"
    with pytest.raises(ValueError, match="choose one of .*process.*thread"):
        backends.create_backend("carrier-pigeon")


def test_adding_a_backend_is_one_file():
    probe = Path(backends.__file__).parent / "probe_backend.py"
    probe.write_text("from cnnkit.jobs.backends.thread import LocalBackend\n\n"
                     "class ProbeBackend(LocalBackend):\n    name = 'probe_backend'\n\n"
                     "def create(**options):\n    return ProbeBackend()\n")
    try:
        assert "probe_backend" in backends.backend_names()
        manager = jobs.JobManager(backend=backends.create_backend("probe_backend"))
        assert manager.wait(manager.submit(lambda context: 42), timeout=10).result == 42
    finally:
        probe.unlink()


def test_the_settings_choose_the_backend_and_say_which_names_exist(monkeypatch):
    monkeypatch.delenv(jobs.RAY_ADDRESS_ENV, raising=False)
    monkeypatch.setenv(jobs.JOB_BACKEND_ENV, "process")
    assert jobs._backend_choice() == ("process", {})
    monkeypatch.setenv(jobs.JOB_BACKEND_ENV, "fast")
    with pytest.raises(ValueError, match="CNNKIT_JOB_BACKEND='fast': use one of process, ray, thread"):
        jobs._backend_choice()
    monkeypatch.delenv(jobs.JOB_BACKEND_ENV)
    assert jobs._backend_choice() == ("process", {})  # the default: nothing to install or start
    monkeypatch.setenv(jobs.RAY_ADDRESS_ENV, "ray://head:10001")
    assert jobs._backend_choice() == ("ray", {"address": "ray://head:10001"})


def test_owners_take_turns_after_the_last_one_served():
    queued = [("s1", "sam"), ("s2", "sam"), ("s3", "sam"), ("a1", "ana"), ("b1", "bo")]
    assert start_order(queued, ["sam", "ana", "bo"], None) == ["s1", "a1", "b1", "s2", "s3"]
    assert start_order(queued, ["sam", "ana", "bo"], "sam") == ["a1", "b1", "s1", "s2", "s3"]
    # an owner the ring does not know yet still gets turns (after the known ones)
    assert start_order([("x1", "new"), ("s1", "sam")], ["sam"], None) == ["s1", "x1"]


def test_queue_timing_is_the_mean_of_finished_jobs_and_the_running_ones_eta():
    from cnnkit.jobs.fair import queue_timing
    from cnnkit.jobs.snapshot import JobSnapshot

    def snap(status, started=None, ended=None, eta_s=None, device="cpu"):
        return JobSnapshot(job_id=f"j{started}", label="x", device=device, group="", status=status,
                           queue_position=None, created=0.0, started=started, ended=ended, eta_s=eta_s)

    jobs = [snap("done", 100, 110), snap("done", 200, 220), snap("done", 300, 330),
            snap("done", 1, 1000, device="gpu"), snap("running", 400, eta_s=5.0), snap("queued"), snap("queued")]
    one_slot = queue_timing(jobs, "cpu", slots=1, now=405)
    assert (one_slot.first_free_s, one_slot.per_job_s) == (5.0, 20.0)        # (10 + 20 + 30) / 3; the gpu's not
    assert [one_slot.wait(p) for p in (1, 2, 3)] == [5.0, 25.0, 45.0]
    two_slots = queue_timing(jobs, "cpu", slots=2, now=405)                 # a slot is free: the next starts now
    assert [two_slots.wait(p) for p in (1, 2, 3)] == [0.0, 10.0, 20.0]
