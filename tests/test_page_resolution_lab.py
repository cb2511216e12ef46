"""AppTest of the resolution-lab page: a tiny lab through the job queue to its tables, reopening a saved
lab, and bad settings shown as an error."""

from __future__ import annotations

import pytest

from cnnkit.jobs import get_job_manager
from cnnkit.labs import lab_is_training, list_labs, load_lab, resume_resolution_lab
from tests.helpers.app import make_app_test
from tests.helpers.folders import tiny_folder


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def frame_with(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_page_opens_with_lab_defaults():
    at = make_app_test("resolution_lab", timeout=120)
    no_errors(at)
    assert at.multiselect(key="rl_resolutions").value == [32, 16, 8]
    assert at.selectbox(key="rl_dataset").value == "shapes"
    assert at.selectbox(key="rl_preset").value == "cnn3_fast"
    assert at.slider(key="rl_epochs").value == 5
    assert any(c.value == "Trains 3 model(s) of 5 epoch(s): TOTV at 32 px, TVTV at 16 px, 8 px." for c in at.caption)
    # bad settings: a message, nothing queued
    jobs_before = len(get_job_manager().list(group="resolution-lab"))
    at.multiselect(key="rl_resolutions").set_value([]).run()
    at.button(key="rl_run").click().run()
    assert any("at least one resolution" in e.value for e in at.error)
    assert not at.exception
    assert len(get_job_manager().list(group="resolution-lab")) == jobs_before


@pytest.mark.slow
def test_tiny_lab_runs_to_its_tables_and_reopens():
    dataset = tiny_folder()
    at = make_app_test("resolution_lab", timeout=120)
    no_errors(at)
    at.selectbox(key="rl_dataset").set_value(dataset).run()
    at.slider(key="rl_epochs").set_value(1).run()
    at.multiselect(key="rl_resolutions").set_value([32, 16]).run()
    at.selectbox(key="rl_mode").set_value("nearest").run()
    at.button(key="rl_run").click().run()
    no_errors(at)
    job_id = at.session_state["rl_jobs"][-1]
    snap = get_job_manager().wait(job_id, timeout=120)
    assert snap.status == "done", snap.error
    at.run()  # the live panel sees the finished job and shows its lab below
    no_errors(at)
    lab = load_lab(snap.result.lab_id)
    assert at.selectbox(key="rl_pick").value == lab.lab_id
    metrics = frame_with(at, "f1")  # shown in percent
    assert list(metrics["method"]) == ["TOTV", "TOTV", "TVTV", "TVTV"]
    assert list(metrics["resolution"]) == [32, 16, 32, 16]
    assert list(metrics["accuracy"]) == pytest.approx([100 * r.accuracy for r in lab.totv + lab.tvtv])
    per_class = frame_with(at, "TVTV 16 px")
    assert list(per_class.columns) == ["TOTV 32 px", "TOTV 16 px", "TVTV 32 px", "TVTV 16 px"]
    assert list(per_class.index) == lab.classes and len(lab.classes) == 3
    assert per_class.to_numpy().min() >= 0 and per_class.to_numpy().max() <= 100
    tvtv16 = {c["class"]: 100 * c["accuracy"] for c in lab.tvtv[1].per_class}
    assert list(per_class["TVTV 16 px"]) == pytest.approx([tvtv16[c] for c in lab.classes])
    assert len(at.tabs) == 2  # training curves of both models
    assert lab.mode == "nearest"

    # a new session lists the saved lab and shows it without training anything
    jobs_before = len(get_job_manager().list())
    again = make_app_test("resolution_lab", timeout=120)
    no_errors(again)
    assert len(again.selectbox(key="rl_pick").options) == len(list_labs(kind="resolution"))
    again.selectbox(key="rl_pick").set_value(lab.lab_id).run()
    no_errors(again)
    assert list(frame_with(again, "f1")["accuracy"]) == pytest.approx([100 * r.accuracy for r in lab.totv + lab.tvtv])
    assert len(get_job_manager().list()) == jobs_before
    assert lab.lab_id in [saved.lab_id for saved in list_labs()]


def test_live_progress_and_stop_keep_a_cancelled_lab():
    dataset = tiny_folder()
    at = make_app_test("resolution_lab", timeout=120)
    at.selectbox(key="rl_dataset").set_value(dataset).run()
    at.slider(key="rl_epochs").set_value(50).run()  # long enough that Stop lands mid-run
    at.multiselect(key="rl_resolutions").set_value([32, 8]).run()
    at.button(key="rl_run").click().run()
    no_errors(at)
    job_id = at.session_state["rl_jobs"][-1]
    manager = get_job_manager()
    deadline = __import__("time").monotonic() + 60
    while manager.snapshot(job_id).status != "running" or not manager.snapshot(job_id).history:   # an epoch done
        assert __import__("time").monotonic() < deadline, "the lab did not start"
        __import__("time").sleep(0.2)
    live = load_lab(manager.snapshot(job_id).meta["lab_dir"])
    assert lab_is_training(live)                              # not stopped, whatever its lab.json says
    with pytest.raises(ValueError, match="is training in another process now"):
        resume_resolution_lab(live.lab_dir)
    at.run()
    no_errors(at)
    assert at.get("progress"), "a running lab shows a progress bar"
    assert at.button(key="rl_run").disabled  # one lab at a time per session
    at.button(key="rl_stop").click().run()
    snap = manager.wait(job_id, timeout=60)
    assert snap.status == "cancelled"
    at.run()
    no_errors(at)
    assert any("stopped" in w.value for w in at.warning)
    stopped = load_lab(snap.result.lab_id)
    assert stopped.status == "cancelled"
    assert not at.button(key="rl_run").disabled
    # the stopped lab goes on from where it stopped: its first model in the same folder, after its last epoch
    assert at.selectbox(key="rl_pick").value == stopped.lab_id
    assert any("ended before its last model" in i.value for i in at.info)
    at.button(key="rl_resume").click().run()
    no_errors(at)
    resumed = manager.wait(at.session_state["rl_jobs"][-1], timeout=120)
    assert resumed.status == "done", resumed.error
    done = load_lab(stopped.lab_id)
    assert done.status == "done" and [r.resolution for r in done.tvtv] == [32, 8]
    assert done.runs[0]["run_dir"] == stopped.runs[0]["run_dir"]
    at.run()
    no_errors(at)
    assert not any(b.key == "rl_resume" for b in at.button)                 # a done lab offers none


def test_a_damaged_saved_lab_is_listed_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))
    (tmp_path / "labs" / "broken-lab").mkdir(parents=True)
    (tmp_path / "labs" / "broken-lab" / "lab.json").write_text("{")
    at = make_app_test("resolution_lab", timeout=120)
    assert not at.exception
    pick = at.selectbox(key="rl_pick")
    assert pick.options == [pick.format_func("broken-lab")] and "(damaged)" in pick.options[0]
    assert any("cannot be opened" in e.value and "not valid JSON" in e.value for e in at.error)
