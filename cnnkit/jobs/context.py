"""What runs: a job function's context (progress, the cancel flag, its share of the cores), the training job
as data, and one queued job of the in-process queue."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from cnnkit.cancellation import Cancelled
from cnnkit.classroom.permissions import GUEST
from cnnkit.jobs.snapshot import JobSnapshot

JobFunction = Callable[["JobContext"], Any]


class JobContext:
    """What a job function gets: progress reporting and the cancel flag. `manager` is the queue that runs it
    (anything with _apply_event(job_id, event) and _thread_share(job_id))."""

    def __init__(self, manager, job_id: str, cancel_event: threading.Event):
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
    backend can run it elsewhere (the Ray backend ships `config` to a Ray worker); called here, it trains here."""

    def __init__(self, config, resume_from: Optional[str] = None, owner: str = ""):
        self.config = config
        self.resume_from = resume_from
        self.owner = owner

    def __call__(self, context: JobContext):
        from cnnkit.train import train

        try:
            return train(self.config, on_progress=context.progress, cancel_event=context.cancel_event,
                         resume_from=self.resume_from, owner=self.owner, thread_cap=context.thread_share)
        except Cancelled as exc:
            # A cancel escapes train() only before its first step (e.g. while the data loads).
            raise Cancelled(str(exc) or "stopped before training started") from None


class Job:
    """One job of the in-process queue: its snapshot, its function, its cancel flag and the thread that runs
    or watches it (set by the backend)."""

    def __init__(self, job_id: str, label: str, device: str, group: str, fn: JobFunction, meta: dict,
                 owner: str = GUEST):
        self.snapshot = JobSnapshot(job_id=job_id, label=label, device=device, group=group, status="queued",
                                    queue_position=None, created=time.time(), started=None, ended=None, meta=meta,
                                    owner=owner)
        self.fn = fn
        self.cancel_event = threading.Event()
        self.stopped_by_teacher = False   # the teacher stopped someone else's job: its student is told so
        self.thread: Optional[threading.Thread] = None
