"""The states a saved run's run.json records, named once for every layer that reads them.

A base module (it imports nothing): cnnkit.store owns the run folder and re-exports these; cnnkit.jobs, which must
not load torch on import (a spawned worker sets its OpenMP wait first), and cnnkit.train.sweeps, below the store,
read them here."""

ACTIVE_STATUSES = ("queued", "running")
# A run in these states is being written by a training right now (a new run is "starting" while it is laid out).
WRITING_STATUSES = ACTIVE_STATUSES + ("starting",)
FINISHED_STATUSES = ("done", "early_stopped")
