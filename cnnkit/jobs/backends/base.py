"""What every backend shares. A backend gets the queue that started a job (duck-typed: `_run(job_id)` runs a
job's function here, `_apply_event(job_id, event)` records progress, `_finish(job_id, result, exc, trace)` its
end, `_thread_share(job_id)` its share of the cores), so no backend imports the queue."""

from __future__ import annotations

import threading
from typing import Any, Optional

from cnnkit.cancellation import Cancelled
from cnnkit.jobs.context import Job, TrainingJob
from cnnkit.threads import step_back_this_thread


class Backend:
    """Runs a started job. Subclasses set `name` and may override resolve_device and default_slots."""

    name = ""

    def resolve_device(self, requested: str) -> str:
        """The device a job asking for `requested` ("auto", "cpu", "cuda:1", ...) will train on."""
        from cnnkit.device import resolve_device

        return str(resolve_device(requested))

    def default_slots(self) -> Optional[int]:
        """How many jobs per device may run at once when the class config does not say (None: 1)."""
        return None

    def start(self, manager, job: Job) -> None:
        """Begin running `job` (already marked running); manager._finish is called once when it ends."""
        raise NotImplementedError


def start_in_thread(manager, job: Job) -> None:
    """Run `job`'s function in a thread of this process (manager._run records how it ended), a step behind the
    page renders of the same process (cnnkit.threads.step_back_this_thread): students' pages first."""
    def run() -> None:
        step_back_this_thread()
        manager._run(job.snapshot.job_id)

    job.thread = threading.Thread(target=run, name=f"cnnkit-{job.snapshot.job_id}", daemon=True)
    job.thread.start()


def portable_exception(exc: Exception) -> Exception:
    """An exception a worker can send back to the app: itself when it survives pickling (the app then sees
    the same type and message), else a RuntimeError with its type and text."""
    import pickle

    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def finish_remote(manager, job_id: str, status: str, value: Any, trace: str) -> None:
    """End a job from a worker's (status, result or message or exception, traceback) report."""
    if status == "done":
        manager._finish(job_id, value)
    elif status == "cancelled":
        manager._finish(job_id, None, Cancelled(value))
    else:
        manager._finish(job_id, None, value, trace)


class RemoteTrainingBackend(Backend):
    """What the process and Ray backends share: trainings (TrainingJob) run elsewhere, watched from a thread
    of the app (`_watch`, which moves events into the snapshot and passes Stop on); other jobs (closures
    holding app state, e.g. a resolution lab) run in a thread here as with the thread backend."""

    def start(self, manager, job: Job) -> None:
        if not isinstance(job.fn, TrainingJob):
            start_in_thread(manager, job)
            return
        job.thread = threading.Thread(target=self._watch, args=(manager, job),
                                      name=f"cnnkit-{self.name}-{job.snapshot.job_id}", daemon=True)
        job.thread.start()

    def _watch(self, manager, job: Job) -> None:
        raise NotImplementedError

    _finish_remote = staticmethod(finish_remote)
