"""AppTest of ui.job_follow: the one live view of background jobs (one job, a group, Stop, one rerun at the end)."""

from __future__ import annotations

import threading
import time

from cnnkit.jobs import get_job_manager


def _follow_app():
    import streamlit as st

    from ui.job_follow import follow_jobs

    finished = st.session_state.setdefault("finished_calls", [])
    snaps = follow_jobs(st.session_state.get("ids", ()), group=st.session_state.get("group"), key="t",
                        stop_label="Stop them", on_finish=lambda s: finished.append([x.status for x in s]))
    st.session_state["statuses"] = [s.status for s in snaps]


def _app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_function(_follow_app, default_timeout=30)


def _wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_one_job_shows_its_bar_and_stop_ends_it():
    manager = get_job_manager()
    at_step = threading.Event()

    def job(context):
        context.progress({"kind": "step", "epoch": 2, "epochs": 4, "step": 15, "epoch_step": 5, "steps_per_epoch": 10,
                          "loss": 0.5, "lr": 0.1, "eta_s": None, "images_per_s": None})
        at_step.set()
        while not context.cancelled:
            time.sleep(0.01)
        return None

    job_id = manager.submit(job, label="one job", device="follow-test-1")
    assert at_step.wait(5)
    at = _app()
    at.session_state["ids"] = [job_id]
    at.run()
    assert not at.exception, at.exception
    assert any(m.value == "**one job** · running" for m in at.markdown)
    bar = at.get("progress")[0].proto
    assert bar.value == 37 and bar.text == "Epoch 2/4 · step 5/10 · ETA estimating…"  # 1.5 of 4 epochs; no ETA yet
    assert at.session_state["finished_calls"] == []
    at.button(key="t_stop").click().run()
    assert manager.wait(job_id, timeout=5).status == "done"  # this job returns normally when stopped
    at.run()
    assert not at.exception
    assert at.session_state["finished_calls"] == [["done"]] and not at.get("progress")
    at.run()  # only once
    assert at.session_state["finished_calls"] == [["done"]]


def test_a_group_shows_an_overall_bar_and_one_line_per_job():
    manager = get_job_manager()
    release = threading.Event()
    group = "follow-test-group"
    first = manager.submit(lambda context: release.wait(10), label="first", device="follow-test-2", group=group)
    second = manager.submit(lambda context: release.wait(10), label="second", device="follow-test-2", group=group)
    _wait_until(lambda: manager.snapshot(first).status == "running")
    at = _app()
    at.session_state["group"] = group
    at.run()
    assert not at.exception, at.exception
    texts = [p.proto.text for p in at.get("progress")]
    assert texts[0] == "0/2 runs finished" and texts[1].startswith("first: ")
    assert any(c.value == "**second**: queued (position 1)" for c in at.caption)
    release.set()
    manager.wait(second, timeout=5)
    at.run()
    assert not at.exception
    assert at.session_state["finished_calls"] == [["done", "done"]] and not at.get("progress")
    assert at.session_state["statuses"] == ["done", "done"]


def test_jobs_finished_before_the_page_ran_are_reported_once_without_a_bar():
    manager = get_job_manager()
    job_id = manager.submit(lambda context: None, label="quick", device="follow-test-3")
    manager.wait(job_id, timeout=5)
    at = _app()
    at.session_state["ids"] = [job_id, "job-forgotten-by-a-restart"]
    at.run()
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["finished_calls"] == [["done"]] and not at.get("progress")
    assert at.session_state["statuses"] == ["done"]


def test_live_charts_are_reused_until_their_data_changes():
    from ui import job_follow

    made = []

    def make():
        made.append(1)
        return object()

    first = job_follow._cached_builder("job-x", 2, 10)("epochs:loss", make)
    assert job_follow._cached_builder("job-x", 2, 11)("epochs:loss", make) is first  # new steps: epoch chart kept
    assert len(made) == 1
    job_follow._cached_builder("job-x", 3, 11)("epochs:loss", make)  # a new epoch row: rebuilt
    assert len(made) == 2
    assert sum(1 for k in job_follow._CHARTS if k[:2] == ("job-x", "epochs:loss")) == 1  # old versions dropped
