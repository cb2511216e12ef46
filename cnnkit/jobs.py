"""Background jobs: a queue that runs trainings one at a time per device (configurable).

Worker threads never touch Streamlit; pages poll `snapshot()` (a copy) about once a second.
A job that raises ends as "failed" with its message and the manager keeps going; one that raises
`Cancelled` (cnnkit.cancellation, re-exported here) ends as "cancelled".

The manager decides WHICH job starts and when (queue, slots per device, cancels); an execution backend
decides HOW a started job runs: `LocalBackend` (a thread in this process, the default), `ProcessBackend`
(CNNKIT_JOB_BACKEND=process: each training in a worker process of its own) or, with
CNNKIT_RAY_ADDRESS set, `cnnkit.jobs_ray.RayBackend` (trainings on a Ray cluster; ray stays optional).
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional

from cnnkit.cancellation import Cancelled, raise_if_cancelled
from cnnkit.classroom import gate
from cnnkit.classroom.identity import same_person
from cnnkit.classroom.permissions import GUEST, STOPPED_BY_TEACHER

JobFunction = Callable[["JobContext"], Any]
FINISHED = ("done", "failed", "cancelled")
# Saved runs in these states stopped before their last epoch and can go on from their last checkpoint.
RESUMABLE_STATUSES = ("interrupted", "cancelled", "failed")
# Saved runs in these states are being written by a training right now.
WRITING_STATUSES = ("running", "starting", "queued")


def new_group_id(prefix: str) -> str:
    """A fresh job-group id (a sweep, a strategy comparison), e.g. "sweep-142501-9f3a": readable and unique."""
    return f"{prefix}{time.strftime('%H%M%S')}-{secrets.token_hex(2)}"


def fractional_epoch(epoch: int, epoch_step: int, steps_per_epoch: int) -> float:
    """Epochs trained so far at step `epoch_step` of the 1-based `epoch`, e.g. 2.5 half-way through epoch 3."""
    return (epoch - 1) + epoch_step / max(1, steps_per_epoch)


def training_fraction(epoch: int, epochs: int, epoch_step: int, steps_per_epoch: int) -> float:
    """The share 0..1 of a training of `epochs` epochs done at step `epoch_step` of the 1-based `epoch`."""
    if not epochs:
        return 0.0
    return min(1.0, max(0.0, fractional_epoch(epoch, epoch_step, steps_per_epoch) / epochs))


def run_is_resumable(record) -> bool:
    """Whether a saved run (a cnnkit.store.RunRecord) stopped before its last epoch and can go on from it.
    Says nothing about jobs: JobManager.can_resume also checks that no job is on it already."""
    return record.status in RESUMABLE_STATUSES and record.epochs_done < record.epochs


@dataclass
class JobSnapshot:
    """A copy of one job's state; safe to keep and read while the job runs on."""

    job_id: str
    label: str
    device: str
    group: str                      # e.g. a sweep id; "" for single runs
    status: str                     # queued | running | done | failed | cancelled
    queue_position: Optional[int]   # 1 = next to start, None when not queued
    created: float
    started: Optional[float]
    ended: Optional[float]
    phase: str = ""
    message: str = ""
    fraction: Optional[float] = None
    epoch: int = 0
    epochs: int = 0
    epoch_step: int = 0
    steps_per_epoch: int = 0
    eta_s: Optional[float] = None
    images_per_s: Optional[float] = None
    run_dir: Optional[str] = None
    history: list[dict] = field(default_factory=list)     # per-epoch rows
    steps: list[dict] = field(default_factory=list)       # training-loss points
    result: Any = None
    error: Optional[str] = None
    meta: dict = field(default_factory=dict)
    owner: str = GUEST              # who submitted it ("" = a guest); see cnnkit.classroom
    expected_wait_s: Optional[float] = None  # queued: about how long until it starts (None: not known yet)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def progress(self) -> float:
        """How much of the whole job is done, 0..1: of a training, the epochs and steps trained; of another
        job, the fraction it reports. Data loading reports the fraction of its own phase, not of the job."""
        if self.status == "done":
            return 1.0
        if self.status == "queued":
            return 0.0
        if self.epochs and self.steps_per_epoch:
            return training_fraction(self.epoch, self.epochs, self.epoch_step, self.steps_per_epoch)
        if self.fraction is not None and self.phase != "loading":
            return min(1.0, max(0.0, float(self.fraction)))
        return 0.0

    @property
    def progress_text(self) -> str:
        """One line saying where the job is: its queue place, its epoch and step, or its latest message."""
        if self.status == "queued":
            from cnnkit.formatting import format_seconds

            wait = (f" (in about {format_seconds(self.expected_wait_s)})" if self.expected_wait_s is not None
                    else "")
            return (f"Queued: position {self.queue_position} on {self.device}; it starts when the runs ahead "
                    f"finish{wait}.")
        if self.phase == "training" and self.epochs and not self.finished:
            parts = [f"Epoch {self.epoch}/{self.epochs}", f"step {self.epoch_step}/{self.steps_per_epoch}"]
            if self.images_per_s:
                parts.append(f"{self.images_per_s:,.0f} img/s")
            if self.eta_s is not None:
                from cnnkit.formatting import format_seconds

                parts.append(f"ETA {format_seconds(self.eta_s)}")
            else:  # the first steps are warm-up, not a measurement (cnnkit.train.eta)
                parts.append("ETA estimating…")
            if self.meta.get("threads_text"):  # the CPU thread choice (cnnkit.train.tuning), e.g. "1 thread; ..."
                parts.append(str(self.meta["threads_text"]))
            return " · ".join(parts)
        return self.message or self.phase or self.status


# Snapshot fields a job may set with a progress event of its own kind (not the manager's bookkeeping).
_EVENT_FIELDS = {f.name for f in fields(JobSnapshot)} - {"job_id", "device", "group", "status", "queue_position",
                                                         "created", "started", "ended", "result", "error", "meta",
                                                         "owner", "expected_wait_s"}


class JobContext:
    """What a job function gets: progress reporting and the cancel flag."""

    def __init__(self, manager: "JobManager", job_id: str, cancel_event: threading.Event):
        self._manager = manager
        self.job_id = job_id
        self.cancel_event = cancel_event

    def progress(self, event: dict) -> None:
        """Take a cnnkit.train progress event (or any dict of snapshot fields)."""
        self._manager._apply_event(self.job_id, event)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def thread_share(self) -> int:
        """CPU threads this job may use now: its fair share of the cores among the jobs running here."""
        return self._manager._thread_share(self.job_id)


class TrainingJob:
    """The job function of a training: train(config) or a resume, as data (a config and a run folder) so a
    backend can run it elsewhere (cnnkit.jobs_ray ships `config` to a Ray worker); called here, it trains here."""

    def __init__(self, config, resume_from: Optional[str] = None, owner: str = ""):
        self.config = config
        self.resume_from = resume_from
        self.owner = owner

    def __call__(self, context: "JobContext"):
        from cnnkit.train import train

        try:
            return train(self.config, on_progress=context.progress, cancel_event=context.cancel_event,
                         resume_from=self.resume_from, owner=self.owner, thread_cap=context.thread_share)
        except Cancelled as exc:
            # A cancel escapes train() only before its first step (e.g. while the data loads).
            raise Cancelled(str(exc) or "stopped before training started") from None


class LocalBackend:
    """Runs each started job in a thread of this process (the app's own machine)."""

    name = "local"

    def resolve_device(self, requested: str) -> str:
        """The device a job asking for `requested` ("auto", "cpu", "cuda:1", ...) will train on."""
        from cnnkit.device import resolve_device

        return str(resolve_device(requested))

    def start(self, manager: "JobManager", job: "_Job") -> None:
        """Begin running `job` (already marked running); manager._finish is called once when it ends."""
        job.thread = threading.Thread(target=manager._run, args=(job.snapshot.job_id,),
                                      name=f"cnnkit-{job.snapshot.job_id}", daemon=True)
        job.thread.start()


def _train_in_worker(config_dict: dict, resume_from: Optional[str], owner: str, kind_modules: list,
                     events, cancel_event, thread_cap: Optional[int] = None) -> None:
    """One training in a spawned worker process (ProcessBackend): progress events go to `events` as
    ("event", dict), then one ("end", status, result or exception, traceback). `thread_cap`: the job's
    fair share of the cores when it started."""
    import importlib

    from cnnkit.threads import set_openmp_wait_env

    set_openmp_wait_env()  # a fresh process: OpenMP has not started yet, so its wait policy can still be set

    for module in kind_modules:  # model kinds registered in the app (e.g. transfer) must exist here too
        importlib.import_module(module)
    from cnnkit.train import TrainConfig, train

    try:
        result = train(TrainConfig.from_dict(config_dict), on_progress=lambda e: events.put(("event", e)),
                       cancel_event=cancel_event, resume_from=resume_from, owner=owner,
                       thread_cap=(lambda: thread_cap) if thread_cap else None)
        events.put(("end", "done", result, ""))
    except Cancelled as exc:
        events.put(("end", "cancelled", str(exc) or "stopped before training started", ""))
    except Exception as exc:
        events.put(("end", "failed", portable_exception(exc), traceback.format_exc(limit=3)))


def portable_exception(exc: Exception) -> Exception:
    """An exception a worker can send back to the app: itself when it survives pickling (the app then sees
    the same type and message), else a RuntimeError with its type and text."""
    import pickle

    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class RemoteTrainingBackend:
    """What the process and Ray backends share: trainings (TrainingJob) run elsewhere, watched from a thread
    of the app (`_watch`, which moves events into the snapshot and passes Stop on); other jobs (closures
    holding app state, e.g. a resolution lab) run in a thread here as with LocalBackend."""

    def __init__(self):
        self._local = LocalBackend()

    def resolve_device(self, requested: str) -> str:
        return self._local.resolve_device(requested)

    def start(self, manager: "JobManager", job: "_Job") -> None:
        if not isinstance(job.fn, TrainingJob):
            self._local.start(manager, job)
            return
        job.thread = threading.Thread(target=self._watch, args=(manager, job),
                                      name=f"cnnkit-{self.name}-{job.snapshot.job_id}", daemon=True)
        job.thread.start()

    def _watch(self, manager: "JobManager", job: "_Job") -> None:
        raise NotImplementedError

    @staticmethod
    def _finish_remote(manager: "JobManager", job_id: str, status: str, value: Any, trace: str) -> None:
        """End a job from the worker's (status, result or message or exception, traceback) report."""
        if status == "done":
            manager._finish(job_id, value)
        elif status == "cancelled":
            manager._finish(job_id, None, Cancelled(value))
        else:
            manager._finish(job_id, None, value, trace)


_SPAWN_LOCK = threading.Lock()


def _start_without_main(process) -> None:
    """Start a spawned process without it re-running this program's __main__: under `streamlit run` that is
    app.py (Streamlit makes each page run the __main__ module), which must not run in a worker. While the
    process starts, __main__ is a bare module; it is put back unless a script run replaced it meanwhile."""
    import sys
    import types

    with _SPAWN_LOCK:
        main = sys.modules.get("__main__")
        bare = types.ModuleType("__main__")
        sys.modules["__main__"] = bare
        try:
            process.start()
        finally:
            if sys.modules.get("__main__") is bare and main is not None:
                sys.modules["__main__"] = main


class ProcessBackend(RemoteTrainingBackend):
    """Runs each training in its own worker process ('spawn'), so the app's Python threads (pages, live panels)
    and the training do not share one GIL: benchmarks/bench_classroom.py measured threaded trainings well under
    80% of the CLI's images/s while a class loads pages or watches with real browsers (issue 13). Same contract as LocalBackend: a thread of the app
    per job moves the worker's progress events into the snapshot and passes Stop on (a multiprocessing Event
    that train() checks every batch). Jobs that are not trainings (closures) run in a thread as before.
    Selected with CNNKIT_JOB_BACKEND=process."""

    name = "process"
    POLL_S = 0.25

    def __init__(self):
        import multiprocessing

        super().__init__()
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded server

    def _watch(self, manager: "JobManager", job: "_Job") -> None:
        import queue

        from cnnkit.models.registry import MODEL_KINDS

        job_id, spec = job.snapshot.job_id, job.fn
        events, cancel = self._context.Queue(), self._context.Event()
        kind_modules = sorted({kind.build.__module__ for kind in MODEL_KINDS.values()})
        worker = self._context.Process(target=_train_in_worker, daemon=True, name=f"cnnkit-{job_id}",
                                       args=(spec.config.to_dict(), spec.resume_from, spec.owner, kind_modules,
                                             events, cancel, manager._thread_share(job_id)))
        try:
            _start_without_main(worker)
        except Exception as exc:
            manager._finish(job_id, None, RuntimeError(f"could not start a worker process: {exc}"))
            return
        outcome = None
        while outcome is None:
            if job.cancel_event.is_set():
                cancel.set()
            try:
                item = events.get(timeout=self.POLL_S)
            except queue.Empty:
                if not worker.is_alive():
                    break  # it died without saying how it ended
                continue
            if item[0] == "event":
                manager._apply_event(job_id, item[1])
            else:
                outcome = item[1:]
        worker.join(timeout=30)
        if outcome is None:
            message = (f"the worker process training this job stopped (exit code {worker.exitcode}); the run keeps "
                       "its last saved epoch: resume it from the run list")
            manager._finish(job_id, None, RuntimeError(message))
            return
        self._finish_remote(manager, job_id, *outcome)


class _Job:
    def __init__(self, job_id: str, label: str, device: str, group: str, fn: JobFunction, meta: dict,
                 owner: str = GUEST):
        self.snapshot = JobSnapshot(job_id=job_id, label=label, device=device, group=group, status="queued",
                                    queue_position=None, created=time.time(), started=None, ended=None, meta=meta,
                                    owner=owner)
        self.fn = fn
        self.cancel_event = threading.Event()
        self.stopped_by_teacher = False   # the teacher stopped someone else's job: its student is told so
        self.thread: Optional[threading.Thread] = None


class QueueFull(ValueError):
    """An owner already has as many jobs waiting as the class allows."""


# Without finished jobs to go by, a queued job's wait is estimated from this many seconds per job ahead.
DEFAULT_JOB_SECONDS = 60.0


class JobManager:
    """The queue: per device, owners take turns (round-robin) and each owner's jobs start in the order they
    were submitted; `max_queued_per_owner` caps how many jobs one owner may have waiting (None: no cap).
    How a started job runs is the backend's business (LocalBackend: a thread; cnnkit.jobs_ray: Ray)."""

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
        self._jobs: dict[str, _Job] = {}
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
                raise QueueFull(f"You already have {self.max_queued_per_owner} runs waiting, the most this class "
                                "allows: wait for one to start, or stop one, then queue again")
            job_id = f"job-{next(self._ids)}"
            self._jobs[job_id] = _Job(job_id, label, _device_key(device), group, fn, meta, owner)
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
                          if j.snapshot.status == "queued" and j.snapshot.owner == (owner or GUEST))
            return max(0, self.max_queued_per_owner - waiting)

    def submit_training(self, config, label: str = "", group: str = "", resume_from: Optional[str] = None,
                        owner: str = GUEST, teacher: bool = False, kind: str = "", meta: Optional[dict] = None) -> str:
        """Queue cnnkit.train.train(config) for `owner` (recorded in the run's run.json), or a resume of the
        saved run in folder `resume_from`, which the job's meta["resumes"] records: see job_for_run.
        `kind` (for the class gate): "resume", "transfer" or "sweep" as the config and group say, else "train";
        `meta`: more facts for the job's snapshot (e.g. a lesson's id)."""
        device = self.backend.resolve_device(config.device)
        run = TrainingJob(config, resume_from, owner)
        model = getattr(config, "model", None)
        kind = kind or (meta or {}).get("kind") or (
            "resume" if resume_from is not None else
            "transfer" if isinstance(model, dict) and model.get("kind") == "transfer" else
            "sweep" if group.startswith("sweep") else "train")
        meta = {**(meta or {}), "config": config.to_dict(), "kind": kind}
        if resume_from is not None:
            meta["resumes"] = _run_key(resume_from)
        return self.submit(run, label or config.name or f"{config.model_label()} on {config.dataset}", device,
                           group, meta, owner=owner, teacher=teacher)

    def submit_resume(self, record, by: str = GUEST, teacher: bool = False) -> str:
        """Queue a training that goes on from a saved run's last epoch (a cnnkit.store.RunRecord), asked by
        `by` (its owner or the teacher, else NotAllowed); the job stays the run's owner's.
        Raises ValueError when it cannot: finished, not stopped, or a job is on it already."""
        from cnnkit.train import TrainConfig

        owner = getattr(record, "owner", GUEST) or GUEST
        gate.check("resume", gate.Actor(by or GUEST, teacher), self.class_config, target_owner=owner,
                   what=f"run {record.run_id}")
        if not run_is_resumable(record):
            raise ValueError(f"run {record.run_id} is {record.status} after {record.epochs_done} of "
                             f"{record.epochs} epochs: only a stopped, unfinished run can be resumed")
        if self.job_for_run(record.run_dir) is not None:
            raise ValueError(f"run {record.run_id} is already queued or training; wait for it to finish")
        config = TrainConfig.from_dict(record.config)
        config.validate()
        return self.submit_training(config, label=f"resume {record.run_id}", resume_from=str(record.run_dir),
                                    owner=owner, teacher=teacher, kind="resume")

    def job_for_run(self, run_dir) -> Optional[JobSnapshot]:
        """The unfinished job that resumes or writes the run folder `run_dir`, or None. A resume waiting in
        the queue has not touched the folder yet: its meta["resumes"] says which run it is for."""
        key = _run_key(run_dir)
        for snap in self.active():
            if snap.meta.get("resumes") == key or (snap.run_dir and _run_key(snap.run_dir) == key):
                return snap
        return None

    def can_resume(self, record) -> bool:
        """A saved run can be resumed: stopped before its last epoch and no job on it (one click, one job)."""
        return run_is_resumable(record) and self.job_for_run(record.run_dir) is None

    def can_delete(self, record) -> bool:
        """A saved run can be deleted: nothing is writing it (no job on it, not marked as training)."""
        return record.status not in WRITING_STATUSES and self.job_for_run(record.run_dir) is None

    def snapshot(self, job_id: str) -> JobSnapshot:
        with self._lock:
            if job_id not in self._jobs:
                raise KeyError(f"no job {job_id!r}")
            return self._copy(job_id)

    def list(self, group: Optional[str] = None) -> list[JobSnapshot]:
        with self._lock:
            start_orders: dict[str, list[str]] = {}  # per device, computed once for the whole list
            return [self._copy(j, start_orders) for j in self._order
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
                job.snapshot.message = (STOPPED_BY_TEACHER + " before it started" if job.stopped_by_teacher
                                        else "cancelled before it started")
                self._dispatch()

    def wait(self, job_id: str, timeout: Optional[float] = None) -> JobSnapshot:
        """Block until the job has finished (for the CLI and tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            snap = self.snapshot(job_id)
            if snap.finished:
                return snap
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{job_id} still {snap.status} after {timeout} s")
            time.sleep(0.05)

    def active(self) -> list[JobSnapshot]:
        return [s for s in self.list() if not s.finished]

    def active_of(self, owner: str) -> list[JobSnapshot]:
        """`owner`'s unfinished jobs ("" = a guest's): a page finds them again after a reload."""
        return [s for s in self.active() if s.owner == (owner or GUEST)]

    # --- internals --------------------------------------------------------------------------
    def _copy(self, job_id: str, start_orders: Optional[dict[str, list[str]]] = None) -> JobSnapshot:
        snap = copy.copy(self._jobs[job_id].snapshot)
        snap.history = copy.deepcopy(snap.history)
        snap.steps = list(snap.steps)
        snap.meta = copy.deepcopy(snap.meta)
        if snap.status == "queued":
            start_orders = {} if start_orders is None else start_orders
            if snap.device not in start_orders:
                start_orders[snap.device] = self._start_order(snap.device)
            queued = start_orders[snap.device]
            snap.queue_position = queued.index(job_id) + 1
            snap.expected_wait_s = self._expected_wait(snap.device, snap.queue_position)
        return snap

    def _start_order(self, device: str) -> list[str]:
        """The queued jobs of `device` in the order they will start: owners take turns (in the order they
        first submitted, starting after the owner whose job started last there), each owner's jobs in
        submission order. A sweep of 20 from one owner interleaves with everyone else's single runs."""
        per_owner: dict[str, list[str]] = {}
        for job_id in self._order:
            snap = self._jobs[job_id].snapshot
            if snap.status == "queued" and snap.device == device:
                per_owner.setdefault(snap.owner, []).append(job_id)
        ring = [o for o in self._owner_ring if o in per_owner]
        last = self._last_owner.get(device)
        if last in self._owner_ring:
            # The turn passes to the first owner after `last` in the ring (wrapping round).
            after = self._owner_ring.index(last)
            ring.sort(key=lambda o: (self._owner_ring.index(o) <= after, self._owner_ring.index(o)))
        order: list[str] = []
        while any(per_owner.values()):
            for owner in ring:
                if per_owner[owner]:
                    order.append(per_owner[owner].pop(0))
        return order

    def _expected_wait(self, device: str, position: int) -> Optional[float]:
        """Seconds until the job at queue `position` starts: the jobs ahead at the mean duration of the
        device's last finished jobs (the running ones' own ETA), shared over its slots."""
        durations = [s.ended - s.started for s in (self._jobs[j].snapshot for j in self._order[::-1])
                     if s.device == device and s.status == "done" and s.started and s.ended][:20]
        running = [self._jobs[j].snapshot for j in self._order
                   if self._jobs[j].snapshot.device == device and self._jobs[j].snapshot.status == "running"]
        per_job = sum(durations) / len(durations) if durations else None
        remaining = []
        for snap in running:
            if snap.eta_s is not None:
                remaining.append(float(snap.eta_s))
            elif per_job is not None and snap.started:
                remaining.append(max(0.0, per_job - (time.time() - snap.started)))
            else:
                remaining.append(DEFAULT_JOB_SECONDS if per_job is None else per_job)
        per_job = per_job if per_job is not None else DEFAULT_JOB_SECONDS
        slots = self.max_concurrent_per_device
        first_free = min(remaining) if len(remaining) >= slots else 0.0
        return first_free + (position - 1) * per_job / slots

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
        """Run the job's function in this thread (LocalBackend) and record how it ended."""
        job = self._jobs[job_id]
        context = JobContext(self, job_id, job.cancel_event)
        try:
            result = job.fn(context)
        except Exception as exc:  # a failing job must never take the app down
            self._finish(job_id, None, exc, traceback.format_exc(limit=3))
            return
        self._finish(job_id, result)

    def _finish(self, job_id: str, result: Any, exc: Optional[BaseException] = None, trace: str = "") -> None:
        """Record a job's end, however it ran: its result, or the exception it raised (Cancelled: a cancel, not a
        failure; other exceptions keep their message, and unexpected types also their traceback `trace`)."""
        job = self._jobs[job_id]
        if exc is None:
            status, error = getattr(result, "status", "done"), None
        elif isinstance(exc, Cancelled):  # stopped on request: a cancel, not a failure
            result, status, error = None, "cancelled", None
            job.snapshot.message = str(exc) or "stopped"
        else:
            result, status = None, "failed"
            error = str(exc) or type(exc).__name__
            if not isinstance(exc, (ValueError, RuntimeError, FileNotFoundError)):
                error = f"{type(exc).__name__}: {error}\n{trace}"
        with self._lock:
            snap = job.snapshot
            snap.result = result
            snap.error = error
            snap.status = "cancelled" if status == "cancelled" else ("failed" if status == "failed" else "done")
            if status == "early_stopped":
                snap.message = getattr(result, "message", "") or snap.message
            if error:
                snap.message = error
            if snap.status == "cancelled" and job.stopped_by_teacher:
                snap.message = STOPPED_BY_TEACHER  # its student is told who stopped it
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
            snap = self._jobs[job_id].snapshot
            kind = event.get("kind")
            if kind == "step":
                for key in ("epoch", "epochs", "epoch_step", "steps_per_epoch", "eta_s", "images_per_s"):
                    setattr(snap, key, event.get(key))
                snap.phase = "training"
                snap.steps.append({"step": event["step"],
                                   "epoch": fractional_epoch(event["epoch"], event["epoch_step"], event["steps_per_epoch"]),
                                   "loss": event["loss"], "lr": event.get("lr")})
                if len(snap.steps) > self.max_history_points:
                    snap.steps = snap.steps[::2]  # keep the whole curve, at half the density
            elif kind == "epoch":
                snap.history.append(dict(event["row"]))
            elif kind == "run_dir":
                snap.run_dir = event["run_dir"]
                snap.meta.update({k: v for k, v in event.items() if k not in ("kind", "run_dir")})
            elif kind == "status":
                snap.phase = event.get("phase", snap.phase)
                snap.message = event.get("message", snap.message)
                snap.fraction = event.get("fraction")
            else:
                for key, value in event.items():
                    if key in _EVENT_FIELDS:
                        setattr(snap, key, value)
                    elif key != "kind":  # computed properties (progress, ...) included: kept as meta
                        snap.meta[key] = value


def _device_key(device: str) -> str:
    return "cuda" if str(device).startswith("cuda") else str(device)


def _run_key(run_dir) -> str:
    """One spelling per run folder, so a resume's meta and a job's run_dir compare equal."""
    return str(Path(run_dir).expanduser().resolve())


# Set (e.g. "auto", "ray://head:10001") to run trainings on a Ray cluster instead of this machine.
RAY_ADDRESS_ENV = "CNNKIT_RAY_ADDRESS"
# "thread" (default: LocalBackend) or "process" (ProcessBackend: each training in its own worker process).
JOB_BACKEND_ENV = "CNNKIT_JOB_BACKEND"
_MANAGER: Optional[JobManager] = None
_MANAGER_LOCK = threading.Lock()


def get_job_manager() -> JobManager:
    """The process-wide manager every page and user shares (so the queue is real)."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            import os

            from cnnkit.classroom.config import load_classroom_config

            # The class config (cnnlab.toml) sets jobs per device and the per-owner queue cap; the env var
            # still works for a single user. A broken config file must not stop the app: no caps then.
            try:
                limits = load_classroom_config()
            except ValueError:
                limits = None
            backend, slots = None, os.environ.get("CNNKIT_JOBS_PER_DEVICE")
            if limits and limits.jobs_per_device:
                slots = str(limits.jobs_per_device)
            if os.environ.get(JOB_BACKEND_ENV, "thread") == "process":
                backend = ProcessBackend()
            elif os.environ.get(JOB_BACKEND_ENV, "thread") != "thread":
                raise ValueError(f"{JOB_BACKEND_ENV}={os.environ[JOB_BACKEND_ENV]!r}: use thread or process")
            if os.environ.get(RAY_ADDRESS_ENV):
                from cnnkit.jobs_ray import RayBackend  # only here: ray is an optional install

                backend = RayBackend(os.environ[RAY_ADDRESS_ENV])
                # The app still decides what starts (fair queueing); as many at once as the cluster can place.
                slots = slots or str(backend.default_slots())
            _MANAGER = JobManager(max_concurrent_per_device=int(slots or "1"), backend=backend,
                                  max_queued_per_owner=limits.queue_per_owner if limits else None)
        return _MANAGER


__all__ = ["FINISHED", "Cancelled", "JobContext", "JobManager", "JobSnapshot", "LocalBackend", "ProcessBackend", "QueueFull",
           "TrainingJob", "fractional_epoch", "get_job_manager",
           "new_group_id", "raise_if_cancelled", "run_is_resumable", "training_fraction"]
