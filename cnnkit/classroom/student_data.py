"""What CNN Lab keeps about each student, and the teacher's tools for it: list, export, erase, retention.

Each package that stores something of a student registers a `StudentDataKind` when it is imported, so this
base-layer module reaches runs, labs and datasets without importing the layers above it (the project's
registry pattern): cnnkit.store registers "runs", cnnkit.data "datasets", cnnkit.labs "labs"; the class's
pins are handled here. A kind kept as records in a shared file (lesson predictions, claimed names) is one
line: `register_student_data(owner_records_kind(...))`.

Rules (enforced here, not only on a page): only the teacher erases (the CLI is the server's operator and
counts as the teacher); a student may list and export their own data, the teacher anyone's; the guest ("")
is nobody in particular and cannot be exported or erased as a student. Owners are matched by THE identity rule
(cnnkit.classroom.identity): erasing "anna" erases what "Anna" owns and releases her claim, exactly what the
claim matches; signed-in students (anna@school.example) are students like any other. Nothing is removed while one of its
runs is training. `[privacy] retention_days = N` in cnnlab.toml removes runs and uploads (imported and
hand-made datasets) older than N days, pinned runs excepted.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from cnnkit.classroom.identity import identity_key, person_groups, same_person
from cnnkit.classroom.permissions import GUEST, NotAllowed
from cnnkit.classroom.pins import load_pins, unpin
from cnnkit.fileio import to_jsonable, write_export

DAY_SECONDS = 86400.0
MANIFEST = "student.json"


@dataclass
class StudentItem:
    """One thing stored of one student: a run, a lab, a dataset, a record in a shared file."""

    kind: str
    item_id: str
    owner: str
    label: str                                          # one line for a listing
    paths: list[str] = field(default_factory=list)      # files/folders wholly this item: exported, then removed
    created: float = 0.0                                # seconds since the epoch (retention); 0 = unknown
    record: Any = None                                  # JSON-able content exported as is (records without files)
    busy: str = ""                                      # why it cannot be removed now (a run training)

    def to_dict(self) -> dict:
        return to_jsonable(self)


@dataclass(frozen=True)
class StudentDataKind:
    """A kind of stored student data: what it is, where it lives and for how long (the privacy panel and the
    README say the same), how to list one owner's items (owner None: everyone's) and how to remove items."""

    kind: str
    what: str
    where: str
    kept: str
    items: Callable[[Optional[str]], list[StudentItem]]
    erase: Optional[Callable[[str, list[StudentItem]], None]] = None   # (owner, items); None: remove the paths
    expires: bool = False                                             # retention_days removes old ones


STUDENT_DATA_KINDS: dict[str, StudentDataKind] = {}


def register_student_data(kind: StudentDataKind) -> None:
    """Add (or, on a module reload, replace) a kind of student data."""
    STUDENT_DATA_KINDS[kind.kind] = kind


def owner_records_kind(kind: str, records_of: Callable[[str], Iterable[Any]], erase_all: Callable[[str], Any],
                       what: str, where: str, kept: str,
                       all_records: Optional[Callable[[], Iterable[tuple[str, Any]]]] = None,
                       describe: Optional[Callable[[Any], str]] = None) -> StudentDataKind:
    """A kind kept as records in a shared file: `records_of(owner)` lists one owner's records (anything JSON-able:
    exported as is), `erase_all(owner)` removes them all. `all_records()`: every (owner, record), so the teacher's
    list of students finds them; `describe(record)`: one line of plain text for the listing (default: its
    fields as "key value"). Such records never expire (retention removes runs and uploads)."""

    def label(record: Any) -> str:
        return (describe or _record_text)(record)[:160]

    def items(owner: Optional[str]) -> list[StudentItem]:
        if owner is None:
            pairs = list(all_records()) if all_records is not None else []
        else:
            pairs = [(owner, record) for record in records_of(owner) or []]
        return [StudentItem(kind, f"{kind}-{index + 1}", who, label(record), record=to_jsonable(record))
                for index, (who, record) in enumerate(pairs)]

    return StudentDataKind(kind, what, where, kept, items, erase=lambda owner, _items: erase_all(owner))


def _record_text(record: Any) -> str:
    """A record as plain words ("arm_id bn, margin_points 2.5"), never raw JSON."""
    if isinstance(record, dict):
        return ", ".join(f"{key} {_record_text(value)}" for key, value in record.items())
    if isinstance(record, (list, tuple)):
        return "; ".join(_record_text(value) for value in record)
    return str(record)


def owner_items(kind: StudentDataKind, owner: str) -> list[StudentItem]:
    """`kind`'s items of `owner`, matched by the identity rule (a kind's own filter may be coarser)."""
    return [item for item in kind.items(owner) if same_person(item.owner, owner)]


def remove_paths(item: StudentItem) -> None:
    """Remove an item's files and folders (the default erase)."""
    for path in map(Path, item.paths):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# -- who may ------------------------------------------------------------------------------------------------

def _named(owner: str) -> str:
    if not isinstance(owner, str) or owner.strip() == GUEST:
        raise ValueError("name a student: the guest's runs belong to nobody in particular")
    return owner


def check_may_see(owner: str, who: str, teacher: bool) -> None:
    """A student sees and exports their own data; the teacher anyone's."""
    if not teacher and not same_person(who or GUEST, owner):
        raise NotAllowed(f"only {owner} or the teacher can see or export {owner}'s data")


def check_may_erase(owner: str, teacher: bool) -> None:
    """Only the teacher erases a student (nobody else, not the student themselves: the class's record)."""
    if not teacher:
        raise NotAllowed(f"only the teacher can erase a student's data (asked to erase {owner})")


# -- listing ------------------------------------------------------------------------------------------------

@dataclass
class StudentData:
    """Everything stored of one student, by kind; pins of their runs and labs come along (they go too)."""

    owner: str
    items: list[StudentItem]
    pins: list[dict] = field(default_factory=list)

    @property
    def busy(self) -> list[StudentItem]:
        return [item for item in self.items if item.busy]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        if self.pins:
            counts["pins"] = len(self.pins)
        return counts

    def rows(self) -> list[dict]:
        """One row per item and pin, {"kind", "item", "busy"} (the teacher's table)."""
        rows = [{"kind": item.kind, "item": item.label, "busy": item.busy} for item in self.items]
        return rows + [{"kind": "pins", "item": f"{pin['kind']} {pin['id']} pinned to Home", "busy": ""}
                       for pin in self.pins]

    def lines(self) -> list[str]:
        """What goes, one line each (the confirmation's list)."""
        lines = [f"{item.kind}: {item.label}" + (f" (busy: {item.busy})" if item.busy else "") for item in self.items]
        return lines + [f"pins: {pin['kind']} {pin['id']}" for pin in self.pins]

    def to_dict(self) -> dict:
        return {"owner": self.owner, "counts": self.counts(), "items": [i.to_dict() for i in self.items],
                "pins": self.pins}


def _pinned(items: Iterable[StudentItem], root: Optional[Path] = None) -> list[dict]:
    ids = {("run", item.item_id) for item in items if item.kind == "runs"}
    return [pin for pin in load_pins(root) if (pin["kind"], pin["id"]) in ids]


def student_data(owner: str, who: str = GUEST, teacher: bool = False) -> StudentData:
    """Everything every registered kind stores of `owner`, for them or the teacher."""
    owner = _named(owner)
    check_may_see(owner, who, teacher)
    items = [item for kind in list(STUDENT_DATA_KINDS.values()) for item in owner_items(kind, owner)]
    return StudentData(owner, items, _pinned(items))


def known_students() -> list[str]:
    """Every named student something is stored of (the teacher's picker): claims, predictions, runs, labs,
    datasets, signed-in students included; one entry per person (identity rule), under their claimed name when
    they claimed one, sorted. Not the guest, nor the command line's or the teacher's own owner."""
    found: list[tuple[str, str]] = []   # (kind, owner), claims first so a person is listed under their claim
    for kind in sorted(STUDENT_DATA_KINDS.values(), key=lambda k: k.kind != "name"):
        found += [(kind.kind, item.owner) for item in kind.items(None)
                  if isinstance(item.owner, str) and item.owner.strip() and not item.owner.startswith("(")]
    groups = person_groups(owner for _, owner in found)
    names: dict[str, str] = {}
    for _, owner in found:
        names.setdefault(groups[owner], owner)
    return sorted(names.values(), key=lambda name: (identity_key(name), name))


# -- export -------------------------------------------------------------------------------------------------

def export_file_name(owner: str) -> str:
    """A safe default file name for `owner`'s export (names may hold any character)."""
    return (re.sub(r"[^A-Za-z0-9_-]+", "-", owner).strip("-") or "student") + "-data.zip"


def _zip_path(zf: zipfile.ZipFile, path: Path, arcname: str) -> int:
    """Add a file or a folder (recursively) under `arcname`; the number of files added."""
    if path.is_file() and not path.is_symlink():
        zf.write(path, arcname)
        return 1
    count = 0
    if path.is_dir() and not path.is_symlink():
        for child in sorted(path.rglob("*")):
            if child.is_file() and not child.is_symlink() and not _not_data(child):
                zf.write(child, f"{arcname}/{child.relative_to(path).as_posix()}")
                count += 1
    return count


def _not_data(path: Path) -> bool:
    """Files that say nothing about the student: a run's lock (train.lock), half-written temporary files."""
    return path.suffix == ".lock" or (path.name.startswith(".") and path.suffix == ".tmp")


def _arcname(item: StudentItem, path: Path) -> str:
    """Where an item's path goes in the zip: a run's folder as runs/<id>/… (flat), several paths or a single
    file under <kind>/<id>/<name>."""
    if len(item.paths) == 1 and path.is_dir():
        return f"{item.kind}/{item.item_id}"
    return f"{item.kind}/{item.item_id}/{path.name}"


def export_student(owner: str, out: Optional[str | Path] = None, who: str = GUEST,
                   teacher: bool = False) -> tuple[bytes | None, dict]:
    """Everything of `owner` as one zip: student.json (what each item is, records without files, pins) and
    each item's files under <kind>/<item id>/ (locks left out). Written atomically to `out`, or returned as bytes when `out`
    is None (a download button). Returns (bytes or None, the manifest)."""
    data = student_data(owner, who, teacher)
    manifest = {"owner": data.owner, "exported": time.time(), "counts": data.counts(),
                "kinds": {k.kind: {"what": k.what, "where": k.where, "kept": k.kept}
                          for k in STUDENT_DATA_KINDS.values()},
                "items": [item.to_dict() for item in data.items], "pins": data.pins}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        files = 0
        for item in data.items:
            for path in map(Path, item.paths):
                files += _zip_path(zf, path, _arcname(item, path))
        manifest["files"] = files
        zf.writestr(MANIFEST, json.dumps(to_jsonable(manifest), indent=1))
    payload = buffer.getvalue()
    if out is None:
        return payload, manifest
    write_export(Path(out), payload)   # the export guard: never over a link, device, pipe or folder
    return None, manifest


# -- erase --------------------------------------------------------------------------------------------------

class StudentBusy(ValueError):
    """A student's run is training: it cannot be removed now."""


def _remove(items: list[StudentItem]) -> list[str]:
    """Remove items kind by kind (each kind's own erase, by owner); the errors, one line each."""
    errors = []
    groups: dict[tuple[str, str], list[StudentItem]] = {}
    for item in items:
        groups.setdefault((item.kind, item.owner), []).append(item)
    for (kind_name, owner), group in groups.items():
        kind = STUDENT_DATA_KINDS.get(kind_name)
        try:
            if kind is not None and kind.erase is not None:
                kind.erase(owner, group)
            else:
                for item in group:
                    remove_paths(item)
        except (OSError, ValueError) as error:
            errors.append(f"{kind_name} of {owner or 'a guest'}: {error}")
    return errors


def erase_student(owner: str, teacher: bool, dry_run: bool = False) -> dict:
    """Remove everything of `owner` (every registered kind, and pins of their runs). Teacher only (NotAllowed
    otherwise, dry run included: the list itself is the student's data). `dry_run`: the list, nothing removed.
    StudentBusy when one of their runs is training (stop it first). Returns {"owner", "dry_run", "removed":
    [lines], "counts", "errors"}."""
    owner = _named(owner)
    check_may_erase(owner, teacher)
    data = student_data(owner, teacher=True)
    result = {"owner": owner, "dry_run": dry_run, "removed": data.lines(), "counts": data.counts(), "errors": []}
    if dry_run:
        return result
    if data.busy:
        raise StudentBusy(f"{owner} has {len(data.busy)} run(s) training now ({data.busy[0].label}): "
                          "stop them first, then erase again")
    result["errors"] = _remove(data.items)
    for pin in data.pins:
        unpin(pin["kind"], pin["id"], teacher=True)  # erase_student checked the teacher
    return result


# -- retention ----------------------------------------------------------------------------------------------

def retention(days: Optional[int], dry_run: bool = False, now: Optional[float] = None) -> dict:
    """Remove runs and uploads (every kind that expires) older than `days` days, pinned runs and anything
    training excepted. days None or 0: nothing (keep until deleted). `dry_run`: the list, nothing removed.
    Returns {"days", "dry_run", "removed": [lines], "kept": [lines with why], "errors"}."""
    result: dict = {"days": days, "dry_run": dry_run, "removed": [], "kept": [], "errors": []}
    if not days:
        return result
    from cnnkit.classroom.config import MAX_COUNTS

    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_COUNTS["retention_days"]:
        raise ValueError(f"retention days must be a whole number from 1 to {MAX_COUNTS['retention_days']:,} "
                         f"(got {str(days)[:20]})")
    cutoff = (time.time() if now is None else now) - float(days) * DAY_SECONDS
    pinned = {pin["id"] for pin in load_pins() if pin["kind"] == "run"}
    old: list[StudentItem] = []
    for kind in STUDENT_DATA_KINDS.values():
        if not kind.expires:
            continue
        for item in kind.items(None):
            if not item.created or item.created >= cutoff:
                continue
            line = f"{item.kind}: {item.label} of {item.owner or 'a guest'}"
            if item.kind == "runs" and item.item_id in pinned:
                result["kept"].append(line + " (pinned)")
            elif item.busy:
                result["kept"].append(line + f" ({item.busy})")
            else:
                old.append(item)
                result["removed"].append(line)
    if not dry_run:
        result["errors"] = _remove(old)
    return result


# -- what is kept (the privacy panel) ------------------------------------------------------------------------

IDENTITY_ROW = {"kind": "identity",
                "what": "The student's name: the signed-in account's e-mail or name (when sign-in is set up), or "
                        "the name they typed (kept in the page address, ?name=…)",
                "where": "as the owner field of each run, lab and dataset they make; nowhere else on disk",
                "kept": "as long as those are kept"}
UPLOAD_ROW = {"kind": "viewer uploads",
              "what": "Images uploaded or taken with the camera in the Grad-CAM viewer and Inside the network",
              "where": "the server's memory only, never written to disk",
              "kept": "until the browser tab closes or another image is chosen"}


def privacy_rows(retention_days: Optional[int] = None) -> list[dict]:
    """What is kept, where and for how long: one row per registered kind, with the identity and the
    viewers' uploads (the teacher's panel; the README's Privacy section says the same)."""
    rows = [IDENTITY_ROW]
    for kind in STUDENT_DATA_KINDS.values():
        kept = kind.kept
        if kind.expires and retention_days:
            kept = f"{retention_days} days (cnnlab.toml [privacy] retention_days), then removed at the next start"
        rows.append({"kind": kind.kind, "what": kind.what, "where": kind.where, "kept": kept})
    return rows + [UPLOAD_ROW]


def file_mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
