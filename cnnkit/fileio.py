"""Files written whole or not at all, and the JSON form of cnnkit's results.

The lowest layer: every package may use it (store for run folders, data for caches, cli for --json)."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths, numpy and torch scalars/arrays into plain JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays/scalars and torch tensors
        return obj.tolist()
    return obj


def check_required_fields(cls: type, data: dict) -> None:
    """ValueError naming the fields of dataclass `cls` that have no default and are missing from `data` (a saved
    result read back: every lab kind's from_dict)."""
    missing = [f.name for f in dataclasses.fields(cls)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in data]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")


def atomic_write_bytes(path: Path, write) -> None:
    """write(file) into a temp file beside `path`, fsync, then rename over it: readers see old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: Path, obj: Any) -> None:
    data = json.dumps(to_jsonable(obj), indent=1).encode()
    atomic_write_bytes(path, lambda handle: handle.write(data))


def file_signature(paths) -> tuple:
    """(path, inode, mtime_ns, size) of each file, None in place of a missing one: a cache key that changes whenever
    one of them is written, replaced (atomic_write_bytes: a new inode) or removed. Costs one stat per file."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((str(path), None))
            continue
        out.append((str(path), st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


class ExportTargetError(ValueError):
    """An export's target path is not a place a file may be written (the message says why and what to do)."""


def write_export(path: Path, data: bytes) -> Path:
    """Write an export (a run zip, an ONNX file) to `path` the safe way: into a temporary file beside it, renamed
    only onto a regular file or a new name. A symlink, device, folder, missing or read-only folder gets an
    ExportTargetError naming the path, never a traceback and never a replaced link or device."""
    import stat

    path = Path(path).expanduser()
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise ExportTargetError(f"{path} cannot be checked ({error.strerror}); choose another file") from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise ExportTargetError(f"{path} is a symbolic link; give the path of a new or regular file instead")
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ExportTargetError(f"{path} is a folder; give a file name inside it, e.g. {path / 'run.zip'}")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ExportTargetError(f"{path} is not a regular file (a device or a pipe); choose another file")
    parent = path.parent
    if not parent.is_dir():
        raise ExportTargetError(f"the folder {parent} does not exist; create it first or choose another one")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportTargetError(f"the folder {parent} is read-only for CNN Lab; choose a folder you can write to")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as error:
        raise ExportTargetError(f"cannot write in {parent} ({error.strerror}); choose another folder") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # Checked again just before the rename: a link or device put there meanwhile is not replaced.
        try:
            now = os.lstat(path)
        except FileNotFoundError:
            now = None
        if now is not None and not stat.S_ISREG(now.st_mode):
            raise ExportTargetError(f"{path} changed into something that is not a regular file; nothing written")
        os.replace(tmp, path)
    except OSError as error:
        raise ExportTargetError(f"cannot write {path} ({error.strerror}); choose another place") from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    return path
