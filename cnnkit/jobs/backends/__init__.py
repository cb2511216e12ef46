"""Execution backends, registered by name: the module `cnnkit.jobs.backends.<name>` IS backend `<name>`, and
its `create(**options)` makes one. Adding a backend is one file here; nothing else names it.

- process: trainings in warm worker processes, kept between jobs (the default of get_job_manager);
- thread:  each started job runs in a thread of this process (CNNKIT_JOB_BACKEND=thread);
- ray:     trainings on a Ray cluster (CNNKIT_JOB_BACKEND=ray or CNNKIT_RAY_ADDRESS set; ray is optional).

A queue decides WHICH job starts and when; a backend decides only HOW a started job runs."""

from __future__ import annotations

import importlib
import pkgutil

_NOT_BACKENDS = {"base"}


def backend_names() -> list[str]:
    """Every registered backend's name (the modules of this package), without importing them."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_BACKENDS
                  and not m.name.startswith("_"))


def create_backend(name: str, **options):
    """A new backend `name` made with `options` (e.g. the Ray backend's address). A module is imported only
    here, when asked for, so an optional engine (ray) is needed only by those who choose it."""
    if name not in backend_names():
        raise ValueError(f"job backend {name!r}: choose one of {', '.join(backend_names())}")
    return importlib.import_module(f"{__name__}.{name}").create(**options)


__all__ = ["backend_names", "create_backend"]
