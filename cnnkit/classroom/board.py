"""The class board: everyone's best runs on one dataset side by side, and runs of one owner.

Reads saved-run records (cnnkit.store.RunRecord) by their attributes. A lesson filter comes later:
`board_rows(..., where=...)` takes any predicate on a record (e.g. the run's lesson id)."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from cnnkit.classroom.identity import person_groups, same_person
from cnnkit.classroom.permissions import owner_label, owner_of


def runs_of(records: Iterable[Any], owner: Optional[str]) -> list:
    """The runs of `owner` ("" = the guest's); owner None = everyone's."""
    return [r for r in records if owner is None or same_person(owner_of(r), owner)]


def best_runs_by_owner(records: Iterable[Any], dataset: str, where: Optional[Callable[[Any], bool]] = None) -> list:
    """Each owner's best finished run on `dataset` by test accuracy, best first."""
    best: dict[str, Any] = {}
    records = [r for r in records if r.dataset == dataset and r.test_accuracy is not None and (not where or where(r))]
    groups = person_groups(owner_of(r) for r in records)   # one person, one row (the identity rule)
    for record in records:
        owner = groups[owner_of(record)] if owner_of(record) else ""
        if owner not in best or record.test_accuracy > best[owner].test_accuracy:
            best[owner] = record
    return sorted(best.values(), key=lambda r: (-r.test_accuracy, r.created))


def board_rows(records: Iterable[Any], dataset: str, where: Optional[Callable[[Any], bool]] = None) -> list[dict]:
    """One row per owner: their best run on `dataset` with its settings and test accuracy."""
    rows = []
    for rank, record in enumerate(best_runs_by_owner(records, dataset, where), start=1):
        config = record.config or {}
        model = config.get("model")
        rows.append({"rank": rank, "owner": owner_label(owner_of(record), "guest"), "run": record.run_id,
                     "model": model if isinstance(model, str) else record.model_name,
                     "epochs": config.get("epochs"), "optimizer": config.get("optimizer"), "lr": config.get("lr"),
                     "batch": config.get("batch_size"), "train images": config.get("train_subset") or "all",
                     "augment": ", ".join(k for k, v in (config.get("augment") or {}).items() if v) or "none",
                     "test acc": record.test_accuracy,
                     "origin": getattr(record, "origin", "")})  # "imported from …": not trained by this owner
    return rows
