"""What a job looks like from outside: its snapshot (a copy, safe to keep), the status names, and the small
pure helpers every queue and backend shares (progress fractions, how a progress event changes a snapshot).

The lowest module of cnnkit.jobs: it imports nothing of the package, so the in-process queue, the shared one
(cnnkit.jobs.shared, in the Ray cluster) and every backend read and write snapshots the same way."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from cnnkit.classroom.permissions import GUEST, STOPPED_BY_TEACHER
from cnnkit.run_status import WRITING_STATUSES  # noqa: F401  saved runs a training writes now (cnnkit.jobs API)

FINISHED = ("done", "failed", "cancelled")
# Saved runs in these states stopped before their last epoch and can go on from their last checkpoint.
RESUMABLE_STATUSES = ("interrupted", "cancelled", "failed")
# Without finished jobs to go by, a queued job's wait is estimated from this many seconds per job ahead.
DEFAULT_JOB_SECONDS = 60.0


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
    Says nothing about jobs: a queue's can_resume also checks that no job is on it already."""
    return record.status in RESUMABLE_STATUSES and record.epochs_done < record.epochs


def device_key(device: str) -> str:
    """The queue a device's jobs wait in: every CUDA device is "cuda"."""
    return "cuda" if str(device).startswith("cuda") else str(device)


def run_key(run_dir) -> str:
    """One spelling per run folder, so a resume's meta and a job's run_dir compare equal."""
    return str(Path(run_dir).expanduser().resolve())


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


# Snapshot fields a job may set with a progress event of its own kind (not the queue's bookkeeping).
_EVENT_FIELDS = {f.name for f in fields(JobSnapshot)} - {"job_id", "device", "group", "status", "queue_position",
                                                         "created", "started", "ended", "result", "error", "meta",
                                                         "owner", "expected_wait_s"}


def apply_event(snap: JobSnapshot, event: dict, max_history_points: int) -> None:
    """Change `snap` as one progress event of a job says (a cnnkit.train event or any dict of snapshot fields).
    The training-loss curve keeps at most `max_history_points` points (thinned to half when it grows past)."""
    kind = event.get("kind")
    if kind == "step":
        for key in ("epoch", "epochs", "epoch_step", "steps_per_epoch", "eta_s", "images_per_s"):
            setattr(snap, key, event.get(key))
        snap.phase = "training"
        snap.steps.append({"step": event["step"],
                           "epoch": fractional_epoch(event["epoch"], event["epoch_step"], event["steps_per_epoch"]),
                           "loss": event["loss"], "lr": event.get("lr")})
        if len(snap.steps) > max_history_points:
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


def cancelled_before_start(by_teacher: bool) -> str:
    """The message of a queued job stopped before it started (its student is told when the teacher did it)."""
    return STOPPED_BY_TEACHER + " before it started" if by_teacher else "cancelled before it started"


def end_status(result: Any, exc: Optional[BaseException], trace: str = "") -> tuple[str, Any, Optional[str], str]:
    """How a job ended, from its result or the exception it raised: (status, result, error, message).
    Cancelled is a cancel, not a failure; other exceptions keep their message, and unexpected types also their
    traceback `trace`. `message` is "" when the snapshot's message should stay as it is."""
    from cnnkit.cancellation import Cancelled

    if exc is None:
        status = getattr(result, "status", "done")
        message = (getattr(result, "message", "") or "") if status == "early_stopped" else ""
        return ("failed" if status == "failed" else "cancelled" if status == "cancelled" else "done",
                result, None, message)
    if isinstance(exc, Cancelled):  # stopped on request
        return "cancelled", None, None, str(exc) or "stopped"
    error = str(exc) or type(exc).__name__
    if not isinstance(exc, (ValueError, RuntimeError, FileNotFoundError)):
        error = f"{type(exc).__name__}: {error}\n{trace}"
    return "failed", None, error, error
