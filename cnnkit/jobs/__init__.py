"""Background jobs: a queue that runs trainings one at a time per device (configurable).

The package, lowest module first (each imports only the ones before it; tests/test_layers.py checks):
- snapshot:  JobSnapshot (a copy of a job's state), status names, how a progress event changes a snapshot;
- fair:      the one fair order of waiting jobs (owners take turns) and the expected wait;
- context:   what runs: JobContext, TrainingJob (a training as data), an in-process Job;
- backends/: HOW a started job runs, registered by name (one file each): process (default), thread, ray;
- queue:     the one interface of a queue (JobQueue) and what every queue shares;
- manager:   JobManager, the in-process queue (one app server, the default);
- shared:    SharedJobManager, one queue for several app servers, kept in the Ray cluster (CNNKIT_SHARED_QUEUE);
- this file: get_job_manager(), the process-wide queue every page and the CLI share, chosen by the settings.
"""

from __future__ import annotations

import os
import threading
from typing import Optional

from cnnkit.cancellation import Cancelled, raise_if_cancelled
from cnnkit.classroom.class_state import register_class_store_factory
from cnnkit.jobs.backends import backend_names, create_backend
from cnnkit.jobs.backends.base import Backend, RemoteTrainingBackend, portable_exception
from cnnkit.jobs.backends.process import ProcessBackend
from cnnkit.jobs.backends.thread import LocalBackend
from cnnkit.jobs.context import JobContext, JobFunction, TrainingJob
from cnnkit.jobs.manager import JobManager
from cnnkit.jobs.queue import JobQueue, QueueFull
from cnnkit.jobs.snapshot import (DEFAULT_JOB_SECONDS, FINISHED, RESUMABLE_STATUSES, WRITING_STATUSES, JobSnapshot,
                                  fractional_epoch, new_group_id, run_is_resumable, training_fraction)

# Set (e.g. "auto", "ray://head:10001") to run trainings on a Ray cluster instead of this machine.
RAY_ADDRESS_ENV = "CNNKIT_RAY_ADDRESS"
# A backend's name (cnnkit.jobs.backends): "process" (the default: trainings in a warm worker process, so a
# class's page renders never wait for a training's hold on the GIL: bench_classroom.py, issue 31), "thread"
# (each job in a thread of this process) or "ray" (needs ray; CNNKIT_RAY_ADDRESS says where the cluster is).
JOB_BACKEND_ENV = "CNNKIT_JOB_BACKEND"
# Set to a class's name (e.g. "cnnlab") to share one queue between every app server of that class: the queue
# lives in the Ray cluster at CNNKIT_RAY_ADDRESS (cnnkit.jobs.shared). Unset: each server keeps its own queue.
SHARED_QUEUE_ENV = "CNNKIT_SHARED_QUEUE"
DEFAULT_BACKEND = "process"
_MANAGER: Optional[JobQueue] = None
_MANAGER_LOCK = threading.Lock()


def _backend_choice() -> tuple[str, dict]:
    """The backend the settings ask for, and its options."""
    name = os.environ.get(JOB_BACKEND_ENV, "").strip()
    if os.environ.get(RAY_ADDRESS_ENV) and name in ("", "ray"):
        return "ray", {"address": os.environ[RAY_ADDRESS_ENV]}
    if name and name not in backend_names():
        raise ValueError(f"{JOB_BACKEND_ENV}={name!r}: use one of {', '.join(backend_names())}")
    return name or DEFAULT_BACKEND, ({"address": "auto"} if name == "ray" else {})


def get_job_manager() -> JobQueue:
    """The process-wide queue every page and user shares (so the queue is real): the in-process JobManager, or
    with CNNKIT_SHARED_QUEUE set the class's shared queue in the Ray cluster."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            from cnnkit.classroom.config import load_classroom_config

            # The class config (cnnlab.toml) sets jobs per device and the per-owner queue cap; the env var
            # still works for a single user. A broken config file must not stop the app: no caps then.
            try:
                limits = load_classroom_config()
            except ValueError:
                limits = None
            slots = os.environ.get("CNNKIT_JOBS_PER_DEVICE")
            if limits and limits.jobs_per_device:
                slots = str(limits.jobs_per_device)
            per_owner = limits.queue_per_owner if limits else None
            name, options = _backend_choice()
            if os.environ.get(SHARED_QUEUE_ENV):
                from cnnkit.jobs.shared import SharedJobManager  # only here: ray is an optional install

                _MANAGER = SharedJobManager.connect(os.environ[SHARED_QUEUE_ENV],
                                                    address=os.environ.get(RAY_ADDRESS_ENV) or "auto",
                                                    slots=int(slots) if slots else None,
                                                    max_queued_per_owner=per_owner)
                return _MANAGER
            backend = create_backend(name, **options)
            # The queue still decides what starts (fair queueing); on a cluster as many at once as it can place.
            slots = slots or backend.default_slots()
            _MANAGER = JobManager(max_concurrent_per_device=int(slots or 1), backend=backend,
                                  max_queued_per_owner=per_owner)
        return _MANAGER


def _shared_class_store():
    """The class state's store when the queue is shared (cnnkit.classroom.class_state asks for it)."""
    manager = get_job_manager()
    return getattr(manager, "class_store", None)


register_class_store_factory(_shared_class_store)


__all__ = ["DEFAULT_JOB_SECONDS", "FINISHED", "RESUMABLE_STATUSES", "WRITING_STATUSES", "Backend", "Cancelled",
           "JobContext", "JobFunction", "JobManager", "JobQueue", "JobSnapshot", "LocalBackend", "ProcessBackend",
           "QueueFull", "RemoteTrainingBackend", "TrainingJob", "backend_names", "create_backend",
           "fractional_epoch", "get_job_manager", "new_group_id", "portable_exception", "raise_if_cancelled",
           "run_is_resumable", "training_fraction"]
