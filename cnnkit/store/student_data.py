"""A student's runs as student data (cnnkit.classroom.student_data): listed by owner, exported and erased
whole. Registered when cnnkit.store is imported."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from cnnkit.classroom.identity import same_person
from cnnkit.classroom.student_data import StudentDataKind, StudentItem, register_student_data
from cnnkit.fileio import read_json
from cnnkit.store.records import ACTIVE_STATUSES, delete_run, list_runs


def _owner(record) -> str:
    if record.status == "damaged":  # its record is unreadable as a whole; the owner field may still be there
        meta = read_json(Path(record.run_dir) / "run.json", {})
        owner = meta.get("owner") if isinstance(meta, dict) else None
        return owner if isinstance(owner, str) else ""
    return record.owner or ""


def run_items(owner: Optional[str]) -> list[StudentItem]:
    """The runs of `owner` (None: everyone's), a training one marked busy."""
    items = []
    for record in list_runs():
        who = _owner(record)
        if owner is not None and not same_person(who, owner):
            continue
        label = f"run {record.run_id} ({record.name or record.model_name or '?'} on {record.dataset or '?'}, " \
                f"{record.status})"
        busy = "training now" if record.status in ACTIVE_STATUSES + ("starting",) else ""
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
