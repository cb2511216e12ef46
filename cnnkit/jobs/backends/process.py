"""Backend "process": trainings in warm worker processes ('spawn', kept between jobs), so the app's Python
threads (pages, live panels) and the training do not share one GIL: benchmarks/bench_classroom.py measured
threaded trainings well under 80% of the CLI's images/s while a class loads pages or watches with real browsers
(issue 13), and a training thread that holds the GIL holds up every page render of its server (issue 31).
The default of cnnkit.jobs.get_job_manager (CNNKIT_JOB_BACKEND=thread chooses threads)."""

from __future__ import annotations

import threading
import traceback

from cnnkit.cancellation import Cancelled
from cnnkit.jobs.backends.base import RemoteTrainingBackend, portable_exception
from cnnkit.jobs.context import Job


WORKER_CHECK_S = 2.0           # an idle worker looks this often whether its app server still lives
WORKER_IDLE_EXIT_S = 15 * 60   # and leaves after this long without a job (its memory back; the next job spawns)


def _train_one(task: tuple, events, cancel_event) -> None:
    """One training in this worker: progress events go to `events` as ("event", dict), then one ("end", status,
    result or exception, traceback). `task` = (config dict, resume_from, owner, model-kind modules, thread cap:
    the job's fair share of the cores when it started)."""
    import importlib

    config_dict, resume_from, owner, kind_modules, thread_cap = task
    try:
        for module in kind_modules:  # model kinds registered in the app (e.g. transfer) must exist here too
            importlib.import_module(module)
        from cnnkit.train import TrainConfig, train

        result = train(TrainConfig.from_dict(config_dict), on_progress=lambda e: events.put(("event", e)),
                       cancel_event=cancel_event, resume_from=resume_from, owner=owner,
                       thread_cap=(lambda: thread_cap) if thread_cap else None)
        events.put(("end", "done", result, ""))
    except Cancelled as exc:
        events.put(("end", "cancelled", str(exc) or "stopped before training started", ""))
    except Exception as exc:
        events.put(("end", "failed", portable_exception(exc), traceback.format_exc(limit=3)))


def _serve(tasks, events, cancel_event) -> None:
    """A worker process: trainings one after another, from `tasks` until a None. It stays between jobs, so a
    class's 40 short runs pay for one interpreter and one torch import, not 40 (each ~2-4 s of a core)."""
    from cnnkit.threads import set_openmp_wait_env, step_back_this_thread

    step_back_this_thread()  # behind the app's page renders, as the thread backend's jobs
    set_openmp_wait_env()    # a fresh process: OpenMP has not started yet, so its wait policy can still be set
    import cnnkit.train  # noqa: F401  (warm: the first job does not wait for torch)

    import multiprocessing
    import queue
    import time

    parent = multiprocessing.parent_process()
    idle_since = time.monotonic()
    while True:
        try:
            task = tasks.get(timeout=WORKER_CHECK_S)
        except queue.Empty:
            # an app server that was killed cannot say None: its workers go too, as does one idle for long
            if (parent is not None and not parent.is_alive()) or time.monotonic() - idle_since > WORKER_IDLE_EXIT_S:
                return
            continue
        if task is None:
            return
        _train_one(task, events, cancel_event)
        idle_since = time.monotonic()


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


class _Worker:
    """One warm worker process and its three channels; it trains one job at a time."""

    def __init__(self, context):
        self.tasks, self.events, self.cancel = context.Queue(), context.Queue(), context.Event()
        self.process = context.Process(target=_serve, args=(self.tasks, self.events, self.cancel), daemon=True,
                                       name="cnnkit-worker")

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        try:
            self.tasks.put(None)
        except (OSError, ValueError):
            pass


class ProcessBackend(RemoteTrainingBackend):
    """Same contract as the thread backend: a thread of the app per job moves the worker's progress events into
    the snapshot and passes Stop on (a multiprocessing Event that train() checks every batch). Trainings go to
    warm worker processes, kept between jobs (at most one per job running at once, `max_idle` kept idle);
    jobs that are not trainings (closures) run in a thread as before."""

    name = "process"
    POLL_S = 0.25

    def __init__(self, max_idle: int = 2):
        import multiprocessing

        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._idle: list[_Worker] = []
        self._pool_lock = threading.Lock()
        self.max_idle = max_idle
        self.started_workers = 0  # how many worker processes this backend has spawned (a warm pool reuses them)

    def _take_worker(self) -> _Worker:
        with self._pool_lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
        worker = _Worker(self._context)
        _start_without_main(worker.process)
        self.started_workers += 1
        return worker

    def has_warm_worker(self) -> bool:
        """Whether the next training starts in a worker already running (else it waits for one to start: a new
        process importing torch, about 2 s on a quiet 2-core laptop: benchmarks/bench_worker_start.py)."""
        with self._pool_lock:
            return any(worker.alive() for worker in self._idle)

    def _give_back(self, worker: _Worker) -> None:
        with self._pool_lock:
            if worker.alive() and len(self._idle) < self.max_idle:
                self._idle.append(worker)
                return
        worker.stop()

    def close(self) -> None:
        """Let the idle workers go (a server ending; running jobs' workers end with their job)."""
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def _watch(self, manager, job: Job) -> None:
        import queue

        from cnnkit.models.registry import MODEL_KINDS

        job_id, spec = job.snapshot.job_id, job.fn
        kind_modules = sorted({kind.build.__module__ for kind in MODEL_KINDS.values()})
        try:
            worker = self._take_worker()
        except Exception as exc:
            manager._finish(job_id, None, RuntimeError(f"could not start a worker process: {exc}"))
            return
        worker.cancel.clear()  # the last job's Stop must not stop this one
        worker.tasks.put((spec.config.to_dict(), spec.resume_from, spec.owner, kind_modules,
                          manager._thread_share(job_id)))
        outcome = None
        while outcome is None:
            if job.cancel_event.is_set():
                worker.cancel.set()
            try:
                item = worker.events.get(timeout=self.POLL_S)
            except queue.Empty:
                if not worker.alive():
                    break  # it died without saying how it ended
                continue
            if item[0] == "event":
                manager._apply_event(job_id, item[1])
            else:
                outcome = item[1:]
        if outcome is None:
            worker.process.join(timeout=30)
            message = (f"the worker process training this job stopped (exit code {worker.process.exitcode}); the run "
                       "keeps its last saved epoch: resume it from the run list")
            manager._finish(job_id, None, RuntimeError(message))
            return
        self._give_back(worker)
        self._finish_remote(manager, job_id, *outcome)


def create(**options) -> ProcessBackend:
    return ProcessBackend(**options)


__all__ = ["ProcessBackend", "create"]
