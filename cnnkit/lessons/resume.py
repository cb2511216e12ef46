"""Going on with a lesson group whose process ended before it did (a benchmark stopped by the end of a session, an
app restart): every planned run that did not finish is queued again, and a run that stopped after some epochs goes
on after its last finished epoch (cnnkit.store keeps one commit per epoch), so no finished epoch is trained twice;
a resolution lab goes on the same way, model by model (cnnkit.labs.resume_resolution_lab).

Also: a full-mode arm whose exact settings another lesson already trained (the report's base CNN is the first arm
of five 002 lessons) reuses that finished run instead of training it again (`find_finished_twin`).
"""

from __future__ import annotations

import shutil
import socket
from typing import Any, Optional

from cnnkit import store
from cnnkit.jobs import JobManager, get_job_manager, run_is_resumable
from cnnkit.labs.saved import load_lab
from cnnkit.lessons.loader import get_lesson
from cnnkit.lessons.results import LessonResult, save_result, saved_results
from cnnkit.lessons.runner import (_chained_job, _find_lab_by_name, _find_run_by_name, _lab_job,
                                   _result_of_group, _snapshot, running_groups, this_process)
from cnnkit.train import learning_settings


def find_finished_twin(config: Any):
    """A finished run (its cnnkit.store.RunRecord) whose learning settings equal `config`'s (a TrainConfig)."""
    wanted = learning_settings(config.to_dict())
    for record in store.list_runs():
        if record.status == "done" and learning_settings(record.config) == wanted:
            return record
    return None


def _planned_config(lesson, entry: dict, mode: str, device: str):
    arm = lesson.arm(entry["arm_id"])
    config = lesson.arm_config(arm, mode, int(entry["seed"]), device)
    config.name = entry["name"]
    if entry["kind"] == "resolution_lab":
        config.base = {**config.base, "name": entry["name"]}
    return config


def resume_group(group_id: str, manager: Optional[JobManager] = None, owner: str = "",
                 reuse_twins: bool = True) -> int:
    """Queue again whatever the lesson group `group_id` has not finished: a stopped run goes on after its last
    finished epoch, a run that never started (or broke before its first epoch) starts afresh, a resolution-lab arm
    keeps the models its lab finished and goes on with the one it was training. With `reuse_twins`, a train arm
    that has a finished twin (find_finished_twin) takes that run. The group's saved plan gets the new job ids, so
    collect_result follows them. Returns how many jobs were queued.
    ValueError when the group is already collected (its status is not "running")."""
    manager = manager or get_job_manager()
    result = _result_of_group(group_id)
    if result.status != "running":
        raise ValueError(f"lesson run {group_id} is {result.status}: there is nothing to go on with")
    lesson = get_lesson(result.lesson_id)
    device = manager.backend.resolve_device(result.device or "auto")
    queued = 0
    trained: dict[tuple, str] = {}     # (arm id, seed offset) -> its finished run folder, for chained arms
    requeued: dict[tuple, str] = {}    # (arm id, seed offset) -> the job queued again for it now
    for entry in result.plan:
        arm = lesson.arm(entry["arm_id"])
        key = (arm.id, int(entry["seed"]) - lesson.arm_seed(arm))
        known = _snapshot(manager, entry, group_id)
        if known is not None and known.status in ("queued", "running", "done"):
            requeued[key] = known.job_id
            continue                                  # this manager is still on it (or finished it)
        label = f"Lesson {lesson.title}: {lesson.arm(entry['arm_id']).label} (seed {entry['seed']})"
        meta = {"lesson_id": lesson.id, "arm_id": entry["arm_id"], "seed": entry["seed"]}
        if entry["kind"] == "resolution_lab":
            where = _find_lab_by_name(entry["name"])
            if where is not None and load_lab(where, kind="resolution").status == "done":
                continue
            config = _planned_config(lesson, entry, result.mode, device)
            if where is not None:                     # it stopped: it goes on after its last finished epoch
                label += ", resumed"
            entry["job_id"] = manager.submit(_lab_job(config, owner, resume_from=where), label=label, device=device,
                                             group=group_id,
                                             meta={"kind": "lesson", **meta, "config": dict(config.base)},
                                             owner=owner, teacher=True)
            queued += 1
            continue
        run_dir = _find_run_by_name(entry["name"])
        record = store.load_run(run_dir) if run_dir is not None else None
        if record is not None and record.status == "done":
            trained[key] = str(run_dir)
            continue
        if record is not None and run_is_resumable(record) and record.epochs_done > 0:
            config = _planned_config(lesson, entry, result.mode, device)
            if arm.start_from:                        # a chain: go on from the network it started from, not "arm:…"
                config.model = {**config.model, "source": (record.config.get("model") or {}).get("source", "")}
            entry["job_id"] = manager.submit_training(config, label=f"{label}, resumed after epoch {record.epochs_done}",
                                                      group=group_id, resume_from=str(run_dir),
                                                      owner=owner, teacher=True, kind="lesson", meta=meta)
            requeued[key] = entry["job_id"]
            queued += 1
            continue
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)  # broke before its first epoch: nothing to keep
        config = _planned_config(lesson, entry, result.mode, device)
        if arm.start_from:                            # a chain: it starts from the earlier arm's run of its seed
            source = (arm.start_from, key[1])
            if source in trained:
                config.model = {**config.model, "source": trained[source]}
            elif source in requeued:
                entry["job_id"] = manager.submit(
                    _chained_job(config, requeued[source], manager, owner), label=label, device=device,
                    group=group_id, owner=owner, teacher=True,
                    meta={"kind": "lesson", **meta, "config": config.to_dict(), "starts_from": requeued[source]})
                requeued[key] = entry["job_id"]
                queued += 1
                continue
            else:
                raise ValueError(f"{arm.id} starts from {arm.start_from}, whose run of seed {entry['seed']} "
                                 "is neither finished nor queued")
        twin = find_finished_twin(config) if reuse_twins else None
        if twin is not None:
            entry["name"] = twin.config.get("name", entry["name"])
            trained[key] = str(twin.run_dir)
            entry["job_id"] = ""
            continue
        entry["job_id"] = manager.submit_training(config, label=label, group=group_id, owner=owner, teacher=True,
                                                  kind="lesson", meta=meta)
        requeued[key] = entry["job_id"]
        queued += 1
    result.runner = this_process()                    # its jobs are this process's now
    save_result(result)
    return queued


def planned_run_finished(entry: dict) -> bool:
    """Whether a group's planned run (an entry of its plan) has finished: its run, or its resolution lab, is done."""
    if entry["kind"] == "resolution_lab":
        where = _find_lab_by_name(entry["name"])
        return where is not None and load_lab(where, kind="resolution").status == "done"
    record = store.find_run_named(entry["name"])
    return record is not None and record.status in store.FINISHED_STATUSES


def stopped_groups(lesson_id: str, manager: Optional[JobManager] = None) -> list[LessonResult]:
    """The lesson's groups that stopped before their end because the process that queued their jobs is gone (the
    app or the machine restarted): still running, no job of theirs in this manager, their process dead on this
    machine. Newest first. A group of another machine, of a live process, or saved before results recorded their
    process is left alone: it may still be running."""
    manager = manager or get_job_manager()
    active = set(running_groups(lesson_id, manager))
    return [result for result in saved_results(lesson_id) if has_stopped(result, active)]


def has_stopped(result: LessonResult, active_groups: set[str]) -> bool:
    """Whether `result` is a group that stopped before its end: still running, none of its jobs among the manager's
    `active_groups`, its process gone (runner_alive)."""
    return (result.status == "running" and bool(result.plan) and result.group not in active_groups
            and runner_alive(result) is False)


def runner_alive(result: LessonResult) -> Optional[bool]:
    """Whether the process that queues `result`'s jobs is running (this one is); None when that cannot be told
    here: it ran on another machine, or the result was saved before results recorded their process."""
    host, _, pid = result.runner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return store.pid_alive(int(pid))


def go_on_with_group(group_id: str, by: str = "", teacher: bool = False, manager: Optional[JobManager] = None) -> int:
    """Go on with a lesson group that stopped (stopped_groups), asked by `by`: the group's owner or the teacher, else
    NotAllowed; its jobs stay the owner's. Returns how many jobs were queued (resume_group)."""
    from cnnkit.classroom import gate

    manager = manager or get_job_manager()
    result = _result_of_group(group_id)
    gate.check("resume", gate.Actor(by or "", teacher), manager.class_config, target_owner=result.owner,
               what=f"the {result.mode}-mode run of lesson {result.lesson_id}")
    if result.group in running_groups(result.lesson_id, manager):
        raise ValueError("this lesson's run is already going on")
    return resume_group(group_id, manager, owner=result.owner)
