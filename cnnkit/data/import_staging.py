"""Writing a new folder dataset safely, for every importer (zip import, hand-made datasets).

The dataset is written into a hidden folder beside its target, checked, then renamed into place:
a half-written dataset never appears (hidden folders are not listed), a failed import leaves
nothing behind, and an existing dataset is replaced only when asked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cnnkit.data.folders import folder_layout
from cnnkit.data.registry import validate_dataset_name
from cnnkit.fileio import read_json, write_json
from cnnkit.paths import data_dir


def refuse_existing(name: str, overwrite: bool) -> Path:
    """data_dir()/<name> after checking the name; ValueError if it exists and overwrite is False."""
    target = data_dir() / validate_dataset_name(name)
    if target.exists() and not overwrite:
        raise ValueError(f"a dataset named {name} exists; choose another name or pass overwrite")
    return target


OWNER_FILE = ".owner.json"  # hidden: folder scans list class folders only


def dataset_owner(name: str) -> str:
    """Who imported or made dataset `name` ("" for a guest, a built-in or a dataset copied in by hand)."""
    data = read_json(data_dir() / name / OWNER_FILE, {}) or {}
    return str(data.get("owner", "")) if isinstance(data, dict) else ""


def check_import_allowed(name: str, overwrite: bool, owner: str = "", teacher: bool = False) -> None:
    """The class gate for an import into dataset `name`: may `owner` import, and replace it when it exists?
    A dataset with no owner file (copied in by hand, or a download) is nobody's: only the teacher replaces it."""
    from cnnkit.classroom.gate import Actor, check

    target = data_dir() / validate_dataset_name(name)
    if overwrite and target.exists():
        recorded = read_json(target / OWNER_FILE, None)
        holder = str(recorded.get("owner", "")) if isinstance(recorded, dict) else None
        check("import", Actor(owner, teacher), target_owner=holder, what=f"dataset {name}")
    else:
        check("import", Actor(owner, teacher))


@contextmanager
def staged_dataset(name: str, overwrite: bool = False, purpose: str = "import", owner: str = "",
                   teacher: bool = False) -> Iterator[Path]:
    """A fresh hidden folder to write dataset `name` into; swapped into data_dir()/<name> when the block
    ends without error (after checking it holds a loadable folder dataset), deleted when it raises.
    The dataset records its `owner` (who imported or made it)."""
    target = refuse_existing(name, overwrite)
    check_import_allowed(name, overwrite, owner, teacher)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{purpose}-{name}-"))
    try:
        yield staging
        if folder_layout(staging) is None:  # an importer bug, not bad input: never swap in an unlistable folder
            raise ValueError(f"the new dataset {name} holds no class folders with images; nothing was saved")
        write_json(staging / OWNER_FILE, {"owner": owner, "created": time.time()})  # created: retention
        _swap_in(staging, target, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished folder into place; an old dataset is moved aside first, then deleted."""
    if target.exists():
        if not overwrite:  # it appeared while we were writing
            raise ValueError(f"a dataset named {target.name} exists; choose another name or pass overwrite")
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
