"""Running a lesson: every arm × seed queued as ONE job group through the job manager (fair queue, owners), then
collected into a LessonResult once the group's jobs have ended.

submit_lesson() writes the result's lab folder at once (status "running", with the plan: which job is which arm
and seed) and returns the group id; collect_result() reads each finished run (cnnkit.store; resolution-lab arms
through their saved lab), aggregates mean ± std per arm and saves the result. Run names carry the group id
("… [lesson-…]"), so a group whose jobs the manager no longer knows (an app restart) is still collected from disk.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

from cnnkit.jobs import FINISHED, JobManager, JobSnapshot, get_job_manager, new_group_id
from cnnkit.labs.saved import labs_dir, list_labs, load_lab
from cnnkit.lessons.loader import get_lesson
from cnnkit.lessons.results import (LessonResult, SeedRun, aggregate_arm, latest_result, read_resolution_lab,
                                    read_train_run, run_backbone, save_result, saved_results, shipped_result)
from cnnkit.lessons.schema import MODES, Lesson

GROUP_PREFIX = "lesson-"
GPU_SEEDS = 3                    # default repeats on a GPU: enough for a std
CPU_SEEDS = 1                    # default repeats on a CPU: a classroom laptop runs each arm once
MAX_SEEDS = 10
STATUSES = ("not run", "running", "stopped", "results", "shipped results")


def default_seeds(device: str) -> int:
    """How many seeds an arm repeats over by default on `device` (a resolved device name)."""
    return GPU_SEEDS if str(device).startswith("cuda") else CPU_SEEDS


def _group_pattern(lesson_id: str) -> re.Pattern:
    # new_group_id(prefix) appends HHMMSS-xxxx; matching the whole id keeps "a" from claiming "a-b"'s groups.
    return re.compile(rf"^{re.escape(GROUP_PREFIX + lesson_id)}-\d{{6}}-[0-9a-f]{{4}}$")


def _seed_list(lesson: Lesson, seeds: Union[int, Sequence[int], None], device: str) -> list[int]:
    """Repeat offsets: an int n gives 0..n-1 (added to each arm's own seed), a list gives those offsets."""
    if seeds is None:
        seeds = default_seeds(device)
    if isinstance(seeds, bool):
        raise ValueError("seeds must be a whole number of repeats (1 or more) or a list of seeds")
    if isinstance(seeds, int):
        if not 1 <= seeds <= MAX_SEEDS:
            raise ValueError(f"seeds must be between 1 and {MAX_SEEDS} (got {seeds})")
        return list(range(seeds))
    offsets = [int(s) for s in seeds]
    if not 1 <= len(offsets) <= MAX_SEEDS or len(set(offsets)) != len(offsets):
        raise ValueError(f"give 1 to {MAX_SEEDS} different seeds (got {list(seeds)})")
    return offsets


def _with_subset(config: Any, subset: Optional[int]) -> Any:
    if not subset:
        return config
    if subset < 1:
        raise ValueError(f"subset must be a number of training images, 1 or more (got {subset})")
    if hasattr(config, "base"):
        config.base = {**config.base, "train_subset": int(subset)}
    else:
        config.train_subset = int(subset)
    return config


def planned_configs(lesson: Lesson, mode: str = "quick", seeds: Union[int, Sequence[int], None] = None,
                    device: str = "auto", subset: Optional[int] = None) -> list[dict]:
    """What submit_lesson queues, without queueing: {arm_id, kind, seed, config, backbone} per arm and seed
    (backbone: a transfer arm's pretrained source, its original_source when those weights are offline)."""
    if mode not in MODES:
        raise ValueError(f"unknown lesson mode {mode!r}; choose one of {', '.join(MODES)}")
    offsets = _seed_list(lesson, seeds, device)
    plan = []
    for arm in lesson.arms:
        for offset in offsets:
            seed = lesson.arm_seed(arm) + offset
            config = _with_subset(lesson.arm_config(arm, mode, seed, device), subset)
            plan.append({"arm_id": arm.id, "kind": arm.kind, "seed": seed, "config": config,
                         "backbone": run_backbone({"model": getattr(config, "model", None)})})
    return plan


def data_description(plan: list[dict]) -> str:
    """Which data the plan's runs train on, per dataset in words ("cifar10: the 6,000 + 1,000-image subset that
    ships with CNN Lab (...)"), as the registry describes it now."""
    names = []
    for entry in plan:
        config = entry["config"]
        names.append((config.base.get("dataset") if hasattr(config, "base") else getattr(config, "dataset", "")) or "")
    return describe_datasets(names)


def describe_datasets(names: Sequence[str]) -> str:
    """Datasets (each once, in order) as the registry describes them now, "; "-separated."""
    from cnnkit.data import dataset_info

    parts = []
    for name in dict.fromkeys(n for n in names if n):
        try:
            info = dataset_info(name)
            parts.append(f"{name}: {info.description}" if info.available else f"{name}: not available ({info.reason})")
        except (ValueError, OSError):
            parts.append(name)
    return "; ".join(parts)


def _datasets(lesson: Lesson, mode: str) -> list[str]:
    """The datasets the lesson's arms train on in `mode`, each once, in the arms' order."""
    names = (str(arm.train_settings(mode).get("dataset") or "") for arm in lesson.arms)
    return [name for name in dict.fromkeys(names) if name]


def data_caveats(lesson: Union[Lesson, str], mode: str) -> list[str]:
    """What a run of the lesson in `mode` would train on here that is not what the mode promises, one sentence per
    dataset: not available (and why), or, in full mode (the report's settings), only the small subset that ships
    with CNN Lab. Empty when the data is as the mode needs it."""
    from cnnkit.data import dataset_info

    lesson = get_lesson(lesson) if isinstance(lesson, str) else lesson
    notes: list[str] = []
    for name in _datasets(lesson, mode):
        try:
            info = dataset_info(name)
        except (ValueError, OSError) as error:
            notes.append(f"{name} cannot be read here ({error}): this lesson cannot run in {mode} mode.")
            continue
        if not info.available:
            notes.append(f"{name} is not on this machine ({info.reason}): this lesson cannot run in {mode} mode.")
        elif mode == "full" and info.shipped_subset:
            notes.append(f"Only {info.description} is here, so full mode would train on {info.num_train:,} "
                         f"{name} images instead of the report's whole training set: its figures would not be the "
                         "report's settings (the shipped full-mode result, when there is one, was made with the "
                         "whole set).")
    return notes


def _lab_job(config: Any, owner: str, resume_from: Optional[Path] = None):
    """The job function of a resolution-lab arm (it runs in a thread of the app, as the Resolution lab page's);
    resume_from: the folder of the arm's lab that stopped before its end, to go on with."""
    def job(context):
        from cnnkit.labs import resume_resolution_lab, run_resolution_lab

        if resume_from is not None:
            return resume_resolution_lab(resume_from, on_progress=context.progress, cancel_event=context.cancel_event)
        return run_resolution_lab(config, on_progress=context.progress, cancel_event=context.cancel_event,
                                  owner=owner)

    return job


def _chained_job(config: Any, after: str, manager: JobManager, owner: str, poll_s: float = 0.5):
    """The job function of an arm that starts from an earlier arm's trained network (start_from): wait for that
    arm's job of the same seed (queued before it, so it ends first), put its run folder in as the transfer source,
    then train. A failed or stopped earlier run fails this one with a message saying so."""
    def job(context):
        import cnnkit.transfer  # noqa: F401  registers the "transfer" model kind
        from cnnkit.train import train

        while True:
            snap = manager.snapshot(after)
            if snap.status in FINISHED:
                break
            if context.cancel_event.wait(poll_s):
                from cnnkit.cancellation import Cancelled

                raise Cancelled("stopped while waiting for the arm it starts from")
        if snap.status != "done" or not snap.run_dir:
            raise ValueError(f"it starts from {snap.label}, which ended {snap.status}"
                             + (f" ({snap.error})" if snap.error else ""))
        config.model = {**config.model, "source": str(snap.run_dir)}
        return train(config, on_progress=context.progress, cancel_event=context.cancel_event, owner=owner,
                     thread_cap=context.thread_share)

    return job


def this_process() -> str:
    """"host:pid" of this process: a lesson result's runner."""
    return f"{socket.gethostname()}:{os.getpid()}"


def submit_lesson(lesson_id: str, mode: str = "quick", seeds: Union[int, Sequence[int], None] = None,
                  device: str = "auto", owner: str = "", manager: Optional[JobManager] = None,
                  subset: Optional[int] = None, limits: Any = None, teacher: bool = False, queue: bool = True) -> str:
    """Queue every arm × seed of the lesson as one job group; returns the group id. `queue=False` only saves the
    group's plan (cnnkit.lessons.resume.resume_group then queues what is not trained yet). Seeds default to 3 on a GPU and
    1 on a CPU. `limits`: a cnnkit.classroom ClassroomConfig whose limits every run must keep (a student's Run on the
    page; None: none checked here). Raises ValueError (unknown mode, bad seeds, a config that cannot train, a run over
    the class's limits, not enough queue room) before anything is queued."""
    lesson = get_lesson(lesson_id)
    manager = manager or get_job_manager()
    resolved = manager.backend.resolve_device(device)
    plan = planned_configs(lesson, mode, seeds, resolved, subset)
    for entry in plan:
        entry["config"].validate()
        if limits is not None:
            from cnnkit.classroom.config import check_run_allowed

            config = entry["config"]
            check_run_allowed(config.train_config() if hasattr(config, "train_config") else config, limits)
    room = manager.queue_room(owner)
    if room < len(plan):
        raise ValueError(f"this lesson queues {len(plan)} runs but you may queue {room} more now (the class's cap on "
                         "waiting runs): run fewer seeds or wait")
    group = new_group_id(f"{GROUP_PREFIX}{lesson.id}-")
    lab_dir = labs_dir() / group
    result = LessonResult(lesson_id=lesson.id, mode=mode, device=resolved, seeds=[], owner=owner,
                          created=time.time(), lab_id=group, lab_dir=str(lab_dir), status="running", group=group,
                          lesson_title=lesson.title, runner=this_process())
    first_arm = lesson.arms[0].id
    result.seeds = [e["seed"] for e in plan if e["arm_id"] == first_arm]
    result.data = data_description(plan)
    lab_dir.mkdir(parents=True, exist_ok=False)
    save_result(result)
    submitted: list[str] = []
    try:
        for entry in plan:
            config, arm = entry["config"], lesson.arm(entry["arm_id"])
            tag = " · quick" if mode == "quick" else ""
            name = f"{lesson.id} · {arm.id} · seed {entry['seed']}{tag} [{group}]"
            label = f"Lesson {lesson.title}: {arm.label} (seed {entry['seed']}{tag})"
            if not queue:
                job_id = ""
            elif arm.start_from:
                config.name = name
                offset = entry["seed"] - lesson.arm_seed(arm)
                after = next(e["job_id"] for e in result.plan if e["arm_id"] == arm.start_from
                             and e["seed"] - lesson.arm_seed(lesson.arm(arm.start_from)) == offset)
                job_id = manager.submit(_chained_job(config, after, manager, owner), label=label, device=resolved,
                                        group=group, owner=owner, teacher=teacher,
                                        meta={"kind": "lesson", "lesson_id": lesson.id, "arm_id": arm.id,
                                              "seed": entry["seed"], "config": config.to_dict(),
                                              "starts_from": after})
            elif entry["kind"] == "resolution_lab":
                config.name = name
                config.base = {**config.base, "name": name}
                job_id = manager.submit(_lab_job(config, owner), label=label, device=resolved, group=group,
                                        meta={"kind": "lesson", "lesson_id": lesson.id, "arm_id": arm.id,
                                              "seed": entry["seed"], "config": dict(config.base)},
                                        owner=owner, teacher=teacher)
            else:
                config.name = name
                job_id = manager.submit_training(config, label=label, group=group, owner=owner, teacher=teacher,
                                                 kind="lesson", meta={"lesson_id": lesson.id, "arm_id": arm.id,
                                                                      "seed": entry["seed"]})
            submitted.append(job_id)
            result.plan.append({"arm_id": arm.id, "kind": entry["kind"], "seed": entry["seed"], "job_id": job_id,
                                "name": name, **({"backbone": entry["backbone"]} if entry["backbone"] else {})})
    except BaseException:
        for job_id in submitted:
            manager.cancel(job_id, teacher=True)  # undoing this call's own queueing, not a user's Stop
        result.status, result.message = "cancelled", "could not queue every run; none was kept"
        save_result(result)
        raise
    save_result(result)
    return group


# --- collecting -----------------------------------------------------------------------------------------------
def _result_of_group(group_id: str) -> LessonResult:
    try:
        result = load_lab(group_id, kind="lesson")
    except FileNotFoundError:
        raise ValueError(f"no lesson run {group_id!r} (no saved lab of that id)") from None
    return result


def _snapshot(manager: JobManager, entry: dict, group_id: str) -> Optional[JobSnapshot]:
    """The manager's snapshot of a planned job (a plan entry), when this manager is the one that ran it: same
    group, same arm and seed. A job id is a process's own ("job-3"): a plan resumed in another process keeps
    the ids of the one before, which this process gives to other jobs (two sessions took one arm's job for
    another's, and a whole lesson's arms for its last one)."""
    job_id = entry.get("job_id") or ""
    if not job_id:
        return None
    try:
        snap = manager.snapshot(job_id)
    except KeyError:
        return None
    mine = (snap.group == group_id and snap.meta.get("arm_id") == entry["arm_id"]
            and snap.meta.get("seed") == entry["seed"])
    return snap if mine else None


def _find_run_by_name(name: str) -> Optional[Path]:
    """A run folder whose config name is `name` (a group's run after the manager forgot the job)."""
    from cnnkit import store

    record = store.find_run_named(name)
    return Path(record.run_dir) if record is not None else None


def _find_lab_by_name(name: str) -> Optional[Path]:
    for entry in list_labs(kind="resolution"):
        if entry.result is not None and entry.result.config.get("name") == name:
            return Path(entry.lab_dir)
    return None


def group_jobs(group_id: str, manager: Optional[JobManager] = None) -> list[JobSnapshot]:
    manager = manager or get_job_manager()
    return manager.list(group=group_id)


def lesson_jobs(group_id: str, manager: Optional[JobManager] = None) -> list[dict]:
    """The group's jobs with the arm and seed each one trains (for live curves per arm):
    {arm_id, seed, kind, job_id, name, snapshot (a JobSnapshot, None when this manager does not know the job)}."""
    manager = manager or get_job_manager()
    result = _result_of_group(group_id)
    return [{**entry, "snapshot": _snapshot(manager, entry, group_id)} for entry in result.plan]


def collect_result(lesson_id: str, group_id: str, manager: Optional[JobManager] = None) -> LessonResult:
    """Aggregate a finished group's runs into its LessonResult and save it (lab kind "lesson"). Collecting again
    returns the saved result. ValueError while some of its jobs are still queued or running."""
    manager = manager or get_job_manager()
    with _COLLECT_LOCK:   # two sessions polling the same lesson collect it once
        return _collect(lesson_id, group_id, manager)


_COLLECT_LOCK = threading.Lock()


def _collect(lesson_id: str, group_id: str, manager: JobManager) -> LessonResult:
    result = _result_of_group(group_id)
    if result.lesson_id != lesson_id:
        raise ValueError(f"lesson run {group_id!r} is of lesson {result.lesson_id!r}, not {lesson_id!r}")
    if result.status != "running":
        return result
    snaps = [_snapshot(manager, e, group_id) for e in result.plan]  # by plan entry: ids may repeat (see _snapshot)
    waiting = [s for s in snaps if s is not None and s.status not in FINISHED]
    if waiting:
        raise ValueError(f"lesson {lesson_id} is still running: {len(snaps) - len(waiting)} of {len(snaps)} runs "
                         "have ended; collect it when all have")
    lesson_arms: dict[str, list[SeedRun]] = {}
    planned: dict[str, int] = {}
    problems: list[str] = []
    started, ended = [], []
    for entry, snap in zip(result.plan, snaps):
        arm_id, seed = entry["arm_id"], int(entry["seed"])
        planned[arm_id] = planned.get(arm_id, 0) + 1
        lesson_arms.setdefault(arm_id, [])
        if snap is not None:
            started += [snap.started] if snap.started else []
            ended += [snap.ended] if snap.ended else []
            if snap.status != "done":
                problems.append(f"{arm_id} seed {seed}: {snap.status}" + (f" ({snap.error or snap.message})"
                                                                         if (snap.error or snap.message) else ""))
                continue
        try:
            if entry["kind"] == "resolution_lab":
                where = (snap.meta.get("lab_dir") if snap is not None else None) or _find_lab_by_name(entry["name"])
                if not where:
                    raise ValueError("its resolution lab was not saved")
                seed_run = read_resolution_lab(where, seed)
                lab = load_lab(Path(where), kind="resolution")
                result.runs += [{"run_dir": r["run_dir"], "label": r.get("label", ""), "arm_id": arm_id, "seed": seed}
                                for r in lab.runs]
            else:
                where = (snap.run_dir if snap is not None else None) or _find_run_by_name(entry["name"])
                if not where:
                    raise ValueError("it never started")
                seed_run = read_train_run(where, seed)
                result.runs.append({"run_dir": str(where), "label": entry["name"], "arm_id": arm_id, "seed": seed})
        except (ValueError, FileNotFoundError, OSError, KeyError) as error:
            problems.append(f"{arm_id} seed {seed}: {error}")
            continue
        lesson_arms[arm_id].append(seed_run)
    result.arms = [aggregate_arm(arm_id, runs, planned[arm_id]) for arm_id, runs in lesson_arms.items()]
    if not result.data:   # a group started before results said which data made them: the lesson's data now
        try:
            result.data = describe_datasets(_datasets(get_lesson(lesson_id), result.mode))
        except (KeyError, ValueError):
            pass
    devices = [r.device for runs in lesson_arms.values() for r in runs if r.device]
    result.device = devices[0] if devices else result.device
    result.device_label = _device_label(result.device, [r.threads for runs in lesson_arms.values() for r in runs])
    result.cpu_instructions = "/".join(sorted({r.cpu_instructions for runs in lesson_arms.values() for r in runs
                                               if r.cpu_instructions}))
    if started and ended:
        result.seconds = round(max(ended) - min(started), 2)
    else:
        result.seconds = round(sum(a.seconds for a in result.arms), 2)
    finished = sum(len(runs) for runs in lesson_arms.values())
    if finished == 0:
        result.status = "cancelled" if all(s is not None and s.status == "cancelled" for s in snaps) \
            else "failed"
    else:
        result.status = "done" if finished == len(result.plan) else "partial"
    result.message = "; ".join(problems)[:2000]
    save_result(result)
    return result


def _device_label(device: str, threads: Sequence[int] = ()) -> str:
    """Where the runs trained, in words (they trained on this machine's backend, so it can be described here). On a
    CPU the thread count is the runs' own (each run records its choice), not this process's: "CPU (1 thread)",
    "CPU (1-2 threads)" when they differ."""
    from cnnkit.device import describe_device

    try:
        label = describe_device(device).label()
    except (ValueError, RuntimeError, AssertionError):
        return str(device)
    used = sorted({t for t in threads if t})
    if label.startswith("CPU") and used:
        count = str(used[0]) if len(used) == 1 else f"{used[0]}-{used[-1]}"
        label = f"CPU ({count} thread{'' if count == '1' else 's'})"
    return label


def cancel_lesson(group_id: str, by: Optional[str] = None, teacher: bool = False,
                  manager: Optional[JobManager] = None) -> int:
    """Stop every queued or running job of a lesson's group (`by`: only its owner or the teacher may; None: the app
    itself). Returns how many were stopped; collect_result then keeps what finished (status partial or cancelled)."""
    manager = manager or get_job_manager()
    stopped = 0
    for snap in manager.list(group=group_id):
        if not snap.finished:
            # by None: the app itself (e.g. a shutdown), which acts with the teacher's rights
            manager.cancel(snap.job_id, by=by or "", teacher=teacher or by is None)
            stopped += 1
    return stopped


def collect_finished(lesson_id: Optional[str] = None, manager: Optional[JobManager] = None) -> list[LessonResult]:
    """Collect every running lesson result whose jobs this manager ran and which have all ended (a page calls it on
    each poll; the Run's own session may be gone). Groups the manager does not know are left alone: another
    process may be running them."""
    manager = manager or get_job_manager()
    collected = []
    for result in saved_results(lesson_id):
        if result.status != "running" or not result.plan:
            continue
        snaps = [_snapshot(manager, e, result.group) for e in result.plan]
        if any(s is None for s in snaps) or any(not s.finished for s in snaps):
            continue
        try:
            collected.append(collect_result(result.lesson_id, result.group, manager))
        except ValueError:
            continue
    return collected


def running_groups(lesson_id: str, manager: Optional[JobManager] = None) -> list[str]:
    """The lesson's job groups with a queued or running job in this manager."""
    manager = manager or get_job_manager()
    pattern = _group_pattern(lesson_id)
    return list(dict.fromkeys(s.group for s in manager.active() if pattern.match(s.group)))


def lesson_status(lesson_id: str, owner: str = "", manager: Optional[JobManager] = None) -> str:
    """"running" (a job of it is queued or training), "stopped" (a run of it stopped before its end: its process is
    gone, cnnkit.lessons.resume.stopped_groups), "results" (a finished result of this install), "shipped results"
    (only the one that ships) or "not run". Finished groups are collected on the way."""
    from cnnkit.lessons.resume import stopped_groups

    manager = manager or get_job_manager()
    if running_groups(lesson_id, manager):
        return "running"
    if stopped_groups(lesson_id, manager):
        return "stopped"
    collect_finished(lesson_id, manager)
    if any(r.status in ("done", "partial") for r in saved_results(lesson_id)):
        return "results"
    if any(shipped_result(lesson_id, mode) is not None for mode in MODES):
        return "shipped results"
    return "not run"


def run_lesson(lesson_id: str, mode: str = "quick", seeds: Union[int, Sequence[int], None] = None,
               device: str = "auto", subset: Optional[int] = None, owner: str = "",
               manager: Optional[JobManager] = None, on_event: Optional[Callable[[dict], None]] = None,
               poll_s: float = 0.5) -> LessonResult:
    """Submit the lesson, wait for its group to end and collect it (the CLI and bench_lessons.py). `on_event` gets
    {"kind": "job", "label", "status"} when a job starts or ends and {"kind": "epoch", "label", "row"} per epoch.
    KeyboardInterrupt stops the group's jobs and is raised again."""
    manager = manager or get_job_manager()
    group = submit_lesson(lesson_id, mode, seeds, device, owner, manager, subset)
    wait_for_group(group, manager, on_event, poll_s)
    return collect_result(lesson_id, group, manager)


def wait_for_group(group: str, manager: Optional[JobManager] = None,
                   on_event: Optional[Callable[[dict], None]] = None, poll_s: float = 0.5) -> None:
    """Block until every job of `group` has ended; `on_event` as run_lesson's. KeyboardInterrupt stops the group's
    jobs and is raised again."""
    manager = manager or get_job_manager()
    emit = on_event or (lambda event: None)
    seen_status: dict[str, str] = {}
    seen_epochs: dict[str, int] = {}
    try:
        while True:
            snaps = manager.list(group=group)
            for snap in snaps:
                if seen_status.get(snap.job_id) != snap.status:
                    seen_status[snap.job_id] = snap.status
                    emit({"kind": "job", "label": snap.label, "status": snap.status, "error": snap.error,
                          "group": group})
                rows = snap.history
                for row in rows[seen_epochs.get(snap.job_id, 0):]:
                    emit({"kind": "epoch", "label": snap.label, "row": row})
                seen_epochs[snap.job_id] = len(rows)
            if all(s.finished for s in snaps):
                return
            time.sleep(poll_s)
    except KeyboardInterrupt:
        for snap in manager.list(group=group):
            if not snap.finished:
                manager.cancel(snap.job_id)
        raise


def lesson_statuses(lesson_ids: Optional[Sequence[str]] = None, manager: Optional[JobManager] = None) -> dict[str, str]:
    """lesson_status for many lessons in one pass over the saved results (the Lessons page's listing)."""
    manager = manager or get_job_manager()
    if lesson_ids is None:
        from cnnkit.lessons.loader import list_lessons

        lesson_ids = [lesson.id for lesson in list_lessons()]
    from cnnkit.lessons.resume import has_stopped

    collect_finished(None, manager)
    active = {s.group for s in manager.active()}
    saved = saved_results()
    finished = {r.lesson_id for r in saved if r.status in ("done", "partial")}
    stopped = {r.lesson_id for r in saved if has_stopped(r, active)}
    out = {}
    for lesson_id in lesson_ids:
        pattern = _group_pattern(lesson_id)
        if any(pattern.match(group) for group in active):
            out[lesson_id] = "running"
        elif lesson_id in stopped:
            out[lesson_id] = "stopped"
        elif lesson_id in finished:
            out[lesson_id] = "results"
        elif any(shipped_result(lesson_id, mode) is not None for mode in MODES):
            out[lesson_id] = "shipped results"
        else:
            out[lesson_id] = "not run"
    return out


# --- estimates ------------------------------------------------------------------------------------------------
ROUGH_IMAGES_PER_S = {"cpu": 800.0, "cuda": 15000.0, "mps": 4000.0}   # small CNNs at 32 px, a rough guide
RUN_OVERHEAD_S = 5.0             # loading the data and building the model, per training
EVAL_SPEEDUP = 3.0               # an evaluation pass is about this much faster per image than a training step


@dataclass
class LessonEstimate:
    seconds: float
    measured: bool                 # from measured throughput (a result's images/s, or timed steps), else a guess
    device: str                    # where it was measured (or the device the rough figure is for)
    text: str                      # one line for the page and the CLI
    source: str = "rough"          # "results" (images/s of this lesson's runs), "timed" (steps timed here), "rough"

    def to_dict(self) -> dict:
        return {"seconds": self.seconds, "measured": self.measured, "device": self.device, "text": self.text,
                "source": self.source}


def _device_kind(device: str) -> str:
    device = str(device)
    return "cuda" if device.startswith("cuda") else ("mps" if device == "mps" else "cpu")


def _pixels(settings: dict) -> int:
    """Input pixels a training step sees (train_resolution when it does not resize back up, else image_size)."""
    size = settings.get("image_size") or 32
    if settings.get("train_resolution") and settings.get("restore_size") is False:
        size = settings["train_resolution"]
    return int(size) ** 2


def _trainings(arm, mode: str) -> int:
    """Trainings one run of the arm makes: a resolution lab trains once per resolution, other arms once."""
    if arm.kind != "resolution_lab":
        return 1
    resolutions = (arm.quick if mode == "quick" else {}).get("resolutions") or arm.config.get("resolutions")
    return len(resolutions or [32, 16, 8])


class MeasuredPace(NamedTuple):
    """An arm's measured pace: images trained per second, where it was measured, and whether the evaluations are
    in it (a run of today's settings: its images over its whole time) or not (the training loop's own images/s:
    the estimate adds the evaluations and the loading)."""

    rate: float
    where: str
    evaluations_included: bool


def measured_rates(lesson: Lesson, mode: str, device: str) -> tuple[dict[str, MeasuredPace], Optional[float]]:
    """From this lesson's own and shipped results on this kind of device (the same mode's first): per arm id, its
    pace, and the seconds a run costs outside its own time (loading the data, building; the result's wall time
    less its runs', from the same mode's results when there are any: full mode loads the whole dataset), None
    when no result says.

    A result of the same mode whose runs trained today's number of epochs gives the pace with the evaluations in
    it (the images each epoch trained, from its history's images_per_s × seconds, over the run's time): exact when
    nothing changed. A result of the other mode, or of settings changed since (another number of epochs), gives
    the training loop's own images/s (the median epoch's), scaled by the input pixels (quick may train at a lower
    resolution): an evaluation share measured on other split sizes would not carry over. Never from a mode that
    trains another network."""
    kind = _device_kind(device)
    rates: dict[str, MeasuredPace] = {}
    overheads: dict[str, list[float]] = {each: [] for each in MODES}
    candidates = []
    for each in sorted(MODES, key=lambda m: m != mode):
        own = [r for r in saved_results(lesson.id, each) if r.status in ("done", "partial")]
        shipped = shipped_result(lesson.id, each)
        candidates += [(each, r) for r in own + ([shipped] if shipped else [])]
    for each, result in candidates:
        if _device_kind(result.device) != kind:
            continue
        runs = sum(len(a.seeds) for a in result.arms)
        inside = sum(a.seconds for a in result.arms)
        if runs and result.seconds > inside > 0:
            overheads[each].append((result.seconds - inside) / runs)
        for ours in result.arms:
            if ours.arm_id in rates or not ours.seeds or ours.seconds <= 0:
                continue
            try:
                arm = lesson.arm(ours.arm_id)
            except KeyError:
                continue
            histories = [[row for row in history if isinstance(row, dict)] for history in ours.histories]
            where = result.device_label or result.device
            measured_settings, settings_now = arm.train_settings(each), arm.train_settings(mode)
            epochs_now = int(settings_now.get("epochs", 8))
            if each == mode and histories and all(len(h) == epochs_now for h in histories):
                trained = [sum(float(row.get("images_per_s") or 0) * float(row.get("seconds") or 0) for row in h)
                           for h in histories]
                trained = [t for t in trained if t > 0]
                if trained:
                    # a resolution lab's seconds cover all its trainings; its history is one of them (TOTV's)
                    run_seconds = _typical_run_seconds(ours.seconds / len(ours.seeds), histories)
                    rate = (sum(trained) / len(trained)) * _trainings(arm, each) / run_seconds
                    rates[ours.arm_id] = MeasuredPace(rate, where, True)
                    continue
            if measured_settings.get("model") != settings_now.get("model"):
                continue     # another network (001-Q1's quick mode trains cnn3, full mode vgg6): its pace says nothing
            paces = sorted(float(row.get("images_per_s") or 0) for h in histories for row in h
                           if float(row.get("images_per_s") or 0) > 0)
            if not paces:
                continue
            rate = paces[len(paces) // 2]
            rate *= _pixels(measured_settings) / max(1, _pixels(settings_now))
            rates[ours.arm_id] = MeasuredPace(rate, where, False)
    same = overheads[mode] or [o for each in MODES for o in overheads[each]]
    return rates, (sorted(same)[len(same) // 2] if same else None)


STRETCHED_EPOCH = 3.0   # an epoch over this many times the median epoch was stopped or crowded out: counted at this


def _typical_run_seconds(run_seconds: float, histories: list[list[dict]]) -> float:
    """A run's seconds with no epoch counted longer than STRETCHED_EPOCH × the median epoch: an epoch stretched by
    something else (its process stopped for minutes, the machine busy) does not set the pace of the others, while
    the usual spread (a first epoch's warm-up, some load) stays in. Its time outside the epochs (loading, building,
    the test pass) is kept as it was."""
    epoch_seconds = sorted(float(row.get("seconds") or 0) for h in histories for row in h
                           if float(row.get("seconds") or 0) > 0)
    if not epoch_seconds:
        return run_seconds
    outside = max(0.0, run_seconds - sum(epoch_seconds) / len(histories))
    most = STRETCHED_EPOCH * epoch_seconds[len(epoch_seconds) // 2]
    return sum(min(seconds, most) for seconds in epoch_seconds) / len(histories) + outside


def runs_seconds(result: LessonResult) -> float:
    """The time a lesson's runs trained, summed over its arms and seeds: each run's epochs, none counted longer than
    STRETCHED_EPOCH × that run's median epoch (a process stopped for minutes is not the lesson's time), plus its
    time outside the epochs where its record holds it (loading, the test pass; a resolution lab's other trainings).
    A run resumed in a later process counts its epochs from before the stop too. The result's own `seconds`, first
    start to last end, counts stops and, for a resumed lesson, only what the last process saw."""
    total = 0.0
    for arm in result.arms:
        histories = [[row for row in history if isinstance(row, dict)] for history in arm.histories]
        if not histories:
            total += arm.seconds
            continue
        per_run = arm.seconds / max(1, len(histories))
        total += sum(_typical_run_seconds(per_run, [history]) for history in histories)
    return total


def _label_threads(label: str) -> Optional[tuple[int, int]]:
    """The thread counts a CPU result's runs used, from its device label (_device_label's "CPU (1 thread)",
    "CPU (1-2 threads)"): (fewest, most); None for another device or an older label without a count."""
    found = re.fullmatch(r"CPU \((\d+)(?:-(\d+))? threads?\)", label or "")
    if not found:
        return None
    return int(found.group(1)), int(found.group(2) or found.group(1))


def threads_here() -> int:
    """The CPU threads a run started here now would train on, alone on the machine: the user's own count
    (--threads, CNNKIT_THREADS, OMP_NUM_THREADS), else every core (the tuner keeps the fastest count, on a quiet
    machine all of them)."""
    from cnnkit import threads as thread_rules

    explicit = thread_rules.explicit_threads()
    return explicit[0] if explicit else thread_rules.cpu_count()


def _carry_to_threads(rates: dict[str, MeasuredPace], here: int, speedup: Callable[[int, int], float]
                      ) -> tuple[dict[str, MeasuredPace], str]:
    """Paces measured on another CPU thread count, carried over to `here` threads by `speedup(here, theirs)`; with
    the words that say so ("" when none needed it)."""
    out, factors = {}, {}
    for arm_id, pace in rates.items():
        used = _label_threads(pace.where)
        if used is None or used[0] <= here <= used[1]:
            out[arm_id] = pace
            continue
        theirs = used[1] if here > used[1] else used[0]
        if theirs not in factors:
            factors[theirs] = speedup(here, theirs)
        out[arm_id] = pace._replace(rate=pace.rate * factors[theirs])
    if not factors:
        return out, ""
    said = ", ".join(f"×{f:.2f} from {t} thread{'s' if t > 1 else ''}" for t, f in sorted(factors.items()))
    return out, f", carried to the {here} thread{'s' if here > 1 else ''} here ({said}, a step timed at each)"


# A training in a worker process that is not running yet waits for one to start: a new Python importing torch and
# cnnkit.train, 1.84 s (median of 5) on the quiet 2-core box (benchmarks/bench_worker_start.py; the 4.9 s once
# timed here was with two background trainings on both cores). A shipped result paid it once over all its runs, a
# teacher's first run after the pool went idle pays it again.
WORKER_START_S = 2.0


def worker_start_seconds(manager: Optional[JobManager] = None) -> float:
    """The wait before a lesson's first training starts: WORKER_START_S when the job manager's backend trains in
    worker processes and none is warm now, else 0 (threads, Ray's own workers, or a warm pool)."""
    backend = getattr(manager or get_job_manager(), "backend", None)
    warm = getattr(backend, "has_warm_worker", None)
    return 0.0 if warm is None or warm() else WORKER_START_S


def estimate_lesson_seconds(lesson: Union[Lesson, str], mode: str = "quick", device: str = "cpu",
                            seeds: Optional[int] = None, measure: Optional[Callable[..., Any]] = None,
                            speedup: Optional[Callable[[int, int], float]] = None,
                            manager: Optional[JobManager] = None) -> LessonEstimate:
    """About how long the lesson takes in `mode` with its current settings: per arm, its epochs × training images
    (and the evaluations) at a measured pace, plus loading, summed over the arms and seeds (the queue runs one
    at a time per device). The pace is, per arm: the images/s its runs reached in a result of this lesson on this
    kind of device (same mode first), on a CPU carried to the threads a run here uses (threads_here) by
    `speedup(here, theirs)` (default cnnkit.train.estimate.thread_speedup, timed here, kept 10 minutes) where the
    result's runs used another count; else, with `measure` (cnnkit.train.estimate.measure_step_cost or a cached
    wrapper), a few steps of its network timed here; else a rough figure, said so. Plus, once, the wait for a
    training process to start when `manager` (default: the app's) has none warm (worker_start_seconds)."""
    from cnnkit.formatting import format_seconds

    lesson = get_lesson(lesson) if isinstance(lesson, str) else lesson
    repeats = seeds or default_seeds(device)
    kind = _device_kind(device)
    rates, overhead = measured_rates(lesson, mode, device)
    carried = ""
    if kind == "cpu" and rates:
        if speedup is None:
            from cnnkit.train.estimate import thread_speedup as speedup
        rates, carried = _carry_to_threads(rates, threads_here(), speedup)
    overhead = RUN_OVERHEAD_S if overhead is None else overhead
    seconds, sources, wheres = 0.0, set(), set()
    for arm in lesson.arms:
        settings = arm.train_settings(mode)
        epochs = int(settings.get("epochs", 8))
        train_size, test_size = _split_sizes(str(settings.get("dataset", "shapes")))
        val_size = int(round(train_size * float(settings.get("val_fraction", 0.1))))
        test_size = min(int(settings.get("test_subset") or 0) or test_size, test_size)
        images = min(int(settings.get("train_subset") or 0) or (train_size - val_size), train_size - val_size)
        trainings = _trainings(arm, mode)
        pace = rates.get(arm.id)
        if pace is None and rates and arm.kind == "train":
            # an arm no result has measured yet (new, or renamed): the median pace of the lesson's measured arms
            pace = sorted(rates.values())[len(rates) // 2]
        if pace is not None:
            sources.add("results")
            wheres.add(pace.where)
            if pace.evaluations_included:   # epochs × images over it is the run's time
                seconds += (epochs * images / pace.rate + overhead) * trainings * repeats
            else:                            # the training loop's pace: the evaluations added as for a timed one
                per_run = (epochs * (images + val_size / EVAL_SPEEDUP) + test_size / EVAL_SPEEDUP) / pace.rate
                seconds += (per_run + overhead) * trainings * repeats
            continue
        rate = None
        if measure is not None and arm.kind in ("train", "resolution_lab"):
            try:
                rate = _timed_rate(lesson, arm, mode, device, measure)
                sources.add("timed")
            except (ValueError, RuntimeError, KeyError, TypeError):
                rate = None
        if not rate:
            rate = ROUGH_IMAGES_PER_S[kind]
            sources.add("rough")
        per_run = (epochs * (images + val_size / EVAL_SPEEDUP) + test_size / EVAL_SPEEDUP) / rate + overhead
        seconds += per_run * trainings * repeats
    starting = worker_start_seconds(manager)
    seconds += starting
    source = "rough" if "rough" in sources else ("timed" if "timed" in sources else "results")
    how = {"results": f"from the images/s its runs reached on {', '.join(sorted(wheres))}{carried}",
           "timed": f"from a few training steps of each arm timed on this {kind}",
           "rough": "a guess from the number of images, not a measurement"}[source]
    word = "roughly" if source == "rough" else "about"
    start = f"; {format_seconds(starting)} of it to start a training process" if starting else ""
    return LessonEstimate(seconds, source != "rough", ", ".join(sorted(wheres)) or kind,
                          f"{word} {format_seconds(seconds)} ({mode}, {repeats} seed(s); {how}{start})", source)


def _timed_rate(lesson: Lesson, arm, mode: str, device: str, measure: Callable[..., Any]) -> float:
    """Training images/s of one arm's network, a few of its steps timed on `device` (a resolution lab's: its
    models' shared settings; those at lower resolutions are resampled back up, at the same cost per image)."""
    from cnnkit.data import dataset_info

    config = lesson.arm_config(arm, mode, device=device)
    if arm.kind == "resolution_lab":
        config = config.train_config()
    info = dataset_info(config.dataset)
    if not info.available:
        raise ValueError(info.reason)
    cost = measure(config, (int(info.channels), int(info.height), int(info.width)), len(info.classes), device)
    return config.batch_size / cost.seconds_per_step


def _split_sizes(dataset: str) -> tuple[int, int]:
    """(train, test) image counts of a dataset (a guess of 10,000 and 2,000 when it is not known here)."""
    try:
        from cnnkit.data import dataset_info

        info = dataset_info(dataset)
        return int(info.num_train) or 10000, int(info.num_test) or 2000
    except (ValueError, OSError):
        return 10000, 2000


__all__ = ["CPU_SEEDS", "GPU_SEEDS", "GROUP_PREFIX", "LessonEstimate", "STATUSES", "cancel_lesson", "collect_finished",
           "collect_result", "data_caveats", "default_seeds", "estimate_lesson_seconds", "group_jobs", "latest_result",
           "runs_seconds", "worker_start_seconds",
           "lesson_jobs", "lesson_status", "lesson_statuses", "planned_configs", "run_lesson", "running_groups", "submit_lesson"]
