"""Backend "process": each training in its own worker process ('spawn'), so the app's Python threads (pages,
live panels) and the training do not share one GIL: benchmarks/bench_classroom.py measured threaded trainings
well under 80% of the CLI's images/s while a class loads pages or watches with real browsers (issue 13).
Selected with CNNKIT_JOB_BACKEND=process."""

from __future__ import annotations

import threading
import traceback
from typing import Optional

from cnnkit.cancellation import Cancelled
from cnnkit.jobs.backends.base import RemoteTrainingBackend, portable_exception
from cnnkit.jobs.context import Job


def _train_in_worker(config_dict: dict, resume_from: Optional[str], owner: str, kind_modules: list,
                     events, cancel_event, thread_cap: Optional[int] = None) -> None:
    """One training in a spawned worker process: progress events go to `events` as ("event", dict), then one
    ("end", status, result or exception, traceback). `thread_cap`: the job's fair share of the cores when it
    started."""
    import importlib

    from cnnkit.threads import set_openmp_wait_env, step_back_this_thread

    step_back_this_thread()  # behind the app's page renders, as the thread backend's jobs

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
    """Same contract as the thread backend: a thread of the app per job moves the worker's progress events into
    the snapshot and passes Stop on (a multiprocessing Event that train() checks every batch). Jobs that are not
    trainings (closures) run in a thread as before."""

    name = "process"
    POLL_S = 0.25

    def __init__(self):
        import multiprocessing

        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded server

    def _watch(self, manager, job: Job) -> None:
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


def create(**options) -> ProcessBackend:
    return ProcessBackend(**options)


__all__ = ["ProcessBackend", "create"]
