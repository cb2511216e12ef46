"""One writer per run: a second resume (or a resume of a run still training) is refused with who holds it."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from cnnkit import store
from cnnkit.store import RunBusy, RunWriter
from cnnkit.train import resume, train
from tests.helpers.runs import tiny_config
from tests.helpers.train import patch_dataset, tiny_dataset


@pytest.fixture
def cancelled_run(monkeypatch, tmp_path):
    patch_dataset(monkeypatch, tiny_dataset())
    cancel = threading.Event()
    result = train(tiny_config(), checkpoint_root=tmp_path,
                   on_progress=lambda e: cancel.set() if e["kind"] == "epoch" else None, cancel_event=cancel)
    assert result.status == "cancelled" and result.epochs == 1
    return store.resolve_run_dir(result.run_dir)


def test_a_second_writer_is_told_who_trains_the_run(cancelled_run):
    before = (cancelled_run / "run.json").read_bytes()
    with RunWriter.open(cancelled_run):  # the first writer (as a training run holds it)
        with pytest.raises(RunBusy, match=rf"run {cancelled_run.name} is being trained \(by pid {os.getpid()} on "
                                          rf"{socket.gethostname()}\) since \d\d:\d\d; wait for it or stop it first"):
            resume(cancelled_run)
        assert (cancelled_run / "run.json").read_bytes() == before  # the refused resume wrote nothing
    # released: the run resumes now
    assert resume(cancelled_run).status == "done"


def test_the_lock_is_held_while_training_and_freed_after(cancelled_run):
    refused = []

    def try_second_writer(event):
        if event["kind"] == "epoch" and not refused:
            with pytest.raises(RunBusy) as caught:
                RunWriter.open(cancelled_run)
            refused.append(str(caught.value))

    assert resume(cancelled_run, on_progress=try_second_writer).status == "done"
    assert refused and "is being trained" in refused[0]
    with pytest.raises(ValueError, match="is finished"):  # free again (and finished)
        RunWriter.open(cancelled_run)
