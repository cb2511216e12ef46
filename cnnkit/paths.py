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


def cache_dir() -> Path:
    """Decoded-tensor caches live inside the data directory so one setting moves everything."""
    return data_dir() / ".cache"
