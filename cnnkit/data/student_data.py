"""A student's imported and hand-made datasets as student data (cnnkit.classroom.student_data): the folders
that record an owner (import_staging's hidden .owner.json), with their decoded caches. Built-in datasets and
folders copied in by hand record no owner and are never listed. Registered when cnnkit.data is imported."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from cnnkit.classroom.identity import same_person
from cnnkit.classroom.student_data import StudentDataKind, StudentItem, file_mtime, register_student_data
from cnnkit.data.import_staging import OWNER_FILE
from cnnkit.fileio import read_json
from cnnkit.paths import cache_dir, data_dir


def dataset_items(owner: Optional[str]) -> list[StudentItem]:
    """The datasets `owner` imported or made (None: everyone's, a guest's included)."""
    root = data_dir()
    if not root.is_dir():
        return []
    items = []
    for folder in sorted(root.iterdir()):
        record = read_json(folder / OWNER_FILE, None) if folder.is_dir() and not folder.name.startswith(".") else None
        if not isinstance(record, dict):
            continue
        who = record.get("owner") if isinstance(record.get("owner"), str) else ""
        if owner is not None and not same_person(who, owner):
            continue
        created = record.get("created")
        created = float(created) if isinstance(created, (int, float)) else file_mtime(folder / OWNER_FILE)
        classes = sum(1 for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))
        items.append(StudentItem("datasets", folder.name, who, f"dataset {folder.name} ({classes} class folders)",
                                 paths=[str(folder)], created=created))
    return items


def decoded_caches(name: str) -> list[Path]:
    """The decoded-tensor caches of dataset `name` (cnnkit.data.cache names them <name>-<16 hex>.pt)."""
    folder = cache_dir()
    if not folder.is_dir():
        return []
    return [path for path in folder.glob(f"{name}-*.pt") if len(path.stem) == len(name) + 17]


def _erase_datasets(owner: str, items: list[StudentItem]) -> None:
    for item in items:
        for cache in decoded_caches(item.item_id):  # the same images, decoded
            cache.unlink(missing_ok=True)
        shutil.rmtree(item.paths[0])


register_student_data(StudentDataKind(
    "datasets", what="Datasets a student imported (a zip) or made with uploads and the camera: their images",
    where="the data folder, one folder per dataset (a hidden .owner.json names the owner), and its decoded "
          "copy in the data folder's .cache",
    kept="until the teacher or retention deletes them", items=dataset_items, erase=_erase_datasets, expires=True))
