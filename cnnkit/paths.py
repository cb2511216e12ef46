"""Where CNN Lab keeps its files: one data folder and one checkpoint folder.

Both are read from the environment on every call, so tests and the app can point them
somewhere else without restarting the process.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "CNNKIT_DATA_DIR"
CHECKPOINT_DIR_ENV = "CNNKIT_CHECKPOINT_DIR"


def data_dir() -> Path:
    """The data directory: downloads, imported datasets and decode caches (default ./data)."""
    return Path(os.environ.get(DATA_DIR_ENV, "data")).expanduser().resolve()


def checkpoint_dir() -> Path:
    """The checkpoint directory: one folder per saved run (default ./checkpoints)."""
    return Path(os.environ.get(CHECKPOINT_DIR_ENV, "checkpoints")).expanduser().resolve()


CACHE_DIR_ENV = "CNNKIT_CACHE_DIR"


def cache_dir() -> Path:
    """Decoded-tensor caches live inside the data directory so one setting moves everything.

    CNNKIT_CACHE_DIR overrides it; a read-only data directory (a shared dataset folder)
    falls back to ~/.cache/cnnkit so decoding still happens only once.
    """
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    root = data_dir()
    inside = root / ".cache"
    if inside.is_dir():
        if _writable(inside):
            return inside
    elif not root.exists() or _writable(root):
        return inside
    return Path("~/.cache/cnnkit").expanduser().resolve()


def _writable(folder: Path) -> bool:
    # os.access alone says yes to root even on a folder marked read-only (r-x): honour the marking too.
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


DEMO_RUNS_ENV = "CNNKIT_DEMO_RUNS_DIR"


def demo_runs_dir() -> Path:
    """The demo runs shipped with the code (assets/demo_runs, one run folder each): read-only, never resumed,
    deleted or written. CNNKIT_DEMO_RUNS_DIR points elsewhere (tests; an empty folder hides them)."""
    override = os.environ.get(DEMO_RUNS_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / "assets" / "demo_runs"


LESSON_RESULTS_ENV = "CNNKIT_LESSON_RESULTS_DIR"


def lesson_results_dir() -> Path:
    """The lesson results shipped with the code (assets/lesson_results/<lesson_id>-<mode>/lab.json): read-only,
    opened with no training. CNNKIT_LESSON_RESULTS_DIR points elsewhere (tests; an empty folder hides them)."""
    override = os.environ.get(LESSON_RESULTS_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / "assets" / "lesson_results"


SHIPPED_DATASETS_ENV = "CNNKIT_SHIPPED_DATASETS_DIR"


def shipped_datasets_dir() -> Path:
    """Small datasets shipped with the code (assets/datasets): the offline fallback for the course's quick lessons
    (e.g. cifar10-subset). Read-only. CNNKIT_SHIPPED_DATASETS_DIR points elsewhere (tests; an empty folder hides them)."""
    override = os.environ.get(SHIPPED_DATASETS_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / "assets" / "datasets"
