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
