"""A student's runs as student data (cnnkit.classroom.student_data): listed by owner, exported and erased
whole. Registered when cnnkit.store is imported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from cnnkit.classroom.identity import same_person
from cnnkit.classroom.student_data import StudentDataKind, StudentItem, register_student_data
from cnnkit.fileio import read_json
from cnnkit.paths import checkpoint_dir
from cnnkit.store.records import WRITING_STATUSES, delete_run, list_runs, load_run


def _owner(record) -> str:
    if record.status == "damaged":  # its record is unreadable as a whole; the owner field may still be there
        meta = read_json(Path(record.run_dir) / "run.json", {})
        owner = meta.get("owner") if isinstance(meta, dict) else None
        return owner if isinstance(owner, str) else ""
    return record.owner or ""


def _folder_owner(run_dir: Path) -> str:
    """run.json's owner field alone (cheap: a name claim asks whether a name owns runs)."""
    try:
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    owner = meta.get("owner") if isinstance(meta, dict) else None
    return owner if isinstance(owner, str) else ""


def _records(owner: Optional[str]) -> list:
    """Every run's record, or (owner given) those whose run.json names that person: the others are not loaded."""
    if owner is None:
        return list_runs()
    root = checkpoint_dir()
    folders = [child for child in (root.iterdir() if root.is_dir() else [])
               if child.is_dir() and (child / "run.json").is_file() and same_person(_folder_owner(child), owner)]
    records = []
    for folder in folders:
        try:
            records.append(load_run(folder))
        except OSError:
            continue
    return records


def run_items(owner: Optional[str]) -> list[StudentItem]:
    """The runs of `owner` (None: everyone's), a training one marked busy."""
    items = []
    for record in _records(owner):
        who = _owner(record)
        if owner is not None and not same_person(who, owner):
            continue
        label = f"run {record.run_id} ({record.name or record.model_name or '?'} on {record.dataset or '?'}, " \
                f"{record.status})"
        busy = "training now" if record.status in WRITING_STATUSES else ""
        items.append(StudentItem("runs", record.run_id, who, label, paths=[str(record.run_dir)],
                                 created=record.created, busy=busy))
    return items


def _erase_runs(owner: str, items: list[StudentItem]) -> None:
    for item in items:
        delete_run(Path(item.paths[0]), teacher=True)  # erase_student and retention checked the teacher


register_student_data(StudentDataKind(
    "runs", what="Training runs: settings, weights, curves, test results and the run's name",
    where="the checkpoint folder, one folder per run (run.json names the owner)",
    kept="until the student, the teacher or retention deletes them", items=run_items, erase=_erase_runs,
    expires=True))
