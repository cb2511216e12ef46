"""The in-process queue: one app server's jobs, run one at a time per device (configurable).

Worker threads never touch Streamlit; pages poll `snapshot()` (a copy) about once a second.
A job that raises ends as "failed" with its message and the manager keeps going; one that raises
`Cancelled` (cnnkit.cancellation) ends as "cancelled". The manager decides WHICH job starts and when (queue,
slots per device, cancels); its backend (cnnkit.jobs.backends) decides HOW a started job runs."""

from __future__ import annotations

import copy
import itertools
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Optional

from cnnkit.classroom import gate
from cnnkit.classroom.identity import same_person
from cnnkit.classroom.permissions import GUEST, STOPPED_BY_TEACHER, STOPPED_BY_USER
from cnnkit.jobs.fair import queue_timing, start_order
from cnnkit.jobs.backends.thread import LocalBackend
from cnnkit.jobs.context import Job, JobContext, JobFunction, TrainingJob
from cnnkit.jobs.queue import JobQueue, QueueFull, queue_full_message, training_kind
from cnnkit.jobs.snapshot import (JobSnapshot, apply_event, cancelled_before_start, device_key, end_status,
                                  run_key)


def note_teacher_stop(run_dir: Optional[str]) -> None:
    """A run the teacher stopped says so in its run.json too (the training loop only knows it was stopped):
    "stopped by the teacher during epoch 3", seen on the Runs tab and in `cnnkit runs` long after the job."""
    from cnnkit.store.writer import update_run
    from cnnkit.fileio import read_json

    if not run_dir or not (Path(run_dir) / "run.json").is_file():
        return
    meta = read_json(Path(run_dir) / "run.json", {})
    message = str(meta.get("message") or "") if isinstance(meta, dict) else ""
    if message.startswith(STOPPED_BY_USER):
        message = STOPPED_BY_TEACHER + message[len(STOPPED_BY_USER):]
    elif not message.startswith(STOPPED_BY_TEACHER):
        message = STOPPED_BY_TEACHER
    try:
        update_run(Path(run_dir), message=message, stopped_by="teacher")
    except OSError:
        pass  # the run folder went away meanwhile (deleted): nothing to say


class JobManager(JobQueue):
    """The queue: per device, owners take turns (round-robin, cnnkit.jobs.fair) and each owner's jobs start in
    the order they were submitted; `max_queued_per_owner` caps how many jobs one owner may have waiting (None:
    no cap). How a started job runs is the backend's business (thread, process, Ray)."""

    def __init__(self, max_concurrent_per_device: int = 1, max_history_points: int = 20000,
                 max_queued_per_owner: Optional[int] = None, backend=None, class_config=None):
        if max_concurrent_per_device < 1:
            raise ValueError("max_concurrent_per_device must be at least 1")
        if max_queued_per_owner is not None and max_queued_per_owner < 1:
            raise ValueError("max_queued_per_owner must be at least 1 (or None for no cap)")
        self.max_concurrent_per_device = max_concurrent_per_device
        self.backend = backend or LocalBackend()
        self.max_queued_per_owner = max_queued_per_owner
        self.max_history_points = max_history_points
        # The class rules every job and stop is checked against (cnnkit.classroom.gate); None: read cnnlab.toml
        # at each check, so the teacher's edits apply at once and a broken file refuses (fails closed).
        self.class_config = class_config
        self._last_owner: dict[str, str] = {}   # device -> owner whose job started there last (round-robin turn)
        self._owner_ring: list[str] = []         # owners in the order they first submitted: the turn order
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)

    # --- public API -------------------------------------------------------------------------
    def submit(self, fn: JobFunction, label: str = "job", device: str = "cpu", group: str = "",
               meta: Optional[dict] = None, owner: str = GUEST, teacher: bool = False) -> str:
        """Queue fn(context) for `owner`; it starts when its device has a free slot and it is the owner's
        turn. Every job passes the class gate first (cnnkit.classroom.gate), as the kind meta["kind"] says
        ("job" when none) with the training configs meta["config"] / meta["configs"] carry: NotAllowed or
        OverLimit (ValueErrors) refuse it. Raises QueueFull when the owner already has max_queued_per_owner
        jobs waiting. Returns the id."""
        meta = dict(meta or {})
        meta.setdefault("kind", "job")
        gate.check(str(meta["kind"]), gate.Actor(owner or GUEST, teacher), self.class_config,
                   training=gate.job_trainings(meta))
        with self._lock:
            owner = owner or GUEST
            if self.queue_room(owner) < 1:
                raise QueueFull(queue_full_message(self.max_queued_per_owner))
            job_id = f"job-{next(self._ids)}"
            self._jobs[job_id] = Job(job_id, label, device_key(device), group, fn, meta, owner)
            self._order.append(job_id)
            if owner not in self._owner_ring:
                self._owner_ring.append(owner)
            self._dispatch()
            return job_id

    def queue_room(self, owner: str = GUEST) -> int:
        """How many more jobs `owner` may queue now (a large number when there is no cap): a sweep checks
        it before queueing any of its runs."""
        if self.max_queued_per_owner is None:
            return 1 << 30
        with self._lock:
            waiting = sum(1 for j in self._jobs.values()
                          if j.snapshot.status == "queued" and same_person(j.snapshot.owner, owner or GUEST))
            return max(0, self.max_queued_per_owner - waiting)

    def submit_training(self, config, label: str = "", group: str = "", resume_from: Optional[str] = None,
                        owner: str = GUEST, teacher: bool = False, kind: str = "", meta: Optional[dict] = None) -> str:
        """Queue cnnkit.train.train(config) for `owner` (recorded in the run's run.json), or a resume of the
        saved run in folder `resume_from`, which the job's meta["resumes"] records: see job_for_run.
        `kind` (for the class gate): "resume", "transfer" or "sweep" as the config and group say, else "train";
        `meta`: more facts for the job's snapshot (e.g. a lesson's id)."""
        device = self.backend.resolve_device(config.device)
        run = TrainingJob(config, resume_from, owner)
        kind = kind or training_kind(config, group, resume_from, meta)
        meta = {**(meta or {}), "config": config.to_dict(), "kind": kind}
        if resume_from is not None:
            meta["resumes"] = run_key(resume_from)
        return self.submit(run, label or config.name or f"{config.model_label()} on {config.dataset}", device,
                           group, meta, owner=owner, teacher=teacher)

    def snapshot(self, job_id: str) -> JobSnapshot:
        with self._lock:
            if job_id not in self._jobs:
                raise KeyError(f"no job {job_id!r}")
            return self._copy(job_id)

    def list(self, group: Optional[str] = None, with_history: bool = True) -> list[JobSnapshot]:
        with self._lock:
            start_orders: dict[str, tuple] = {}  # per device (positions, timing), once for the whole list
            return [self._copy(j, start_orders, with_history) for j in self._order
                    if group is None or self._jobs[j].snapshot.group == group]

    def cancel(self, job_id: str, by: str = GUEST, teacher: bool = False) -> None:
        """A queued job never starts; a running one stops at its next batch. Only the job's owner or the
        teacher may stop it (the class gate: NotAllowed otherwise); `by` is who asks ("" = a guest)."""
        with self._lock:
            job = self._jobs[job_id]
            gate.check("stop", gate.Actor(by or GUEST, teacher), self.class_config, target_owner=job.snapshot.owner,
                       what=job.snapshot.label)
            job.stopped_by_teacher = teacher and not same_person(by, job.snapshot.owner)
            job.cancel_event.set()
            if job.snapshot.status == "queued":
                job.snapshot.status = "cancelled"
                job.snapshot.ended = time.time()
                job.snapshot.message = cancelled_before_start(job.stopped_by_teacher)
                self._dispatch()

    # --- internals --------------------------------------------------------------------------
    def _copy(self, job_id: str, start_orders: Optional[dict[str, tuple]] = None,
              with_history: bool = True) -> JobSnapshot:
        # Copies as deep as the manager changes things: it appends rows and points and replaces meta's top-level
        # values, never changing one in place. A deepcopy of every job's meta (its whole config) on each list
        # was a tenth of a class's page renders (py-spy, issue 31).
        snap = copy.copy(self._jobs[job_id].snapshot)
        snap.history = [dict(row) for row in snap.history] if with_history else []
        snap.steps = list(snap.steps) if with_history else []
        snap.meta = dict(snap.meta)
        if snap.status == "queued":
            start_orders = {} if start_orders is None else start_orders
            if snap.device not in start_orders:  # once per device and list: positions and timing
                order = self._start_order(snap.device)
                timing = queue_timing([self._jobs[j].snapshot for j in self._order], snap.device,
                                      self.max_concurrent_per_device)
                start_orders[snap.device] = ({j: k for k, j in enumerate(order, 1)}, timing)
            positions, timing = start_orders[snap.device]
            snap.queue_position = positions[job_id]
            snap.expected_wait_s = timing.wait(snap.queue_position)
        return snap

    def _start_order(self, device: str) -> list[str]:
        """The queued jobs of `device` in the order they will start (cnnkit.jobs.fair.start_order)."""
        queued = [(j, self._jobs[j].snapshot.owner) for j in self._order
                  if self._jobs[j].snapshot.status == "queued" and self._jobs[j].snapshot.device == device]
        return start_order(queued, self._owner_ring, self._last_owner.get(device))

    def _dispatch(self) -> None:
        running: dict[str, int] = {}
        for job_id in self._order:
            snap = self._jobs[job_id].snapshot
            if snap.status == "running":
                running[snap.device] = running.get(snap.device, 0) + 1
        devices = list(dict.fromkeys(self._jobs[j].snapshot.device for j in self._order
                                     if self._jobs[j].snapshot.status == "queued"))
        starting: list[str] = []
        for device in devices:
            free = self.max_concurrent_per_device - running.get(device, 0)
            for job_id in self._start_order(device):
                if free <= 0:
                    break
                free -= 1
                self._last_owner[device] = self._jobs[job_id].snapshot.owner
                starting.append(job_id)
        for job_id in starting:
            job = self._jobs[job_id]
            job.snapshot.status = "running"
            job.snapshot.started = time.time()
            self.backend.start(self, job)

    def _thread_share(self, job_id: str) -> int:
        """The fair share of this machine's cores for a running job: the cores split between the jobs
        running on its device (cnnkit.threads.fair_share; earlier jobs get the remainder)."""
        from cnnkit.threads import cpu_count, fair_share

        with self._lock:
            device = self._jobs[job_id].snapshot.device
            running = [j for j in self._order if self._jobs[j].snapshot.status == "running"
                       and self._jobs[j].snapshot.device == device]
            index = running.index(job_id) if job_id in running else len(running)
            return fair_share(cpu_count(), max(len(running), index + 1), index)

    def _run(self, job_id: str) -> None:
        """Run the job's function in this thread (the thread backend) and record how it ended."""
        job = self._jobs[job_id]
        context = JobContext(self, job_id, job.cancel_event)
        try:
            result = job.fn(context)
        except Exception as exc:  # a failing job must never take the app down
            self._finish(job_id, None, exc, traceback.format_exc(limit=3))
            return
        self._finish(job_id, result)

    def _finish(self, job_id: str, result: Any, exc: Optional[BaseException] = None, trace: str = "") -> None:
        """Record a job's end, however it ran: its result, or the exception it raised (cnnkit.jobs.snapshot.
        end_status says how each ends)."""
        job = self._jobs[job_id]
        status, result, error, message = end_status(result, exc, trace)
        with self._lock:
            snap = job.snapshot
            snap.result = result
            snap.error = error
            snap.status = status
            if message:
                snap.message = message
            if snap.status == "cancelled" and job.stopped_by_teacher:
                snap.message = STOPPED_BY_TEACHER  # its student is told who stopped it
                note_teacher_stop(snap.run_dir)
            snap.ended = time.time()
            self._release_finished_histories()
            self._dispatch()

    # A server runs for days: finished jobs keep their snapshot (status, message, run folder) but hand back
    # their live curves and results, which are on disk in the run folder, once they are old and many.
    KEEP_LIVE_FINISHED = 64
    RELEASE_AFTER_S = 15 * 60

    def _release_finished_histories(self, now: Optional[float] = None) -> int:
        now = time.time() if now is None else now
        finished = [self._jobs[j].snapshot for j in self._order if self._jobs[j].snapshot.finished
                    and not self._jobs[j].snapshot.meta.get("released")]
        finished.sort(key=lambda snap: snap.ended or 0.0)
        released = 0
        for snap in finished[:max(0, len(finished) - self.KEEP_LIVE_FINISHED)]:
            if now - (snap.ended or now) < self.RELEASE_AFTER_S:
                continue
            snap.history, snap.steps, snap.result = [], [], None
            snap.meta["released"] = True  # read the run folder (snap.run_dir) for its curves and results
            released += 1
        return released

    def _apply_event(self, job_id: str, event: dict) -> None:
        with self._lock:
            apply_event(self._jobs[job_id].snapshot, event, self.max_history_points)


__all__ = ["JobManager", "QueueFull"]
