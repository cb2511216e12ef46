"""Saved labs of every kind: checkpoint_dir()/labs/<lab_id>/lab.json, whose `kind` field names the kind of
lab, and a registry of kinds (kind -> result dataclass) so that one listing shows them all.

A kind's module registers itself when imported (cnnkit.labs registers "resolution"; a higher layer such as
a lessons module registers its own kind). Labs saved before the `kind` field existed are resolution labs.
A lab that cannot be read (bad JSON, missing fields, an unknown kind, no lab.json) is listed with status
"damaged" and the reason, so it is neither silently dropped nor able to break the listing.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Protocol

from cnnkit import store
from cnnkit.fileio import (DamagedFile, parse_json_bounded, read_json, read_text_bounded, value_matches,
                           write_json)
from cnnkit.paths import checkpoint_dir

LAB_FILE = "lab.json"
LEGACY_KIND = "resolution"   # labs saved before the kind field were all resolution labs
DAMAGED = "damaged"          # SavedLab.status of a lab that cannot be opened
MAX_LAB_BYTES = 32 * 1024 * 1024   # a lab.json (the course's largest is 36 KB)


class DamagedLab(ValueError):
    """A saved lab whose lab.json cannot be read as a lab; the message says why."""


class LabResult(Protocol):
    """What every kind's result dataclass offers (ResolutionLabResult is one)."""

    lab_id: str
    lab_dir: str
    kind: str
    status: str                      # running | done | cancelled | failed
    created: float
    runs: list[dict]                 # every run the lab trained: {..., run_dir, label}

    def to_dict(self) -> dict: ...

    def title(self) -> str: ...      # one line for pickers and listings


@dataclass(frozen=True)
class LabKind:
    kind: str
    result_class: type               # has from_dict(data) -> LabResult; ValueError/TypeError/KeyError on bad data
    description: str = ""


LAB_KINDS: dict[str, LabKind] = {}


def register_lab_kind(entry: LabKind) -> None:
    """Add a kind of lab (once; re-registering the same class is harmless, e.g. on module reload)."""
    existing = LAB_KINDS.get(entry.kind)
    if existing is not None and existing.result_class.__qualname__ != entry.result_class.__qualname__:
        raise ValueError(f"lab kind {entry.kind!r} is already registered by {existing.result_class.__qualname__}")
    LAB_KINDS[entry.kind] = entry


@dataclass
class SavedLab:
    """One entry of list_labs: any kind, damaged ones included (then result is None and reason says why)."""

    lab_id: str
    lab_dir: str
    kind: str                        # "" when lab.json cannot be read far enough to tell
    status: str                      # the lab's own status, or "damaged"
    created: float
    title: str                       # one line: the result's title(), or the lab id when damaged
    reason: str = ""                 # why a damaged lab cannot be opened
    result: Optional[Any] = None     # the kind's result dataclass; None when damaged

    @property
    def damaged(self) -> bool:
        return self.status == DAMAGED

    def to_dict(self) -> dict:
        """The listing's JSON (without the full result)."""
        return {"lab_id": self.lab_id, "lab_dir": self.lab_dir, "kind": self.kind, "status": self.status,
                "created": self.created, "title": self.title, "reason": self.reason}


def labs_dir(root: Optional[Path] = None) -> Path:
    return Path(root) if root else checkpoint_dir() / "labs"


def save_lab(result: LabResult) -> None:
    """(Re)write a lab's lab.json; written atomically so a reader never sees half a file."""
    write_json(Path(result.lab_dir) / LAB_FILE, result.to_dict())


def _read_kind(folder: Path) -> tuple[str, Any]:
    """(kind, loaded result) of the lab in `folder`; DamagedLab saying why it cannot be loaded."""
    path = folder / LAB_FILE
    try:
        # bounded before parsing: size, then nesting depth (a damaged or planted file cannot exhaust the page)
        data = parse_json_bounded(read_text_bounded(path, MAX_LAB_BYTES), path)
    except FileNotFoundError:
        raise DamagedLab(f"{path} is missing (a folder without a lab: delete it by hand)") from None
    except OSError as error:
        raise DamagedLab(f"{path} cannot be read ({error.strerror or error})") from None
    except DamagedFile as error:
        raise DamagedLab(str(error)) from None
    if not isinstance(data, dict):
        raise DamagedLab(f"{path} holds a {type(data).__name__}, not a lab")
    kind = data.get("kind", LEGACY_KIND)
    entry = LAB_KINDS.get(kind) if isinstance(kind, str) else None
    if entry is None:
        known = ", ".join(sorted(LAB_KINDS)) or "none"
        raise DamagedLab(f"unknown lab kind {kind!r} (known kinds: {known})")
    try:
        result = entry.result_class.from_dict(data)
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as error:
        raise DamagedLab(f"{path} is not a complete {kind} lab: {str(error)[:300]}") from None
    # What every listing uses of any kind: a number to sort by, a status and a title (never a crash later).
    created, status = getattr(result, "created", None), getattr(result, "status", None)
    if not value_matches(created, float) or not isinstance(status, str):
        raise DamagedLab(f"{path} is not a complete {kind} lab: created must be a number and status text")
    try:
        result.title()
    except Exception as error:  # noqa: BLE001  any kind's title from damaged fields
        raise DamagedLab(f"{path} is not a complete {kind} lab: {type(error).__name__}: {str(error)[:120]}") from None
    result.lab_dir = str(folder)  # the folder may have moved with the checkpoint dir
    return kind, result


def _kind_hint(folder: Path) -> str:
    """The kind a damaged lab.json still names, or "" when it cannot be told."""
    data = read_json(folder / LAB_FILE)
    if isinstance(data, dict):
        kind = data.get("kind", LEGACY_KIND)
        return kind if isinstance(kind, str) else ""
    return ""


def find_lab(lab: str | Path, root: Optional[Path] = None) -> Path:
    """The folder of a saved lab given by id (under labs_dir()) or by folder path."""
    for candidate in (labs_dir(root) / str(lab), Path(lab)):
        if (candidate / LAB_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"no saved lab {str(lab)!r} (looked for {LAB_FILE} in {labs_dir(root)})")


def load_lab(lab: str | Path, root: Optional[Path] = None, kind: Optional[str] = None) -> Any:
    """A saved lab's result (the dataclass of its kind), by id or folder; with `kind`, only a lab of that kind.

    FileNotFoundError when there is no such lab; DamagedLab (a ValueError) saying why when it cannot be read."""
    folder = find_lab(lab, root)
    found, result = _read_kind(folder)
    if kind is not None and found != kind:
        raise ValueError(f"lab {folder.name!r} is a {found} lab, not a {kind} lab")
    return result


def list_labs(root: Optional[Path] = None, kind: Optional[str] = None) -> list[SavedLab]:
    """Every saved lab of every kind (or only `kind`), newest first; damaged ones after them with their reason
    (so a picker's default is a lab that opens). A damaged lab whose kind cannot be told is listed under every
    kind, so that no page loses it."""
    folder = labs_dir(root)
    if not folder.is_dir():
        return []
    labs = []
    for child in folder.iterdir():
        if not child.is_dir():
            continue
        try:
            found, result = _read_kind(child)
        except DamagedLab as error:
            try:
                created = os.stat(child).st_mtime
            except OSError:
                created = 0.0
            entry = SavedLab(lab_id=child.name, lab_dir=str(child), kind=_kind_hint(child), status=DAMAGED,
                             created=created, title=child.name, reason=str(error))
        else:
            entry = SavedLab(lab_id=result.lab_id, lab_dir=str(child), kind=found, status=result.status,
                             created=float(result.created), title=result.title(), result=result)
        if kind is None or entry.kind in (kind, ""):
            labs.append(entry)
    return sorted(labs, key=lambda lab: (not lab.damaged, lab.created, lab.lab_id), reverse=True)


def delete_lab(lab: str | Path, root: Optional[Path] = None, runs: bool = False, by: str = "",
               teacher: bool = False) -> None:
    """Remove a saved lab (and, with runs=True, the runs it trained). A damaged lab can be removed, but
    not with runs=True: which runs it trained cannot be read."""
    folder = find_lab(lab, root)
    if runs:
        try:
            _, result = _read_kind(folder)
        except DamagedLab as error:
            raise DamagedLab(f"{error}; its runs are unknown: delete the lab without its runs") from None
        for run in getattr(result, "runs", []):
            try:
                store.delete_run(Path(run["run_dir"]), by=by, teacher=teacher)
            except (ValueError, OSError, KeyError, TypeError):
                pass
    shutil.rmtree(folder)
