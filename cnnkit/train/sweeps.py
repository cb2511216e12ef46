"""Sweeps: one setting over several values, or a grid of two, as a batch of TrainConfigs.

`parse_values("lr", "1e-1..1e-4")` -> [0.1, 0.01, 0.001, 0.0001]; `expand_sweep(base, [("lr", [...]),
("dropout", [...])])` -> one config per combination (named after it); `sweep_rows` compares the
finished jobs of a sweep. The swept settings are recovered from the configs themselves
(`varying_fields`), so a sweep needs no record beyond its jobs' group id.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Optional, Sequence

from cnnkit.run_status import WRITING_STATUSES
from cnnkit.train.config import LOSSES, OPTIMIZERS, SCHEDULERS, TrainConfig

# Setting -> value type. Choices are checked against the engine's lists; numbers by TrainConfig.validate().
SWEEP_FIELDS: dict[str, type] = {
    "lr": float, "weight_decay": float, "dropout": float, "l1": float, "label_smoothing": float,
    "momentum": float, "batch_size": int, "epochs": int, "warmup_epochs": int, "train_subset": int,
    "train_resolution": int, "image_size": int, "seed": int, "optimizer": str, "scheduler": str, "loss": str,
    "model": str,
}
CHOICES: dict[str, Sequence[str]] = {"optimizer": OPTIMIZERS, "scheduler": SCHEDULERS, "loss": LOSSES}
DEFAULT_VALUES: dict[str, str] = {
    "lr": "1e-1..1e-4", "weight_decay": "0, 1e-4, 1e-3", "dropout": "0, 0.25, 0.5", "l1": "0, 1e-5, 1e-4",
    "label_smoothing": "0, 0.1, 0.2", "momentum": "0, 0.9, 0.99", "batch_size": "32, 64, 128",
    "epochs": "2, 4, 8", "warmup_epochs": "0, 1, 2", "train_subset": "500, 1000, 2000",
    "train_resolution": "32, 16, 8", "image_size": "32, 64", "seed": "0..2", "optimizer": "sgd, adam, adamw, rmsprop",
    "scheduler": "constant, step, cosine, onecycle", "loss": "cross_entropy, mse, l1", "model": "cnn2, cnn3, cnn4",
}
MAX_SWEEP_RUNS = 24
GROUP_PREFIX = "sweep-"
_GROUP_TAG = re.compile(r"\[(sweep-[0-9A-Za-z_-]+)\]\s*$")


def _number(field: str, text: str, kind: type) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not a number") from None
    if kind is int:
        if value != int(value):
            raise ValueError(f"{field} takes whole numbers (got {text})")
        return int(value)
    return value


def _range(field: str, text: str, kind: type) -> list:
    """"a..b": every integer for whole-number settings; powers of ten (one per decade, or n points
    evenly spaced on a log scale with "a..b/n") for the others."""
    span, _, count = text.partition("/")
    low_text, high_text = (part.strip() for part in span.split("..", 1))
    low, high = _number(field, low_text, kind), _number(field, high_text, kind)
    if kind is int and not count:
        step = 1 if high >= low else -1
        return list(range(int(low), int(high) + step, step))
    if low <= 0 or high <= 0:
        raise ValueError(f"{field}: a range a..b is spaced on a log scale, so both ends must be above 0 "
                         f"(got {text}); list the values instead, e.g. 0, 1e-4, 1e-3")
    if count:
        try:
            n = int(count)
        except ValueError:
            raise ValueError(f"{field}: the count after '/' must be a whole number (got {count!r})") from None
    else:
        n = int(round(abs(math.log10(high / low)))) + 1
    if n < 2:
        raise ValueError(f"{field}: the range {text} gives fewer than 2 values; add '/n' for n points")
    values = [low * (high / low) ** (i / (n - 1)) for i in range(n)]
    if kind is int:
        return [int(round(v)) for v in values]
    return [float(f"{v:.6g}") for v in values]  # 0.1, 0.01 rather than 0.010000000000000002


def parse_values(field: str, text: str) -> list:
    """The values of one sweep axis from text like "0.1, 0.01", "1e-1..1e-4", "0..4" or "sgd, adam"."""
    if field not in SWEEP_FIELDS:
        raise ValueError(f"{field!r} cannot be swept; choose one of {', '.join(SWEEP_FIELDS)}")
    kind = SWEEP_FIELDS[field]
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if len(parts) == 1 and ".." not in parts[0] and kind is not str:
        parts = parts[0].split()  # "0.1 0.01 0.001" works too
    if not parts:
        raise ValueError(f"give the values of {field}, separated by commas")
    values: list = []
    for part in parts:
        if kind is str:
            if field in CHOICES and part not in CHOICES[field]:
                raise ValueError(f"unknown {field} {part!r}; choose from {', '.join(CHOICES[field])}")
            values.append(part)
        elif ".." in part:
            values.extend(_range(field, part, kind))
        else:
            values.append(_number(field, part, kind))
    unique = list(dict.fromkeys(values))  # order kept, repeats dropped
    return unique


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def assignment_label(assignment: Sequence[tuple[str, Any]]) -> str:
    return ", ".join(f"{field}={format_value(value)}" for field, value in assignment)


def expand_sweep(base: TrainConfig, axes: Sequence[tuple[str, Sequence[Any]]],
                 group: str = "") -> list[tuple[str, TrainConfig]]:
    """(label, config) for every combination of one or two axes, each config a copy of `base` with
    the swept values set and a name saying which run it is. Every config is validated, so a bad value
    is reported before anything is queued."""
    if not 1 <= len(axes) <= 2:
        raise ValueError("a sweep has one setting, or two for a grid")
    fields = [field for field, _ in axes]
    if len(set(fields)) != len(fields):
        raise ValueError(f"the two axes are the same setting ({fields[0]}); pick two different settings")
    for field, values in axes:
        if field not in SWEEP_FIELDS:
            raise ValueError(f"{field!r} cannot be swept; choose one of {', '.join(SWEEP_FIELDS)}")
        if not values:
            raise ValueError(f"give at least one value of {field}")
    total = math.prod(len(values) for _, values in axes)
    if total < 2:
        raise ValueError("a sweep needs at least 2 runs; give more than one value")
    if total > MAX_SWEEP_RUNS:
        raise ValueError(f"this sweep would queue {total} runs; keep it to {MAX_SWEEP_RUNS} or fewer "
                         "(fewer values, or fewer epochs per run and more sweeps)")
    prefix = f"{base.name} " if base.name else ""
    tag = f" [{group}]" if group else ""
    out = []
    for combo in itertools.product(*(values for _, values in axes)):
        assignment = list(zip(fields, combo))
        label = assignment_label(assignment)
        config = replace(base, augment=dict(base.augment), name=f"{prefix}{label}{tag}", **dict(assignment))
        try:
            config.validate()
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None
        out.append((label, config))
    return out


def varying_fields(configs: Iterable[dict]) -> list[str]:
    """The sweepable settings whose values differ between these config dicts: a sweep's axes."""
    configs = list(configs)
    return [field for field in SWEEP_FIELDS if len({repr(c.get(field)) for c in configs}) > 1]


def _result_value(result: Any, name: str) -> Any:
    if result is None:
        return None
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def sweep_rows(snapshots: Sequence[Any], fields: Optional[Sequence[str]] = None) -> list[dict]:
    """One row per job of a sweep: its swept values, status and results. `snapshots` are
    cnnkit.jobs.JobSnapshot-like (meta["config"], status, result, error, run_dir, epoch, epochs)."""
    configs = [s.meta.get("config", {}) for s in snapshots]
    fields = list(fields) if fields is not None else varying_fields(configs)
    rows = []
    for snap, config in zip(snapshots, configs):
        row = {field: config.get(field) for field in fields}
        result = snap.result
        row.update({
            "status": snap.status,
            "test acc": _result_value(result, "test_acc"),
            "macro F1": _result_value(result, "macro_f1"),
            "best val acc": _result_value(result, "best_val_acc"),
            "epochs": _result_value(result, "epochs") if result is not None else snap.epoch,
            "seconds": None if _result_value(result, "seconds") is None else round(_result_value(result, "seconds"), 1),
            "message": snap.error or (snap.message if snap.status in ("failed", "cancelled") else ""),
            "run_dir": snap.run_dir or _result_value(result, "run_dir"),
        })
        rows.append(row)
    return rows


def sweep_owner(items: Sequence[Any]) -> str:
    """Who queued a sweep, for its picker: the owner of its jobs or saved runs ("guest" for a guest)."""
    owners = sorted({getattr(item, "owner", "") or "guest" for item in items})
    return owners[0] if len(owners) == 1 else ", ".join(owners) if owners else "guest"


def best_row(rows: Sequence[dict], metric: str = "test acc") -> Optional[dict]:
    """The finished row with the highest metric (None when no run has it)."""
    scored = [r for r in rows if r.get(metric) is not None]
    return max(scored, key=lambda r: r[metric]) if scored else None


# --- sweeps read back from saved runs (after a restart the job manager has forgotten them) -----------
@dataclass
class SavedSweepRun:
    """A saved run of a sweep, shaped like the JobSnapshot fields sweep_rows and the page read."""

    label: str
    status: str
    meta: dict
    result: Optional[dict]
    run_dir: str
    epoch: int
    history: list = field(default_factory=list)
    error: Optional[str] = None
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.status not in WRITING_STATUSES


def group_of(name: str) -> Optional[str]:
    """The sweep id in a run name written by expand_sweep ("lr=0.1 [sweep-…]"), else None."""
    match = _GROUP_TAG.search(name or "")
    return match.group(1) if match else None


def saved_sweeps(records: Iterable[Any]) -> dict[str, list[Any]]:
    """{group: its saved runs (cnnkit.store.RunRecord), oldest first}, newest sweep first."""
    groups: dict[str, list[Any]] = {}
    for record in sorted(records, key=lambda r: (r.created, r.run_id)):
        group = group_of(record.name or (record.config or {}).get("name", ""))
        if group:
            groups.setdefault(group, []).append(record)
    return dict(sorted(groups.items(), key=lambda item: -max(r.created for r in item[1])))


def saved_run_items(records: Sequence[Any], histories: Sequence[list]) -> list[SavedSweepRun]:
    """Saved runs of one sweep as sweep_rows input, labelled by their swept values."""
    fields = varying_fields((r.config or {}) for r in records)
    items = []
    for record, history in zip(records, histories):
        config = record.config or {}
        result = None
        if record.test_accuracy is not None or record.status in ("done", "early_stopped"):
            result = {"test_acc": record.test_accuracy, "macro_f1": record.macro_f1,
                      "best_val_acc": record.best_val_accuracy, "epochs": record.epochs_done,
                      "seconds": record.seconds, "run_dir": str(record.run_dir)}
        label = assignment_label([(f, config.get(f)) for f in fields]) or record.run_id
        items.append(SavedSweepRun(label=label, status=record.status, meta={"config": config}, result=result,
                                   run_dir=str(record.run_dir), epoch=record.epochs_done, history=list(history),
                                   message=record.message if record.status in ("failed", "cancelled") else ""))
    return items
