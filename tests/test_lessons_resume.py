"""Going on with a lesson group after its process ended (bench_lessons.py --full --resume): a stopped run goes on
after its last finished epoch, a finished one is kept, and another lesson's finished run of the same settings is
reused instead of trained again."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cnnkit import store
from cnnkit.jobs import JobManager
from cnnkit.lessons import collect_result, submit_lesson
from cnnkit.lessons.resume import resume_group
from cnnkit.lessons.results import save_result
from cnnkit.lessons.runner import _result_of_group, wait_for_group
from cnnkit.train import learning_settings
from tests.helpers.benchmarks import load_benchmark
from tests.helpers.folders import tiny_folder
from tests.test_lessons_engine import CHAIN, lesson_text, teacher_dir  # noqa: F401  (the fixture)


def _long_lesson(lesson_id: str, dataset: str) -> str:
    # full mode trains 40 epochs of the tiny set: long enough to stop one run in the middle
    text = lesson_text(lesson_id, dataset).replace("epochs = 2\n", "epochs = 40\n", 1)
    return text.replace("[arms.reported.curves]\ntrain_loss = [1.3566, 0.9548]\n", "")  # curves: one per epoch


def _runs_by_arm() -> dict[str, store.RunRecord]:
    return {record.config["name"].split(" · ")[1]: record for record in store.list_runs()}


@pytest.mark.slow
def test_a_group_goes_on_after_each_runs_last_finished_epoch_and_keeps_finished_runs(teacher_dir):
    dataset = tiny_folder("lesson_resume")
    (teacher_dir / "long.toml").write_text(_long_lesson("long-depth", dataset))
    first = JobManager()
    group = submit_lesson("long-depth", mode="full", seeds=1, device="cpu", manager=first, queue=False)
    assert first.list(group=group) == []                     # queue=False: only the plan is saved
    assert resume_group(group, first) == 2
    shallow, deep = first.list(group=group)
    assert first.wait(shallow.job_id, timeout=300).status == "done"
    deadline = time.monotonic() + 120
    while len(first.snapshot(deep.job_id).history) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.cancel(deep.job_id, teacher=True)                  # the session ends in the middle of the deep arm
    first.wait(deep.job_id, timeout=120)
    stopped = _runs_by_arm()["deep"]
    assert 2 <= stopped.epochs_done < 40 and stopped.status != "done"
    kept = store.load_history(stopped.run_dir)["epochs"][:stopped.epochs_done]

    later = JobManager()                                     # the next session: a new process knows no job
    assert resume_group(group, later) == 1                   # only the deep arm; the shallow one is finished
    wait_for_group(group, later)
    result = collect_result("long-depth", group, later)
    assert result.status == "done", result.message
    runs = _runs_by_arm()
    assert len(store.list_runs()) == 2                       # the deep run went on in its own folder
    deep_history = store.load_history(runs["deep"].run_dir)["epochs"]
    assert runs["deep"].epochs_done == 40 and deep_history[:len(kept)] == kept
    assert {arm.arm_id: len(arm.histories[0]) for arm in result.arms} == {"shallow": 40, "deep": 40}
    # each arm from its own run: the later process gave the deep arm's job the id the shallow one had before
    assert {arm.arm_id: arm.run_ids for arm in result.arms} == {arm: [Path(r.run_dir).name] for arm, r in runs.items()}
    with pytest.raises(ValueError, match="is done: there is nothing to go on with"):
        resume_group(group, later)


@pytest.mark.slow
def test_an_arm_with_a_finished_twin_reuses_it(teacher_dir):
    dataset = tiny_folder("lesson_twins")
    (teacher_dir / "a.toml").write_text(lesson_text("twin-a", dataset))
    (teacher_dir / "b.toml").write_text(lesson_text("twin-b", dataset))   # the same arms and settings
    manager = JobManager()
    first = submit_lesson("twin-a", mode="full", seeds=1, device="cpu", manager=manager, queue=False)
    assert resume_group(first, manager) == 2
    wait_for_group(first, manager)
    assert collect_result("twin-a", first, manager).status == "done"
    second = submit_lesson("twin-b", mode="full", seeds=1, device="cpu", manager=manager, queue=False)
    assert resume_group(second, manager) == 0                # both arms trained already with these settings
    planned = _result_of_group(second)
    assert planned.data.startswith(f"{dataset}: ")            # which data: said when the group starts
    planned.data = ""                                         # a group started before results said it
    save_result(planned)
    result = collect_result("twin-b", second, manager)
    assert result.status == "done" and len(store.list_runs()) == 2
    assert result.data.startswith(f"{dataset}: ")              # filled in when collected
    assert {r["run_dir"] for r in result.runs} == {str(r.run_dir) for r in store.list_runs()}
    other = submit_lesson("twin-b", mode="full", seeds=[1], device="cpu", manager=manager, queue=False)
    assert resume_group(other, manager) == 2                 # another seed is other settings: trained


@pytest.mark.slow
def test_a_chained_arm_queued_again_starts_from_its_source_arms_run(teacher_dir):
    dataset = tiny_folder("lesson_resume_chain")
    (teacher_dir / "chain.toml").write_text(CHAIN.format(dataset=dataset, start="source"))
    manager = JobManager()
    group = submit_lesson("chain", mode="full", seeds=1, device="cpu", manager=manager, queue=False)
    assert resume_group(group, manager) == 2                 # the chained arm waits for its source's new job
    wait_for_group(group, manager)
    result = collect_result("chain", group, manager)
    assert result.status == "done", result.message
    runs = {r["arm_id"]: r["run_dir"] for r in result.runs}
    assert store.load_run(runs["fc"]).config["model"]["source"] == runs["source"]


@pytest.mark.slow
def test_a_chained_arm_stopped_in_the_middle_goes_on_from_the_network_it_started_from(teacher_dir):
    """The P4 chain's P4a stopped at epoch 11 and failed to resume: "unknown transfer source 'arm:p3'"."""
    dataset = tiny_folder("lesson_resume_chain_stop")
    text = CHAIN.format(dataset=dataset, start="source").replace(
        'strategy = "last:1" }', 'strategy = "last:1" }, epochs = 40')
    (teacher_dir / "chain.toml").write_text(text)
    first = JobManager()
    group = submit_lesson("chain", mode="full", seeds=1, device="cpu", manager=first, queue=False)
    assert resume_group(group, first) == 2
    source_job, fc_job = first.list(group=group)
    assert first.wait(source_job.job_id, timeout=300).status == "done"
    deadline = time.monotonic() + 120
    while len(first.snapshot(fc_job.job_id).history) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.cancel(fc_job.job_id, teacher=True)
    first.wait(fc_job.job_id, timeout=120)
    stopped = _runs_by_arm()["fc"]
    assert 2 <= stopped.epochs_done < 40 and stopped.status != "done"

    later = JobManager()
    assert resume_group(group, later) == 1
    wait_for_group(group, later)
    result = collect_result("chain", group, later)
    assert result.status == "done", result.message
    runs = {r["arm_id"]: r["run_dir"] for r in result.runs}
    assert runs["fc"] == str(stopped.run_dir)                 # the same run went on, from the source's network
    assert store.load_run(runs["fc"]).config["model"]["source"] == runs["source"]
    assert store.load_run(runs["fc"]).epochs_done == 40


def test_learning_settings_ignore_the_label_and_the_device_only():
    config = {"name": "a", "device": "cuda", "log_every": 5, "precision": "auto", "lr": 0.1, "seed": 3}
    assert learning_settings(config) == {"lr": 0.1, "seed": 3}
    adam = {"optimizer": "adam", "nesterov": True, "momentum": 0.9, "lr": 0.001}
    assert learning_settings(adam) == learning_settings({**adam, "nesterov": False}) == {"optimizer": "adam", "lr": 0.001}
    sgd = {"optimizer": "sgd", "nesterov": True, "momentum": 0.9}
    assert learning_settings(sgd) != learning_settings({**sgd, "nesterov": False})


def test_the_full_mode_script_runs_every_course_lesson_once():
    """benchmarks/full_lessons.sh is how the course's full results are made: a lesson missing from its COURSE never
    gets one (002-X and the P4 chain were)."""
    import re

    from cnnkit.lessons import list_lessons

    script = (Path(__file__).resolve().parents[1] / "benchmarks" / "full_lessons.sh").read_text()
    [order] = re.findall(r'^COURSE="([^"]+)"', script, flags=re.M)
    ids = order.split(",")
    assert len(ids) == len(set(ids))
    assert set(ids) == {lesson.id for lesson in list_lessons() if lesson.source == "course"}
    assert ids.index("000-p4-transfer-chain") > ids.index("000-p3-bn-dropout-augmentation")


def _lab_lesson(lesson_id: str, dataset: str, epochs: int) -> str:
    """A lesson whose one arm is a resolution lab of two models of `epochs` epochs each."""
    text = lesson_text(lesson_id, dataset).split("[[arms]]")[0].replace("epochs = 2\n", f"epochs = {epochs}\n", 1)
    return text + """
[[arms]]
id = "lab"
kind = "resolution_lab"
config = { resolutions = [32, 16], base = { model = "cnn2" } }
"""


def _stopped_during_the_labs_first_model(lesson_id: str) -> str:
    """The group of a full-mode run of the lesson, stopped (as the end of a session stops it) after the second
    epoch of its lab's first model."""
    first = JobManager()
    group = submit_lesson(lesson_id, mode="full", seeds=1, device="cpu", manager=first, queue=False)
    assert resume_group(group, first) == 1
    [job] = first.list(group=group)
    deadline = time.monotonic() + 120
    while len(first.snapshot(job.job_id).history) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.cancel(job.job_id, teacher=True)
    first.wait(job.job_id, timeout=120)
    return group


def _go_on_in_a_new_process(lesson_id: str, group: str):
    """The stopped group's result once a new job manager (the next session) went on with its lab to the end."""
    later = JobManager()
    assert resume_group(group, later) == 1
    [again] = later.list(group=group)
    assert again.label.endswith(", resumed")
    wait_for_group(group, later)
    result = collect_result(lesson_id, group, later)
    assert result.status == "done", result.message
    return result


@pytest.mark.slow
def test_a_resolution_lab_arm_queued_again_goes_on_with_its_lab(teacher_dir):
    from cnnkit.labs import list_labs, load_lab

    (teacher_dir / "res.toml").write_text(_lab_lesson("long-res", tiny_folder("lesson_resume_lab"), epochs=40))
    group = _stopped_during_the_labs_first_model("long-res")
    [lab] = list_labs(kind="resolution")
    [totv] = load_lab(lab.lab_dir).runs
    stopped_at = store.load_run(Path(totv["run_dir"])).epochs_done
    assert 2 <= stopped_at < 40

    result = _go_on_in_a_new_process("long-res", group)
    assert [saved.lab_id for saved in list_labs(kind="resolution")] == [lab.lab_id]   # the same lab went on
    done = load_lab(lab.lab_dir)
    assert done.runs[0]["run_dir"] == totv["run_dir"] and len(store.list_runs()) == 2
    assert store.load_run(Path(totv["run_dir"])).epochs_done == 40
    [arm] = result.arms
    assert set(arm.by_resolution["TVTV"]) == {"32", "16"}


def test_a_group_counts_as_stopped_only_when_its_process_on_this_machine_is_gone(teacher_dir):
    import socket
    import subprocess

    from cnnkit.lessons import stopped_groups

    (teacher_dir / "a.toml").write_text(lesson_text("stop-a", tiny_folder("lesson_stopped")))
    manager = JobManager()
    group = submit_lesson("stop-a", mode="quick", seeds=1, device="cpu", manager=manager, queue=False)
    assert stopped_groups("stop-a", manager) == []                          # its process is this one: alive
    gone = subprocess.Popen(["true"])
    gone.wait()
    result = _result_of_group(group)
    for runner, stopped in ((f"{socket.gethostname()}:{gone.pid}", True), (f"another-host:{gone.pid}", False),
                            ("", False), (f"{socket.gethostname()}:x", False)):
        result.runner = runner
        save_result(result)
        assert [r.group for r in stopped_groups("stop-a", manager)] == ([group] if stopped else []), runner
    result.runner = f"{socket.gethostname()}:{gone.pid}"
    save_result(result)
    assert resume_group(group, manager) == 2
    assert stopped_groups("stop-a", manager) == []                          # this process has its jobs now
    assert _result_of_group(group).runner == f"{socket.gethostname()}:{__import__('os').getpid()}"
    wait_for_group(group, manager)


@pytest.mark.slow
def test_a_stopped_lab_carried_to_another_machine_goes_on_there(teacher_dir, tmp_path, monkeypatch):
    """benchmarks/full_progress.py: the next session may start on a fresh machine with only the repository. A lab
    stopped in the middle of a model, saved, and laid back under another checkpoint folder goes on there after the
    model's last finished epoch, with the epochs it had kept bit for bit."""
    from cnnkit.labs import list_labs, load_lab

    full_progress = load_benchmark("full_progress")
    (teacher_dir / "res.toml").write_text(_lab_lesson("carry-res", tiny_folder("lesson_carry_lab"), epochs=12))
    group = _stopped_during_the_labs_first_model("carry-res")
    old_ckpt = tmp_path / "checkpoints"
    (old_ckpt / "bench_lessons").mkdir(parents=True)          # as bench_lessons.py --resume keeps it
    (old_ckpt / "bench_lessons" / "resume-full.json").write_text(f'{{"carry-res": "{group}"}}')
    [totv] = load_lab(list_labs(kind="resolution")[0].lab_dir).runs
    stopped = store.load_run(Path(totv["run_dir"]))
    kept = store.load_history(stopped.run_dir)["epochs"][:stopped.epochs_done]
    assert 2 <= stopped.epochs_done < 12

    progress = tmp_path / "repository" / "full_progress"
    manifest = full_progress.save(old_ckpt, progress)
    assert manifest["lessons"] == ["carry-res"]
    saved_run = progress / Path(totv["run_dir"]).name
    assert sorted(p.name for p in saved_run.iterdir()) == ["config.json", "run.json", "state.pt"]
    assert str(old_ckpt) not in "".join(p.read_text() for p in progress.rglob("*.json"))

    new_ckpt = tmp_path / "fresh-machine"
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(new_ckpt))
    restored = full_progress.restore(new_ckpt, progress)
    assert "bench_lessons/resume-full.json" in restored and Path(totv["run_dir"]).name in restored
    assert full_progress.restore(new_ckpt, progress) == []        # what is there is never laid over
    result = _go_on_in_a_new_process("carry-res", group)
    [lab] = list_labs(kind="resolution")
    went_on = Path(load_lab(lab.lab_dir).runs[0]["run_dir"])
    assert went_on == new_ckpt / Path(totv["run_dir"]).name    # the same run, in the new folder
    assert store.load_run(went_on).epochs_done == 12
    assert store.load_history(went_on)["epochs"][:len(kept)] == kept
    assert set(result.arms[0].by_resolution["TVTV"]) == {"32", "16"}


def test_progress_carried_to_the_next_machine_is_what_the_unfinished_lessons_need(tmp_path):
    """full_progress.save keeps a running run's commit point (the rest is rebuilt from it), a finished run's weights
    and results (a later lesson may reuse or start from it), and nothing of runs no worker's unfinished lesson
    made or reuses."""
    full_progress = load_benchmark("full_progress")
    ckpt = tmp_path / "ckpt"

    def run(folder: str, name: str, status: str, files: tuple) -> None:
        (ckpt / folder).mkdir(parents=True)
        (ckpt / folder / "run.json").write_text(f'{{"name": "{name}", "status": "{status}", "pid": 7}}')
        for file in ("config.json", "train.lock", *files):
            (ckpt / folder / file).write_text("{}")

    (ckpt / "bench_lessons-second").mkdir(parents=True)
    (ckpt / "bench_lessons-second" / "resume-full.json").write_text(
        '{"les": "lesson-les-1", "shipped": "lesson-shipped-4"}')
    run("going", "les · a · seed 0 [lesson-les-1]", "running", ("state.pt", "last.pt", "best.pt", "history.json"))
    run("finished", "les · b · seed 0 [lesson-les-1]", "done",
        ("state.pt", "last.pt", "best.pt", "history.json", "results.json"))
    run("other", "my own run [lesson-other-2]", "running", ("state.pt",))
    # the lesson started again (more seeds): a new group whose plan reuses the old group's finished run
    run("reused", "les · c · seed 0 [lesson-les-0]", "done", ("state.pt", "last.pt", "results.json"))
    run("old-unused", "les · d · seed 0 [lesson-les-00]", "done", ("last.pt",))
    # a worker's lesson that is collected (shipped): nothing of it is needed again
    run("collected", "shipped · a · seed 0 [lesson-shipped-4]", "done", ("last.pt", "results.json"))
    (ckpt / "labs" / "lesson-shipped-4").mkdir(parents=True)
    (ckpt / "labs" / "lesson-shipped-4" / "lab.json").write_text('{"status": "done", "plan": []}')
    (ckpt / "labs" / "lesson-les-1").mkdir(parents=True)
    (ckpt / "labs" / "lesson-les-1" / "lab.json").write_text(
        f'{{"lab_dir": "{ckpt}/labs/lesson-les-1", "runner": "vm:7", "plan": ['
        '{"arm_id": "c", "name": "les · c · seed 0 [lesson-les-0]"}, {"arm_id": "a", "name": "les · a · seed 0"}]}')
    assert sorted(map(str, full_progress.files_to_keep(ckpt))) == [
        "bench_lessons-second/resume-full.json",
        "finished/best.pt", "finished/config.json", "finished/history.json", "finished/last.pt",
        "finished/results.json", "finished/run.json",
        "going/config.json", "going/run.json", "going/state.pt",
        "labs/lesson-les-1/lab.json",
        "reused/config.json", "reused/last.pt", "reused/results.json", "reused/run.json"]
    progress = tmp_path / "progress"
    full_progress.save(ckpt, progress)
    other = tmp_path / "elsewhere"
    (other / "finished").mkdir(parents=True)                       # there already: newer than the saved one
    assert sorted(full_progress.restore(other, progress)) == [
        "bench_lessons-second/resume-full.json", "going", "labs/lesson-les-1", "reused"]
    lab = json.loads((other / "labs" / "lesson-les-1" / "lab.json").read_text())
    assert (lab["lab_dir"], lab["runner"]) == (f"{other}/labs/lesson-les-1", "")
    assert '"pid": null' in (other / "going" / "run.json").read_text()
    assert list((other / "finished").iterdir()) == []
