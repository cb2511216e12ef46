"""The queue's one interface. Pages, the CLI and lessons talk to a JobQueue and never know which one it is:
- cnnkit.jobs.manager.JobManager: the in-process queue (one app server; the default);
- cnnkit.jobs.shared.SharedJobManager: one queue for every app server of a class, kept in the Ray cluster.
Both order waiting jobs by cnnkit.jobs.fair and check every job and Stop against the class gate."""

from __future__ import annotations

import time
from typing import Optional

from cnnkit.classroom import gate
from cnnkit.classroom.identity import same_person
from cnnkit.classroom.permissions import GUEST
from cnnkit.jobs.context import JobFunction
from cnnkit.jobs.snapshot import JobSnapshot, run_is_resumable, run_key


class QueueFull(ValueError):
    """An owner already has as many jobs waiting as the class allows."""


def queue_full_message(cap: int) -> str:
    return (f"You already have {cap} runs waiting, the most this class allows: wait for one to start, or stop "
            "one, then queue again")


def training_kind(config, group: str, resume_from: Optional[str], meta: Optional[dict]) -> str:
    """The class gate's name for a training job: "resume", "transfer" or "sweep" as the config and group say,
    else "train" (a kind given in `meta` wins)."""
    model = getattr(config, "model", None)
    return (meta or {}).get("kind") or (
        "resume" if resume_from is not None else
        "transfer" if isinstance(model, dict) and model.get("kind") == "transfer" else
        "sweep" if group.startswith("sweep") else "train")


class JobQueue:
    """What every queue offers. Subclasses implement submit, submit_training, queue_room, snapshot, list and
    cancel; the rest is written once here on top of them."""

    class_config = None  # the class rules (cnnkit.classroom.gate); None: read cnnlab.toml at each check

    # --- implemented by each queue ----------------------------------------------------------------
    def submit(self, fn: JobFunction, label: str = "job", device: str = "cpu", group: str = "",
               meta: Optional[dict] = None, owner: str = GUEST, teacher: bool = False) -> str:
        raise NotImplementedError

    def submit_training(self, config, label: str = "", group: str = "", resume_from: Optional[str] = None,
                        owner: str = GUEST, teacher: bool = False, kind: str = "", meta: Optional[dict] = None) -> str:
        raise NotImplementedError

    def queue_room(self, owner: str = GUEST) -> int:
        raise NotImplementedError

    def snapshot(self, job_id: str) -> JobSnapshot:
        raise NotImplementedError

    def list(self, group: Optional[str] = None, with_history: bool = True) -> list[JobSnapshot]:
        """Copies of every job's snapshot (or `group`'s), in queue order. with_history=False leaves each copy's
        history and steps empty: a picker or a count asks for it, and copying 40 runs' curves on every page
        run of every student is most of what listing costs."""
        raise NotImplementedError

    def cancel(self, job_id: str, by: str = GUEST, teacher: bool = False) -> None:
        raise NotImplementedError

    # --- the same for every queue ------------------------------------------------------------------
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
        key = run_key(run_dir)
        for snap in self.active():
            if snap.meta.get("resumes") == key or (snap.run_dir and run_key(snap.run_dir) == key):
                return snap
        return None

    def can_resume(self, record) -> bool:
        """A saved run can be resumed: stopped before its last epoch and no job on it (one click, one job)."""
        return run_is_resumable(record) and self.job_for_run(record.run_dir) is None

    def can_delete(self, record) -> bool:
        """A saved run can be deleted: nothing is writing it (no job on it, not marked as training)."""
        from cnnkit.jobs.snapshot import WRITING_STATUSES

        return record.status not in WRITING_STATUSES and self.job_for_run(record.run_dir) is None

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
        """The unfinished jobs, without their curves (history and steps empty): who, what, where and its state.
        A page asks on every run, once per saved run too (job_for_run), and copying every job's curves was most
        of it; a page that draws a job's curves asks for that job's snapshot."""
        return [s for s in self.list(with_history=False) if not s.finished]

    def active_of(self, owner: str) -> list[JobSnapshot]:
        """`owner`'s unfinished jobs ("" = a guest's): a page finds them again after a reload."""
        return [s for s in self.active() if same_person(s.owner, owner or GUEST)]


__all__ = ["JobQueue", "QueueFull", "queue_full_message", "training_kind"]
