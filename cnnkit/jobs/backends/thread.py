"""Backend "thread" (CNNKIT_JOB_BACKEND=thread; JobManager's own default): each started job runs in a thread of this process, the app's own machine."""

from __future__ import annotations

from cnnkit.jobs.backends.base import Backend, start_in_thread
from cnnkit.jobs.context import Job


class LocalBackend(Backend):
    """Runs each started job in a thread of this process."""

    name = "thread"

    def start(self, manager, job: Job) -> None:
        start_in_thread(manager, job)


def create(**options) -> LocalBackend:
    return LocalBackend(**options)


__all__ = ["LocalBackend", "create"]
