"""Files written whole or not at all, and the JSON form of cnnkit's results.

The lowest layer: every package may use it (store for run folders, data for caches, cli for --json)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Optional


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


def _type_name(tp: Any) -> str:
    import typing

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        return " or ".join(_type_name(a) for a in args)
    if tp is type(None):
        return "null"
    if origin in (list, dict):
        return f"a list of {_type_name(args[0])}" if origin is list and args else (
            f"a table of {_type_name(args[1])}" if args else "a table")
    return {float: "a number", int: "a whole number", str: "text", bool: "true or false", list: "a list",
            dict: "a table"}.get(tp, getattr(tp, "__name__", str(tp)))


def value_matches(value: Any, tp: Any) -> bool:
    """Whether JSON-read `value` is of type hint `tp` (str, int, float, bool, list[...], dict[str, ...], Optional,
    Any): a float is any finite number, an int a whole one, neither is a bool. Walks the value without recursion
    limits of its own: the caller has bounded its depth."""
    import typing

    if tp is Any:
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        return any(value_matches(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp in (str, bool):
        return isinstance(value, tp)
    if origin is list or tp is list:
        return isinstance(value, list) and (not args or all(value_matches(v, args[0]) for v in value))
    if origin is dict or tp is dict:
        return isinstance(value, dict) and (not args or all(
            isinstance(k, str) and value_matches(v, args[1]) for k, v in value.items()))
    return isinstance(value, tp) if isinstance(tp, type) else True


def check_field_types(cls: type, data: dict, skip: tuple[str, ...] = ()) -> None:
    """ValueError naming the first field of dataclass `cls` present in `data` whose value is not of the field's
    type (a saved result read back: `created: "abc"` or `seeds: 5` is refused here, not where a page uses it)."""
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in data and f.name not in skip and not value_matches(data[f.name], hints[f.name]):
            shown = repr(data[f.name])
            raise ValueError(f"{f.name} must be {_type_name(hints[f.name])}, got "
                             f"{type(data[f.name]).__name__} {shown[:40]}")


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


# A file changed within this many seconds may change again with the same size and mtime (the kernel's file clock
# ticks every few ms, and a replaced file's inode number can come back): a cache keyed by file_signature trusts
# only a signature whose files are older than this ("racy git"'s rule).
SETTLE_S = 2.0


def signature_settled(signature: tuple, now: Optional[float] = None, settle_s: float = SETTLE_S) -> bool:
    """Whether every file of a file_signature was last written more than settle_s ago (missing files count)."""
    now = time.time() if now is None else now
    return all(len(entry) < 4 or now - entry[2] / 1e9 > settle_s for entry in signature)


# --- reading stored and teacher files -------------------------------------------------------------------------
# Every file CNN Lab reads back (a run's JSON, a lab, names, pins, predictions, a teacher's lesson or cnnlab.toml)
# may have been damaged or written by someone else. It is read bounded (size, then nesting depth) before any parser
# sees it, so no file can exhaust memory, recurse the parser to death or block on a pipe; a bad one is a
# DamagedFile naming it, and fails that file only.
MAX_JSON_BYTES = 64 * 1024 * 1024    # a run's history or predictions; far above any real one
MAX_NESTING = 32                     # brackets deep (and, parsed, containers deep); real files need under 10

_log = logging.getLogger(__name__)


class DamagedFile(ValueError):
    """A stored or teacher file that cannot be used (too big, too deep, not UTF-8, not valid, not a regular
    file); the message names the file and says why."""


def read_text_bounded(path: Path, max_bytes: int) -> str:
    """The UTF-8 text of the regular file `path` (a BOM is dropped), at most `max_bytes` read. FileNotFoundError when
    it does not exist; DamagedFile naming it when it is a folder, a pipe, a device (also through a symlink), larger
    than `max_bytes` or not UTF-8. A pipe is never opened for reading, so nothing blocks or reads forever."""
    path = Path(path)
    try:
        info = os.stat(path)              # follows a symlink: a link to /dev/zero is judged as /dev/zero
    except FileNotFoundError:
        raise
    except OSError as error:
        raise DamagedFile(f"{path} cannot be read ({error.strerror or error})") from None
    if stat.S_ISDIR(info.st_mode):
        raise DamagedFile(f"{path} is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise DamagedFile(f"{path} is not a regular file (a pipe, a device or a socket); replace it with a file")
    if info.st_size > max_bytes:
        raise DamagedFile(f"{path} is {_size(info.st_size)}; at most {_size(max_bytes)} is read")
    try:
        # O_NONBLOCK: should it have become a pipe since the stat, opening it does not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise DamagedFile(f"{path} cannot be read ({error.strerror or error})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DamagedFile(f"{path} is not a regular file (a pipe, a device or a socket); replace it with a file")
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as error:
        raise DamagedFile(f"{path} cannot be read ({error.strerror or error})") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise DamagedFile(f"{path} is larger than {_size(max_bytes)}; at most that is read")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DamagedFile(f"{path} is not UTF-8 text (byte {error.start} cannot be read); save it as UTF-8") from None


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


# Strings and comments (TOML's four kinds of string and # comments; JSON's one kind of string) are skipped, so a
# bracket inside text does not count; what is left of [ ] { } is the nesting a parser would recurse into.
_TOML_TOKENS = re.compile(r'''"""(?:\\.|[^\\])*?"""|''\'.*?''\'|"(?:\\.|[^"\\\n])*"|'[^'\n]*'|#[^\n]*|[\[\]{}]''', re.S)
_JSON_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|[\[\]{}]', re.S)


def nesting_depth(text: str, syntax: str = "json", stop_at: int = MAX_NESTING) -> int:
    """How many brackets deep `text` nests (strings and comments skipped), counted without parsing it; the count
    stops once past `stop_at`. syntax: "json" or "toml"."""
    depth = deepest = 0
    for match in (_TOML_TOKENS if syntax == "toml" else _JSON_TOKENS).finditer(text):
        mark = match.group()
        if mark in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_at:
                    break
        elif mark in "]}":
            depth = max(0, depth - 1)
    return deepest


def data_depth(obj: Any, stop_at: int = MAX_NESTING) -> int:
    """How many containers (dicts, lists) deep parsed data nests, walked without recursion (TOML's dotted keys nest
    tables that no bracket shows); stops once past `stop_at`."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            deepest = max(deepest, depth)
            if deepest > stop_at:
                break
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_nesting(text: str, path: Path | str, syntax: str = "json", max_depth: int = MAX_NESTING) -> None:
    """DamagedFile naming `path` when `text` nests deeper than `max_depth` (checked before it is parsed)."""
    if nesting_depth(text, syntax, max_depth) > max_depth:
        raise DamagedFile(f"{path} nests more than {max_depth} levels deep; a real one needs a few")


def parse_json_bounded(text: str, path: Path | str, max_depth: int = MAX_NESTING) -> Any:
    """JSON text parsed once its nesting is known to be bounded; DamagedFile naming `path` when it is not JSON."""
    check_nesting(text, path, "json", max_depth)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DamagedFile(f"{path} is not valid JSON (line {error.lineno}: {error.msg})") from None
    except (ValueError, RecursionError, MemoryError) as error:  # e.g. a number of 5000 digits
        raise DamagedFile(f"{path} cannot be read as JSON ({str(error)[:80] or type(error).__name__})") from None
    if data_depth(data, max_depth) > max_depth:
        raise DamagedFile(f"{path} nests more than {max_depth} levels deep; a real one needs a few")
    return data


_NO_DEFAULT = object()


def load_json_file(path: Path, default: Any = _NO_DEFAULT, max_bytes: int = MAX_JSON_BYTES,
                   max_depth: int = MAX_NESTING) -> Any:
    """A stored JSON file read bounded: `default` when it does not exist (FileNotFoundError without one); DamagedFile
    naming it when it cannot be used. For readers that must not go on as if a damaged file were empty (claims:
    an empty list would free every name)."""
    try:
        text = read_text_bounded(path, max_bytes)
    except FileNotFoundError:
        if default is _NO_DEFAULT:
            raise
        return default
    return parse_json_bounded(text, path, max_depth)


def read_json(path: Path, default: Any = None, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A stored JSON file, or `default` when it is missing or cannot be used (too big, too deep, not UTF-8, not
    JSON, not a file: logged with the file's name). For readers to whom a damaged file is as good as none."""
    try:
        return load_json_file(path, default, max_bytes)
    except DamagedFile as error:
        _log.warning("%s: ignored", error)
        return default


class ExportTargetError(ValueError):
    """An export's target path is not a place a file may be written (the message says why and what to do)."""


def _writable(folder: Path) -> bool:
    # os.access alone says yes to root even on a folder marked read-only (r-x): honour the marking too.
    try:
        return os.access(folder, os.W_OK | os.X_OK) and bool(os.stat(folder).st_mode & 0o222)
    except OSError:
        return False


def check_export_target(path: Path) -> Path:
    """The checks of write_export, alone: a command calls it before the work whose result it will write, so a wrong
    place is refused at once (ExportTargetError with write_export's messages)."""
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
    if not _writable(parent):
        raise ExportTargetError(f"the folder {parent} is read-only for CNN Lab; choose a folder you can write to")
    return path


def check_output_folder(folder: Path, setting: str = "") -> Path:
    """A folder CNN Lab writes into (runs, datasets, event files), checked before anything is written: an existing
    folder (a link to one is fine) or a new one whose nearest existing parent is a folder; writable. ExportTargetError
    in write_export's words otherwise; `setting` names where the folder came from (e.g. CNNKIT_CHECKPOINT_DIR)."""
    folder = Path(folder).expanduser()
    hint = f" (from {setting})" if setting else ""
    probe = folder
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    if probe.is_symlink() and not probe.exists():
        raise ExportTargetError(f"{probe} is a symbolic link to nothing{hint}; choose another folder")
    if not probe.is_dir():
        kind = "a file" if probe.is_file() else "not a folder (a device or a pipe)"
        raise ExportTargetError(f"{probe} is {kind}{hint}; choose a folder")
    if not _writable(probe):
        raise ExportTargetError(f"the folder {probe} is read-only for CNN Lab{hint}; choose a folder you can write to")
    return folder


def write_export(path: Path, data: bytes) -> Path:
    """Write an export (a run zip, an ONNX file) to `path` the safe way: into a temporary file beside it, renamed
    only onto a regular file or a new name. A symlink, device, folder, missing or read-only folder gets an
    ExportTargetError naming the path, never a traceback and never a replaced link or device."""
    path = check_export_target(path)
    parent = path.parent
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
