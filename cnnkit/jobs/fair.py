"""The one fair order of a queue: which waiting job starts next on a device. Pure functions over plain data,
so the in-process queue (cnnkit.jobs.manager) and the shared one in the Ray cluster (cnnkit.jobs.shared)
order jobs by the same code."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Optional

from cnnkit.jobs.snapshot import DEFAULT_JOB_SECONDS, JobSnapshot


def start_order(queued: Iterable[tuple[str, str]], owner_ring: list[str], last_owner: Optional[str]) -> list[str]:
    """The ids of one device's queued jobs, given as (job id, owner) in submission order, in the order they will
    start: owners take turns (in `owner_ring`, the order they first submitted, starting after `last_owner`, whose
    job started last there), each owner's jobs in submission order. A sweep of 20 from one owner interleaves with
    everyone else's single runs."""
    per_owner: dict[str, list[str]] = {}
    for job_id, owner in queued:
        per_owner.setdefault(owner, []).append(job_id)
    ring = [o for o in owner_ring if o in per_owner]
    ring += [o for o in per_owner if o not in ring]  # an owner missing from the ring still gets turns, last
    if last_owner in owner_ring:
        # The turn passes to the first owner after `last_owner` in the ring (wrapping round).
        after = owner_ring.index(last_owner)
        position = {o: i for i, o in enumerate(owner_ring)}
        ring.sort(key=lambda o: (position.get(o, len(owner_ring)) <= after, position.get(o, len(owner_ring))))
    order: list[str] = []
    while any(per_owner.values()):
        for owner in ring:
            if per_owner[owner]:
                order.append(per_owner[owner].pop(0))
    return order


@dataclass(frozen=True)
class QueueTiming:
    """One device's queue in seconds: when its first slot frees, how long a job takes there, how many slots.
    Worked out once per device (over every job), then asked per queue position: a list of 40 waiting jobs
    costs one pass over the jobs, not 40."""

    first_free_s: float
    per_job_s: float
    slots: int

    def wait(self, position: int) -> float:
        """Seconds until the job at queue `position` (1 = next) starts."""
        return self.first_free_s + (position - 1) * self.per_job_s / self.slots


def queue_timing(snapshots: list[JobSnapshot], device: str, slots: int, now: Optional[float] = None) -> QueueTiming:
    """`device`'s timing: the jobs ahead at the mean duration of the device's last finished jobs (the running
    ones' own ETA), shared over its `slots`. `snapshots`: every job in submission order."""
    now = time.time() if now is None else now
    durations = [s.ended - s.started for s in snapshots[::-1]
                 if s.device == device and s.status == "done" and s.started and s.ended][:20]
    running = [s for s in snapshots if s.device == device and s.status == "running"]
    per_job = sum(durations) / len(durations) if durations else None
    remaining = []
    for snap in running:
        if snap.eta_s is not None:
            remaining.append(float(snap.eta_s))
        elif per_job is not None and snap.started:
            remaining.append(max(0.0, per_job - (now - snap.started)))
        else:
            remaining.append(DEFAULT_JOB_SECONDS if per_job is None else per_job)
    per_job = per_job if per_job is not None else DEFAULT_JOB_SECONDS
    first_free = min(remaining) if len(remaining) >= slots else 0.0
    return QueueTiming(first_free, per_job, slots)
