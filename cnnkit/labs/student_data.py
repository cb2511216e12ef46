"""A student's saved labs as student data (cnnkit.classroom.student_data): lab.json names the owner (its runs
are theirs too and are listed as runs). Registered when cnnkit.labs is imported."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from cnnkit.classroom.identity import same_person
from cnnkit.classroom.student_data import StudentDataKind, StudentItem, register_student_data
from cnnkit.fileio import read_json
from cnnkit.labs.saved import LAB_FILE, list_labs


def _owner(lab) -> str:
    owner = getattr(lab.result, "owner", None) if lab.result is not None else None
    if owner is None:  # a damaged lab: its owner field may still be readable
        data = read_json(Path(lab.lab_dir) / LAB_FILE, {})
        owner = data.get("owner") if isinstance(data, dict) else None
    return owner if isinstance(owner, str) else ""


def lab_items(owner: Optional[str]) -> list[StudentItem]:
    """The saved labs of `owner` (None: everyone's), damaged ones included."""
    items = []
    for lab in list_labs():
        who = _owner(lab)
        if owner is None or same_person(who, owner):
            items.append(StudentItem("labs", lab.lab_id, who, f"lab {lab.lab_id} ({lab.kind or '?'}, {lab.status})",
                                     paths=[lab.lab_dir], created=lab.created))
    return items


def _erase_labs(owner: str, items: list[StudentItem]) -> None:
    for item in items:
        shutil.rmtree(item.paths[0])


register_student_data(StudentDataKind(
    "labs", what="Saved labs (e.g. resolution labs): their settings and results table; their runs are runs",
    where="the checkpoint folder's labs/ folder, one folder per lab (lab.json names the owner)",
    kept="until the teacher or retention deletes them", items=lab_items, erase=_erase_labs, expires=True))
