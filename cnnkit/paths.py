"""Where CNN Lab keeps its files: one home folder holding the data folder, the checkpoint folder and the
class config (cnnlab.toml).

Run from a checkout (the repository), the home is the working directory: ./data, ./checkpoints and ./cnnlab.toml
as always. Installed from a wheel (`pip install cnn-lab`), it is the platform's user data folder
(~/.local/share/cnn-lab on Linux), so the app works from any directory. CNNKIT_HOME (`cnn-lab --data-dir`)
moves the home; CNNKIT_DATA_DIR and CNNKIT_CHECKPOINT_DIR move one folder each.

Everything is read from the environment on every call, so tests and the app can point it somewhere else
without restarting the process.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

HOME_ENV = "CNNKIT_HOME"
DATA_DIR_ENV = "CNNKIT_DATA_DIR"
CHECKPOINT_DIR_ENV = "CNNKIT_CHECKPOINT_DIR"
APP_NAME = "cnn-lab"  # the distribution's name: the user data folder is named after it

_PACKAGE = Path(__file__).resolve().parent


def running_from_checkout() -> bool:
    """True when cnnkit is imported from the repository (or an editable install of it), False from a wheel.

    The repository has pyproject.toml next to cnnkit/; an installed wheel puts cnnkit/ in site-packages, where
    there is none."""
    return (_PACKAGE.parent / "pyproject.toml").is_file()


def user_data_root() -> Path:
    """The platform's per-user data folder for CNN Lab (what platformdirs calls user_data_dir), without a
    dependency for ten lines: XDG on Linux, Application Support on macOS, LOCALAPPDATA on Windows."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path("~/AppData/Local").expanduser())
    elif sys.platform == "darwin":
        base = str(Path("~/Library/Application Support").expanduser())
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / APP_NAME


@functools.lru_cache(maxsize=64)
def _resolved(text: str, cwd: str, home: str) -> Path:
    # every page run asks for these folders several times; resolving walks the path (a stat per part) each time
    return Path(text).expanduser().resolve()


def _resolve(text: str) -> Path:
    return _resolved(text, os.getcwd(), os.environ.get("HOME", ""))


def home_dir() -> Path:
    """CNN Lab's home: $CNNKIT_HOME, else the working directory in a checkout, else the user data folder."""
    override = os.environ.get(HOME_ENV)
    if override:
        return _resolve(override)
    if running_from_checkout():
        return _resolve(".")
    return user_data_root()


def data_dir() -> Path:
    """The data directory: downloads, imported datasets and decode caches ($CNNKIT_DATA_DIR, else <home>/data)."""
    override = os.environ.get(DATA_DIR_ENV)
    return _resolve(override) if override else home_dir() / "data"


def checkpoint_dir() -> Path:
    """The checkpoint directory: one folder per saved run ($CNNKIT_CHECKPOINT_DIR, else <home>/checkpoints)."""
    override = os.environ.get(CHECKPOINT_DIR_ENV)
    return _resolve(override) if override else home_dir() / "checkpoints"


def assets_dir() -> Path:
    """What ships with the code (demo runs, lesson results, small datasets, examples): assets/ in the repository;
    in a wheel the build puts it inside the package (cnnkit/assets, see setup.py) so it installs with it."""
    inside = _PACKAGE / "assets"
    return inside if inside.is_dir() else _PACKAGE.parent / "assets"


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
    return assets_dir() / "demo_runs"


LESSON_RESULTS_ENV = "CNNKIT_LESSON_RESULTS_DIR"


def lesson_results_dir() -> Path:
    """The lesson results shipped with the code (assets/lesson_results/<lesson_id>-<mode>/lab.json): read-only,
    opened with no training. CNNKIT_LESSON_RESULTS_DIR points elsewhere (tests; an empty folder hides them)."""
    override = os.environ.get(LESSON_RESULTS_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return assets_dir() / "lesson_results"


SHIPPED_DATASETS_ENV = "CNNKIT_SHIPPED_DATASETS_DIR"


def shipped_datasets_dir() -> Path:
    """Small datasets shipped with the code (assets/datasets): the offline fallback for the course's quick lessons
    (cifar10-subset, fashion_mnist-subset). Read-only. CNNKIT_SHIPPED_DATASETS_DIR points elsewhere (tests; an empty folder hides them)."""
    override = os.environ.get(SHIPPED_DATASETS_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return assets_dir() / "datasets"
