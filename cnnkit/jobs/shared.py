"""One queue for every app server of a class, kept in the Ray cluster (issue 31).

With CNNKIT_SHARED_QUEUE=<class> (and CNNKIT_RAY_ADDRESS), each app server's get_job_manager() is a
SharedJobManager: a client of one named, detached Ray actor, the class queue. Choices, and why:
- The queue is an actor in the cluster, not in any app server: every server submits to it, so there is one fair
  order (cnnkit.jobs.fair, the same code as the in-process queue) and a queued job does not belong to a server.
- The actor itself submits the trainings (as the Ray backend's tasks) and so owns them: Ray ends a task whose
  owner dies, and the owner is the detached actor, not the server that was asked. A server that goes away
  loses no job; students reconnected to another server see and stop their runs there.
- It is detached and placed on the head node (the cluster lives as long as its head; a worker node may go).
- Workers push their progress events to the actor (it is their hub: push / is_cancelled, as for the Ray backend);
  each server polls the actor for what changed about every POLL_S and serves its pages from that copy, so a
  page's once-a-second refresh never waits on the cluster.
- The run store on shared storage stays the source of truth for runs: workers write run folders there, a run a
  dead node left behind is marked failed there (and is resumable), and finished runs are listed from disk.
- Jobs that are not trainings (closures holding a server's memory, e.g. the resolution lab) run on the server
  that was asked, in its own in-process queue, as with the Ray backend; list() shows both.
- The class state the servers share (teacher sessions, rate limits, claimed names) lives in the same actor
  (cnnkit.classroom's class-state store, see `ClassQueue.state_*`): one place to look, one lifetime.
- Every unfinished job is also a small file in the journal on the shared storage (<checkpoint_dir>/.class-queue/
  <class>/, `journal_dir`): when the head goes and a new class queue starts, it takes the waiting jobs back in
  their order with their ids, and marks the runs that were training failed and resumable (a worker that lost its
  head is gone with it). The class state is not kept: a teacher signs in again.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any, Optional

import ray

from cnnkit.classroom import gate
from cnnkit.classroom.identity import same_person
from cnnkit.classroom.permissions import GUEST, STOPPED_BY_TEACHER
from cnnkit.jobs.backends.ray import (CANCEL_GRACE_S, RayBackend, _train_on_worker, died_message, mark_run,
                                      task_options, warm_workers, worker_env)
from cnnkit.jobs.context import JobFunction, TrainingJob
from cnnkit.jobs.fair import queue_timing, start_order
from cnnkit.jobs.manager import JobManager, note_teacher_stop
from cnnkit.jobs.queue import JobQueue, QueueFull, queue_full_message, training_kind
from cnnkit.jobs.snapshot import (JobSnapshot, apply_event, cancelled_before_start, device_key, end_status,
                                  run_key)
from cnnkit.fileio import read_json, write_json
from cnnkit.paths import checkpoint_dir

NAMESPACE = "cnnkit"
ID_PREFIX = "class-"      # shared jobs' ids ("class-7"); a server's own closures keep "job-N"
POLL_S = 0.5              # each server asks the class queue what changed this often
ID_BLOCK = 16             # job ids the journal reserves at a time
CALL_TIMEOUT_S = 30.0
HEAD_RESOURCE = "node:__internal_head__"  # a resource only Ray's head node has
SERVER_ID = f"{socket.gethostname()}:{os.getpid()}"


HEAD_LOST = ("the Ray cluster's head went away while this trained (its worker went with it); Resume goes on after "
             "its last finished epoch")


def actor_name(class_name: str) -> str:
    return f"class-queue:{class_name}"


def journal_dir(class_name: str, root: Optional[Path] = None) -> Path:
    """Where the class queue keeps its unfinished jobs on the shared storage (one folder per class: a name made
    safe for a path, and a hash of the name so two names that read alike stay apart)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", class_name)[:60].lstrip(".") or "class"
    digest = hashlib.sha256(class_name.encode()).hexdigest()[:8]
    return (Path(root) if root else checkpoint_dir()) / ".class-queue" / f"{safe}-{digest}"


@ray.remote(num_cpus=0)
class ClassQueue:
    """The class's queue in the cluster (an async actor: its methods run one at a time in one event loop, so
    its state needs no lock). Also the hub its trainings push progress to and ask about Stop."""

    def __init__(self, class_name: str, settings: dict):
        self.class_name = class_name
        self.settings: dict = {}
        self._configure(settings)
        self.jobs: dict[str, dict] = {}       # id -> {"snap": JobSnapshot, "spec": dict, "version": int}
        self.order: list[str] = []
        self.owner_ring: list[str] = []
        self.last_owner: dict[str, str] = {}
        self.version = 0
        self.next_id = 1
        self.ids_reserved = 1                 # ids below it are kept in the journal's next-id (a new queue never
                                              # gives a student's old job id to another job)
        self.refs: dict[str, Any] = {}
        self.stop_asked: dict[str, float] = {}
        self.state: dict[str, Any] = {}      # the class state (see state_*)
        self.state_version = 0
        self.leases: dict[str, tuple[str, float]] = {}  # class-state lease -> (holder, until: wall clock)
        self._slots_cache = (0.0, 1)
        self._warming: list = []              # warm-up tasks' refs (see warm_up)
        self.journal: Optional[Path] = Path(settings["journal"]) if settings.get("journal") else None
        self.journal_error: Optional[str] = None
        self.recovered: dict[str, int] = {"queued": 0, "failed": 0}
        self._dispatch_due = False            # recovered jobs start at the first call (the loop runs by then)
        self._recover()

    # --- settings ---------------------------------------------------------------------------------
    async def warm_up(self, env: dict) -> int:
        """Start a warm worker on each node for trainings with these folders (a server calls it as it connects);
        returns how many nodes were asked. The workers are started by the trainings' own options, so Ray hands
        them the trainings that follow."""
        refs = warm_workers(int(self.settings.get("cpus_per_job") or 1), env)
        self._warming = refs  # kept: a ref dropped at once may cancel its task
        return len(refs)

    async def configure(self, settings: dict) -> None:
        """A server's settings (slots per device, cap per owner, CPUs per job); the last server to start wins."""
        self._configure(settings)
        self._dispatch_if_due()

    def _configure(self, settings: dict) -> None:
        self.settings.update({k: v for k, v in settings.items() if v is not None or k == "max_queued_per_owner"})

    def _slots(self) -> int:
        if self.settings.get("slots"):
            return int(self.settings["slots"])
        now = time.monotonic()
        if now - self._slots_cache[0] > 5.0:  # as many as the cluster's alive nodes can place at once
            resources = ray.cluster_resources()
            cpus = int(resources.get("CPU", 1)) // max(1, int(self.settings.get("cpus_per_job") or 1))
            self._slots_cache = (now, max(1, int(resources.get("GPU", 0)) or cpus))
        return self._slots_cache[1]

    # --- the queue --------------------------------------------------------------------------------
    def _touch(self, job_id: str) -> None:
        self.version += 1
        self.jobs[job_id]["version"] = self.version

    async def submit(self, spec: dict) -> tuple[str, str]:
        """Queue one training (spec: owner, label, device, group, meta, config, resume_from, kind_modules, env).
        Returns ("queued", its id), or ("full", why) when its owner already has as many waiting as the class
        allows (the server raises QueueFull: an exception raised here would reach it wrapped in Ray's)."""
        owner = spec.get("owner") or GUEST
        cap = self.settings.get("max_queued_per_owner")
        if cap is not None and self._waiting(owner) >= cap:
            return "full", queue_full_message(cap)
        if self.next_id >= self.ids_reserved:  # ids are reserved in blocks: one write per ID_BLOCK submits
            self.ids_reserved = self.next_id + ID_BLOCK
            self._write_journal("next-id", self.ids_reserved)
        job_id = f"{ID_PREFIX}{self.next_id}"
        self.next_id += 1
        self._add_queued(job_id, spec, time.time())
        self._dispatch()
        return "queued", job_id

    def _add_queued(self, job_id: str, spec: dict, created: float, journal: bool = True) -> None:
        owner = spec.get("owner") or GUEST
        snap = JobSnapshot(job_id=job_id, label=spec["label"], device=device_key(spec["device"]),
                           group=spec.get("group", ""), status="queued", queue_position=None, created=created,
                           started=None, ended=None, meta=dict(spec.get("meta") or {}), owner=owner)
        self.jobs[job_id] = {"snap": snap, "spec": spec}
        self.order.append(job_id)
        if owner not in self.owner_ring:
            self.owner_ring.append(owner)
        self._touch(job_id)
        if journal:
            self._journal(job_id)

    # --- the journal (see the module's docstring) ---------------------------------------------------------
    def _write_journal(self, name: str, value: Any) -> None:
        """Write (value) or remove (None) journal file `name`; an error does not stop the queue: ping() reports
        that the journal is not kept."""
        if self.journal is None:
            return
        try:
            if value is None:
                (self.journal / f"{name}.json").unlink(missing_ok=True)
            else:
                write_json(self.journal / f"{name}.json", value)
        except OSError as exc:
            self.journal_error = f"{type(exc).__name__}: {exc}"

    def _journal(self, job_id: str) -> None:
        """Keep job `job_id`'s journal entry as it is now: written while it is unfinished, removed once it ends."""
        snap = self.jobs[job_id]["snap"]
        self._write_journal(job_id, None if snap.finished else {
            "job_id": job_id, "status": snap.status, "created": snap.created, "run_dir": snap.run_dir,
            "spec": self.jobs[job_id]["spec"]})

    def _recover(self) -> None:
        """A new class queue (the head went and came back): take the journal's waiting jobs back, in their order
        and with their ids; a job that was training ends failed, its run marked so (resumable)."""
        if self.journal is None or not self.journal.is_dir():
            return
        entries: list[tuple[float, int, dict]] = []   # (created, the id's number, the entry)
        for path in self.journal.glob(f"{ID_PREFIX}*.json"):
            entry = read_json(path, default=None)
            if (isinstance(entry, dict) and isinstance(entry.get("spec"), dict) and entry.get("job_id") == path.stem
                    and re.fullmatch(rf"{ID_PREFIX}\d+", path.stem)
                    and isinstance(entry.get("created"), (int, float))):
                entries.append((float(entry["created"]), int(path.stem[len(ID_PREFIX):]), entry))
        saved_next = read_json(self.journal / "next-id.json", default=1)
        self.next_id = max([saved_next if isinstance(saved_next, int) else 1, *(n + 1 for _, n, _ in entries)])
        self.ids_reserved = self.next_id
        for created, _, entry in sorted(entries, key=lambda e: e[:2]):
            job_id = entry["job_id"]
            try:
                self._add_queued(job_id, entry["spec"], created, journal=False)  # kept as it is
            except (KeyError, TypeError, ValueError):
                continue  # a damaged entry: not a job this queue can run
            if entry.get("status") == "queued":
                self.recovered["queued"] += 1
                continue
            snap = self.jobs[job_id]["snap"]
            snap.run_dir = entry.get("run_dir")
            mark_run(snap.run_dir, "failed", HEAD_LOST)
            self._finish(job_id, None, RuntimeError(HEAD_LOST), dispatch=False)
            self.recovered["failed"] += 1
        self._dispatch_due = bool(self.recovered["queued"])

    def _dispatch_if_due(self) -> None:
        if self._dispatch_due:
            self._dispatch_due = False
            self._dispatch()

    def _waiting(self, owner: str) -> int:
        return sum(1 for j in self.jobs.values()
                   if j["snap"].status == "queued" and same_person(j["snap"].owner, owner))

    async def queue_room(self, owner: str) -> int:
        cap = self.settings.get("max_queued_per_owner")
        return 1 << 30 if cap is None else max(0, cap - self._waiting(owner or GUEST))

    def _start_order(self, device: str) -> list[str]:
        queued = [(j, self.jobs[j]["snap"].owner) for j in self.order
                  if self.jobs[j]["snap"].status == "queued" and self.jobs[j]["snap"].device == device]
        return start_order(queued, self.owner_ring, self.last_owner.get(device))

    def _dispatch(self) -> None:
        slots = self._slots()
        running: dict[str, int] = {}
        for job_id in self.order:
            snap = self.jobs[job_id]["snap"]
            if snap.status == "running":
                running[snap.device] = running.get(snap.device, 0) + 1
        devices = list(dict.fromkeys(self.jobs[j]["snap"].device for j in self.order
                                     if self.jobs[j]["snap"].status == "queued"))
        for device in devices:
            free = slots - running.get(device, 0)
            for job_id in self._start_order(device)[:max(0, free)]:
                self.last_owner[device] = self.jobs[job_id]["snap"].owner
                self._start(job_id)

    def _start(self, job_id: str) -> None:
        entry = self.jobs[job_id]
        snap, spec = entry["snap"], entry["spec"]
        snap.status, snap.started = "running", time.time()
        snap.meta["start_index"] = sum(1 for j in self.jobs.values() if j["snap"].started)  # the order they began
        self._touch(job_id)
        self._journal(job_id)
        config = dict(spec["config"])
        config["device"] = "cuda" if snap.device == "cuda" else config.get("device", "auto")
        try:
            options = task_options(snap.device, int(self.settings.get("cpus_per_job") or 1), spec.get("env") or {},
                                   snap.meta.get("ray_node"))
            ref = _train_on_worker.options(**options).remote(ray.get_runtime_context().current_actor, job_id, config,
                                                             spec.get("resume_from"), spec.get("kind_modules") or [],
                                                             snap.owner)
        except Exception as exc:  # e.g. a node id that is not in the cluster
            self._finish(job_id, None, RuntimeError(f"could not submit the job to Ray: {exc}"))
            return
        self.refs[job_id] = ref
        asyncio.get_running_loop().create_task(self._watch(job_id, ref))

    async def _watch(self, job_id: str, ref) -> None:
        """Until the task ends: pass Stop on (Ray ends it when it has not stopped CANCEL_GRACE_S after), then
        record how it ended."""
        future = asyncio.wrap_future(ref.future())
        while True:
            done, _ = await asyncio.wait({future}, timeout=0.5)
            if done:
                break
            asked = self.stop_asked.get(job_id)
            started = bool(self.jobs[job_id]["snap"].meta.get("ray_node_id"))
            if asked is not None and (not started or time.monotonic() - asked > CANCEL_GRACE_S):
                ray.cancel(ref, force=started)
                self.stop_asked[job_id] = float("inf")  # asked once
        snap = self.jobs[job_id]["snap"]
        run_dir = snap.run_dir or self.jobs[job_id]["spec"].get("resume_from")
        try:
            status, value, trace = future.result()
        except ray.exceptions.TaskCancelledError:
            mark_run(run_dir, "cancelled", "stopped: Ray ended the job's worker")
            self._finish(job_id, None, _cancelled("stopped on the Ray cluster"))
            return
        except ray.exceptions.RayError as exc:
            if job_id in self.stop_asked:
                self._finish(job_id, None, _cancelled("stopped: Ray ended the job's worker"))
                return
            message = died_message(exc, snap.meta.get("ray_node_ip"))
            mark_run(run_dir, "failed", message)
            self._finish(job_id, None, RuntimeError(message))
            return
        if status == "done":
            self._finish(job_id, value)
        elif status == "cancelled":
            self._finish(job_id, None, _cancelled(value))
        else:
            self._finish(job_id, None, value, trace)

    def _finish(self, job_id: str, result: Any, exc: Optional[BaseException] = None, trace: str = "",
                dispatch: bool = True) -> None:
        snap = self.jobs[job_id]["snap"]
        status, result, error, message = end_status(result, exc, trace)
        snap.status, snap.result, snap.error, snap.ended = status, result, error, time.time()
        if message:
            snap.message = message
        if status == "cancelled" and self.jobs[job_id].get("stopped_by_teacher"):
            snap.message = STOPPED_BY_TEACHER
            note_teacher_stop(snap.run_dir)
        self.refs.pop(job_id, None)
        self.stop_asked.pop(job_id, None)
        self._touch(job_id)
        self._journal(job_id)
        self._release_finished()
        if dispatch:
            self._dispatch()

    def _release_finished(self, now: Optional[float] = None) -> None:
        """As the in-process queue does (JobManager.KEEP_LIVE_FINISHED): old finished jobs keep their snapshot
        but hand back their live curves and result, which are in the run folder on the shared storage."""
        now = time.time() if now is None else now
        finished = sorted((self.jobs[j]["snap"] for j in self.order if self.jobs[j]["snap"].finished
                           and not self.jobs[j]["snap"].meta.get("released")), key=lambda snap: snap.ended or 0.0)
        for snap in finished[:max(0, len(finished) - JobManager.KEEP_LIVE_FINISHED)]:
            if now - (snap.ended or now) >= JobManager.RELEASE_AFTER_S:
                snap.history, snap.steps, snap.result = [], [], None
                snap.meta["released"] = True
                self._touch(snap.job_id)

    async def cancel(self, job_id: str, by_teacher: bool = False) -> str:
        """Stop a job (the server checked who may): a queued one never starts, a running one stops at its next
        batch. `by_teacher`: the teacher stopped a student's job (its student is told so). Returns its status
        after the call."""
        snap = self.jobs[job_id]["snap"]
        if by_teacher:
            self.jobs[job_id]["stopped_by_teacher"] = True
        if snap.status == "queued":
            snap.status, snap.ended = "cancelled", time.time()
            snap.message = cancelled_before_start(by_teacher)
            self._touch(job_id)
            self._journal(job_id)
            self._dispatch()
        elif snap.status == "running" and job_id not in self.stop_asked:
            self.stop_asked[job_id] = time.monotonic()
        return snap.status

    # --- the hub of its trainings (cnnkit.jobs.backends.ray's worker side calls these) --------------
    async def push(self, job_id: str, events: list) -> None:
        entry = self.jobs.get(job_id)
        if entry is None:
            return
        had_run_dir = entry["snap"].run_dir
        for event in events:
            apply_event(entry["snap"], event, int(self.settings.get("max_history_points") or 20000))
        self._touch(job_id)
        if entry["snap"].run_dir != had_run_dir and not entry["snap"].finished:
            self._journal(job_id)  # the run folder a head that goes would leave training

    async def is_cancelled(self, job_id: str) -> bool:
        return job_id in self.stop_asked

    # --- what servers read ------------------------------------------------------------------------
    async def changes(self, since: int) -> tuple[int, list[JobSnapshot], dict[str, tuple[int, float]]]:
        """(version now, the jobs changed after version `since`, every queued job's (position, expected wait))."""
        self._dispatch_if_due()
        changed = [self.jobs[j]["snap"] for j in self.order if self.jobs[j]["version"] > since]
        snaps = [self.jobs[j]["snap"] for j in self.order]
        places: dict[str, tuple[int, float]] = {}
        for device in {s.device for s in snaps if s.status == "queued"}:
            timing = queue_timing(snaps, device, self._slots())
            for position, job_id in enumerate(self._start_order(device), 1):
                places[job_id] = (position, timing.wait(position))
        return self.version, changed, places

    # --- the class state (cnnkit.classroom's shared store) ------------------------------------------
    async def state_get(self, key: str) -> Any:
        return copy.deepcopy(self.state.get(key))

    async def state_put(self, key: str, value: Any) -> None:
        if value is None:
            self.state.pop(key, None)
        else:
            self.state[key] = copy.deepcopy(value)
        self.state_version += 1

    async def state_acquire(self, name: str, holder: str, lease_s: float) -> bool:
        """Take lease `name` for `holder` (cnnkit.classroom.class_state.class_lock) unless another holder has it
        and it has not run out."""
        current = self.leases.get(name)
        now = time.time()
        if current is None or current[0] == holder or current[1] < now:
            self.leases[name] = (holder, now + lease_s)
            return True
        return False

    async def state_release(self, name: str, holder: str) -> None:
        if self.leases.get(name, ("",))[0] == holder:
            self.leases.pop(name, None)

    async def ping(self) -> dict:
        return {"class": self.class_name, "jobs": len(self.jobs), "version": self.version,
                "node": ray.get_runtime_context().get_node_id(), "journal": str(self.journal or ""),
                "journal_error": self.journal_error, "recovered": dict(self.recovered)}


class RayClassStore:
    """The class state's store (cnnkit.classroom.class_state.ClassStore) in the class queue's actor."""

    def __init__(self, actor):
        self.actor = actor

    def acquire(self, name: str, holder: str, lease_s: float) -> bool:
        return ray.get(self.actor.state_acquire.remote(name, holder, lease_s), timeout=CALL_TIMEOUT_S)

    def release(self, name: str, holder: str) -> None:
        # Not waited for: the actor runs this caller's calls in the order they were sent, so this server's next
        # acquire comes after it; another server's waits at most its next try. One round trip less per lock.
        self.actor.state_release.remote(name, holder)

    def get(self, key: str) -> Any:
        return ray.get(self.actor.state_get.remote(key), timeout=CALL_TIMEOUT_S)

    def put(self, key: str, value: Any) -> None:
        ray.get(self.actor.state_put.remote(key, value), timeout=CALL_TIMEOUT_S)


def _cancelled(message: str) -> BaseException:
    from cnnkit.cancellation import Cancelled

    return Cancelled(message)


def class_actor(class_name: str, settings: Optional[dict] = None):
    """The class queue's actor: found by name when a server already started it, else started (detached, on the
    head node, so it outlives every server and every worker node)."""
    options: dict = {"name": actor_name(class_name), "namespace": NAMESPACE, "lifetime": "detached",
                     "get_if_exists": True, "max_concurrency": 1000}
    if any(node.get("Alive") and HEAD_RESOURCE in node.get("Resources", {}) for node in ray.nodes()):
        options["resources"] = {HEAD_RESOURCE: 0.001}
    actor = ClassQueue.options(**options).remote(class_name, dict(settings or {}))
    if settings:
        ray.get(actor.configure.remote(dict(settings)), timeout=CALL_TIMEOUT_S)
    return actor


class SharedJobManager(JobQueue):
    """A server's client of the class queue (see the module's docstring). Reads come from a copy refreshed every
    POLL_S by one thread; submits and stops go to the actor at once and refresh the copy."""

    def __init__(self, actor, backend: RayBackend, class_config=None, max_history_points: int = 20000):
        self.actor = actor
        self.backend = backend
        self.class_config = class_config
        self.max_history_points = max_history_points
        self.local = JobManager(class_config=class_config)  # this server's closures (not trainings)
        self.class_store = RayClassStore(actor)              # the class state (cnnkit.classroom.class_state)
        self._lock = threading.Lock()
        self._version = 0
        self._snaps: dict[str, JobSnapshot] = {}
        self._order: list[str] = []
        self._places: dict[str, tuple[int, float]] = {}
        self.last_error: Optional[str] = None
        self._closed = threading.Event()
        self.refresh()
        self._poller = threading.Thread(target=self._poll, name="cnnkit-class-queue", daemon=True)
        self._poller.start()

    @classmethod
    def connect(cls, class_name: str, address: Optional[str] = "auto", slots: Optional[int] = None,
                max_queued_per_owner: Optional[int] = None, cpus_per_job: Optional[int] = None,
                class_config=None) -> "SharedJobManager":
        backend = RayBackend(address, cpus_per_job)
        settings = {"slots": slots, "max_queued_per_owner": max_queued_per_owner, "cpus_per_job": backend.cpus_per_job,
                    "journal": str(journal_dir(class_name))}
        actor = class_actor(class_name, settings)
        actor.warm_up.remote(worker_env())  # not awaited: the workers start while the server starts
        return cls(actor, backend, class_config)

    @property
    def max_concurrent_per_device(self) -> int:
        return self.backend.default_slots()

    # --- submitting -------------------------------------------------------------------------------------
    def submit(self, fn: JobFunction, label: str = "job", device: str = "cpu", group: str = "",
               meta: Optional[dict] = None, owner: str = GUEST, teacher: bool = False) -> str:
        """A training (TrainingJob) goes to the class queue; anything else runs on this server."""
        if not isinstance(fn, TrainingJob):
            return self.local.submit(fn, label, device, group, meta, owner=owner, teacher=teacher)
        meta = dict(meta or {})
        meta.setdefault("kind", "train")
        meta.setdefault("server", SERVER_ID)  # which app server was asked (a department's benchmark counts them)
        gate.check(str(meta["kind"]), gate.Actor(owner or GUEST, teacher), self.class_config,
                   training=gate.job_trainings(meta))
        from cnnkit.models.registry import MODEL_KINDS

        spec = {"owner": owner or GUEST, "label": label, "device": device, "group": group, "meta": meta,
                "config": fn.config.to_dict(), "resume_from": fn.resume_from, "env": worker_env(),
                "kind_modules": sorted({kind.build.__module__ for kind in MODEL_KINDS.values()})}
        outcome, value = self._call(self.actor.submit.remote(spec))
        if outcome == "full":
            raise QueueFull(value)
        self.refresh()
        return value

    def submit_training(self, config, label: str = "", group: str = "", resume_from: Optional[str] = None,
                        owner: str = GUEST, teacher: bool = False, kind: str = "", meta: Optional[dict] = None) -> str:
        device = self.backend.resolve_device(config.device)
        kind = kind or training_kind(config, group, resume_from, meta)
        meta = {**(meta or {}), "config": config.to_dict(), "kind": kind}
        if resume_from is not None:
            meta["resumes"] = run_key(resume_from)
        return self.submit(TrainingJob(config, resume_from, owner),
                           label or config.name or f"{config.model_label()} on {config.dataset}", device, group, meta,
                           owner=owner, teacher=teacher)

    def queue_room(self, owner: str = GUEST) -> int:
        return self._call(self.actor.queue_room.remote(owner or GUEST))

    # --- reading ------------------------------------------------------------------------------------------
    def snapshot(self, job_id: str) -> JobSnapshot:
        if not job_id.startswith(ID_PREFIX):
            return self.local.snapshot(job_id)
        with self._lock:
            known = job_id in self._snaps
        if not known:  # submitted on another server since the last poll
            self.refresh()
        with self._lock:
            if job_id not in self._snaps:
                raise KeyError(f"no job {job_id!r}")
            return self._copy(job_id)

    def list(self, group: Optional[str] = None, with_history: bool = True) -> list[JobSnapshot]:
        with self._lock:
            shared = [self._copy(j, with_history) for j in self._order
                      if group is None or self._snaps[j].group == group]
        return sorted(shared + self.local.list(group, with_history), key=lambda snap: snap.created)

    def cancel(self, job_id: str, by: str = GUEST, teacher: bool = False) -> None:
        if not job_id.startswith(ID_PREFIX):
            self.local.cancel(job_id, by, teacher)
            return
        snap = self.snapshot(job_id)
        gate.check("stop", gate.Actor(by or GUEST, teacher), self.class_config, target_owner=snap.owner,
                   what=snap.label)
        self._call(self.actor.cancel.remote(job_id, teacher and not same_person(by, snap.owner)))
        self.refresh()

    # --- the copy ---------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Bring this server's copy up to date with the class queue now."""
        version, changed, places = self._call(self.actor.changes.remote(self._version))
        with self._lock:
            for snap in changed:
                if snap.job_id not in self._snaps:
                    self._order.append(snap.job_id)
                self._snaps[snap.job_id] = snap
            self._version, self._places = version, places

    def _poll(self) -> None:
        while not self._closed.wait(POLL_S):
            try:
                self.refresh()
                self.last_error = None
            except Exception as exc:  # the cluster is away: keep the last copy, say why on the next read
                self.last_error = f"the class queue does not answer ({type(exc).__name__}: {exc})"

    def close(self) -> None:
        self._closed.set()

    def _copy(self, job_id: str, with_history: bool = True) -> JobSnapshot:
        snap = copy.copy(self._snaps[job_id])
        snap.history = list(snap.history) if with_history else []
        snap.steps, snap.meta = list(snap.steps) if with_history else [], dict(snap.meta)
        if snap.status == "queued" and job_id in self._places:
            snap.queue_position, snap.expected_wait_s = self._places[job_id]
        return snap

    @staticmethod
    def _call(ref):
        return ray.get(ref, timeout=CALL_TIMEOUT_S)


__all__ = ["ClassQueue", "RayClassStore", "SharedJobManager", "actor_name", "class_actor"]
