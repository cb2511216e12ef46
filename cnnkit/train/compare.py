"""Comparing runs the way TensorBoard and W&B do: EMA smoothing, a stable colour per run, runs grouped by a
setting with a mean ± std band across seeds, and parallel coordinates for sweeps.

Pure Python/numpy: the Training runner's Runs tab and the Lessons page draw these rows (ui/run_compare.py).

    ema([1, 2, 3], 0.5)                    -> [1.0, 1.6667, 2.4286]  (TensorBoard's debiased EMA)
    assign_colours(["run-b", "run-a"])     -> {"run-a": "#0072B2", "run-b": ...}  (same run, same colour)
    group_runs(configs, by="optimizer")    -> {"optimizer=adam": [...], "optimizer=sgd": [...]}
    band_rows([hist_seed0, hist_seed1], "val_acc") -> per epoch mean, std, lower, upper, n
    parallel_rows(points, ["lr", "optimizer"], "test acc") -> one row per run and axis, positions in [0, 1]
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from cnnkit.train.report import decimate

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
# Their yellow (#F0E442) is left out: a thin line of it is too faint on white (WCAG contrast 1.3:1).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000")

# Settings that never make two runs different experiments: grouping "by settings except the seed" drops them.
NOT_AN_EXPERIMENT = ("seed", "name", "device", "precision", "log_every")
BY_SETTINGS = "settings except the seed"   # group_runs(by=…): one group per seed-less config
# Settings whose "not set" (None) means the same experiment as this value when runs are grouped: a sweep's
# dropout 0 and a run that never set dropout are one group, not "dropout=0" beside "dropout=None".
UNSET_MEANS = {"dropout": 0.0}
MAX_SMOOTHING = 0.999


# --- smoothing ------------------------------------------------------------------------------------
def ema(values: Sequence[Optional[float]], weight: float) -> list[Optional[float]]:
    """TensorBoard's smoothing: an exponential moving average debiased for its zero start, so the first
    point is the first value (not pulled towards 0). weight 0 = the raw values; 0.99 = very smooth.
    A missing or non-finite value is kept as it is and does not move the average."""
    if not 0 <= weight <= MAX_SMOOTHING:
        raise ValueError(f"smoothing weight must be between 0 and {MAX_SMOOTHING} (got {weight})")
    out: list[Optional[float]] = []
    last, debias = 0.0, 0.0
    for value in values:
        if value is None or not math.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1 - weight) * float(value)
        debias = debias * weight + (1 - weight)
        out.append(last / debias)
    return out


def smooth_rows(rows: Sequence[dict], weight: float, value: str = "value", x: str = "epoch",
                series: Sequence[str] = ("run", "metric", "split")) -> list[dict]:
    """Long chart rows with `value` smoothed along `x` within each series (the columns in `series` that the
    rows have); the raw value is kept as `raw`. Rows come back in series order, then x order."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(c) for c in series), []).append(row)
    out = []
    for members in groups.values():
        members = sorted(members, key=lambda r: r[x])
        for row, smooth in zip(members, ema([r[value] for r in members], weight)):
            out.append({**row, value: smooth, "raw": row[value]})
    return out


def decimate_series(rows: Sequence[dict], max_points: int = 400,
                    series: Sequence[str] = ("run", "metric", "split")) -> list[dict]:
    """At most max_points rows per series (first and last kept): long histories stay light to draw."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(c) for c in series), []).append(row)
    return [row for members in groups.values() for row in decimate(members, max_points)]


# --- colours ----------------------------------------------------------------------------------------
def _slot(key: str, size: int) -> int:
    # A digest, not hash(): Python salts str hashes per process, and a run must keep its colour across restarts.
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % size


def assign_colours(keys: Iterable[str], palette: Sequence[str] = OKABE_ITO) -> dict[str, str]:
    """A colour per key (run id, or group label): each key prefers its own slot of the palette (from a digest
    of the key), so a run keeps its colour from chart to chart and page to page; when two keys of one chart
    want the same slot, the later key in sorted order takes the next free one (the result does not depend on
    the order the keys are given in). Distinct up to len(palette) keys; beyond that colours repeat."""
    ordered = sorted(dict.fromkeys(keys))
    taken: set[int] = set()
    colours = {}
    for key in ordered:
        slot = _slot(key, len(palette))
        if len(taken) < len(palette):
            while slot in taken:
                slot = (slot + 1) % len(palette)
            taken.add(slot)
        colours[key] = palette[slot]
    return colours


def ordered_colours(keys: Sequence[str], palette: Sequence[str] = OKABE_ITO) -> dict[str, str]:
    """Colours in the order given, for things with a fixed order of their own (a lesson's arms: its first arm is
    always blue, its second always orange)."""
    return {key: palette[index % len(palette)] for index, key in enumerate(dict.fromkeys(keys))}


# --- grouping and bands -------------------------------------------------------------------------------
def _comparable(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def experiment_settings(config: Mapping[str, Any]) -> dict:
    """A config without what never makes a different experiment (seed, name, device…); unset values that mean
    a default (UNSET_MEANS) given as that default."""
    return {k: grouping_value(k, v) for k, v in config.items() if k not in NOT_AN_EXPERIMENT}


def grouping_value(name: str, value: Any) -> Any:
    """The value runs are grouped by: None stands for UNSET_MEANS's value where it has one."""
    return UNSET_MEANS[name] if value is None and name in UNSET_MEANS else value


def format_setting(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        if "name" in value:
            return str(value["name"])
        on = [k for k, v in value.items() if v is True]
        if on or all(isinstance(v, bool) for v in value.values()):
            return "+".join(on) or "none"
        return _comparable(value)
    return str(value)


def group_runs(configs: Mapping[str, Mapping[str, Any]], by: str = BY_SETTINGS) -> dict[str, list[str]]:
    """{group label: run keys} for runs given as {run key: config dict}, groups in order of first appearance.

    by = a setting name ("optimizer"): one group per value of it. by = BY_SETTINGS: one group per config
    without its seed (the seeds of one experiment), labelled by the settings that differ between groups."""
    keyed: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for run, config in configs.items():
        value = grouping_value(by, config.get(by)) if by != BY_SETTINGS else experiment_settings(config)
        token = _comparable(value)
        keyed.setdefault(token, []).append(run)
        values.setdefault(token, value)
    if by != BY_SETTINGS:
        return {f"{by}={format_setting(values[t])}": runs for t, runs in keyed.items()}
    # Label each seed-less config by what differs between them.
    settings = list(values.values())
    names = sorted({k for s in settings for k in s})
    differing = [n for n in names if len({_comparable(s.get(n)) for s in settings}) > 1]
    labels = {}
    for index, (token, runs) in enumerate(keyed.items()):
        label = ", ".join(f"{n}={format_setting(values[token].get(n))}" for n in differing) or "same settings"
        labels[label if label not in labels else f"{label} #{index + 1}"] = runs
    return labels


def groupable_settings(configs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The settings worth grouping by: those that differ between the runs (seed and name excluded)."""
    configs = [experiment_settings(c) for c in configs]
    names = sorted({k for c in configs for k in c})
    return [n for n in names if len({_comparable(c.get(n)) for c in configs}) > 1]


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation (n - 1), n) of the finite values; std is 0 for one value.
    The sample std, because a few seeds estimate the spread of all seeds (what numpy calls ddof=1)."""
    clean = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not clean:
        return math.nan, math.nan, 0
    std = float(np.std(clean, ddof=1)) if len(clean) > 1 else 0.0
    return float(np.mean(clean)), std, len(clean)


def band_rows(histories: Sequence[Sequence[dict]], column: str, x: str = "epoch") -> list[dict]:
    """Per-x statistics of one column over several runs (the seeds of one group):
    {x, mean, std, lower (mean - std), upper (mean + std), n}. Runs of different lengths: n counts the
    runs that reached that x; an x no run has a finite value at is left out."""
    by_x: dict[Any, list[float]] = {}
    for history in histories:
        for row in history:
            value = row.get(column)
            if value is not None and math.isfinite(value):
                by_x.setdefault(row[x], []).append(float(value))
    rows = []
    for at in sorted(by_x):
        mean, std, n = mean_std(by_x[at])
        rows.append({x: at, "mean": mean, "std": std, "lower": mean - std, "upper": mean + std, "n": n})
    return rows


def group_bands(groups: Mapping[str, Sequence[Sequence[dict]]], columns: Sequence[str],
                weight: float = 0.0) -> list[dict]:
    """Band rows of several groups and columns, tagged {"group", "column"}; with weight > 0 each run is
    EMA-smoothed before the statistics (the band of the smoothed curves, as TensorBoard draws it)."""
    out = []
    for group, histories in groups.items():
        for column in columns:
            if weight:
                histories_used = []
                for history in histories:
                    history = sorted(history, key=lambda r: r["epoch"])
                    smooth = ema([r.get(column) for r in history], weight)
                    histories_used.append([{**r, column: s} for r, s in zip(history, smooth)])
            else:
                histories_used = list(histories)
            out.extend({**row, "group": group, "column": column} for row in band_rows(histories_used, column))
    return out


# --- parallel coordinates ------------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def axis_positions(values: Sequence[Any]) -> tuple[list[float], str]:
    """Each value's position on one parallel-coordinates axis, in [0, 1], and the axis scale:
    numbers min-max ("linear"), or on a log scale when all are positive and span ≥ 10× ("log", as learning
    rates and weight decays are swept); anything else as categories evenly spaced in sorted order
    ("category"); an axis with one value puts it at 0.5."""
    if values and all(_is_number(v) for v in values):
        numbers = [float(v) for v in values]
        low, high = min(numbers), max(numbers)
        if high == low:
            return [0.5] * len(numbers), "linear"
        if low > 0 and high / low >= 10:
            low_l, high_l = math.log10(low), math.log10(high)
            return [(math.log10(v) - low_l) / (high_l - low_l) for v in numbers], "log"
        return [(v - low) / (high - low) for v in numbers], "linear"
    texts = [format_setting(v) for v in values]
    categories = sorted(set(texts))
    if len(categories) == 1:
        return [0.5] * len(texts), "category"
    return [categories.index(t) / (len(categories) - 1) for t in texts], "category"


def parallel_rows(points: Sequence[Mapping[str, Any]], axes: Sequence[str], metric: str,
                  key: str = "run") -> list[dict]:
    """Long rows for a parallel-coordinates chart of a sweep: hyperparameters → final metric.

    points: one mapping per run with `key`, each axis's value and the metric. One row per run and axis
    (the metric last, as its own axis): {run, axis, order, position (0-1), value (as text), scale, metric}.
    Runs without the metric are left out (they did not finish)."""
    scored = [p for p in points if _is_number(p.get(metric))]
    rows = []
    for order, axis in enumerate([*axes, metric]):
        positions, scale = axis_positions([p.get(axis) for p in scored])
        for point, position in zip(scored, positions):
            value = point.get(axis)
            rows.append({key: point[key], "axis": axis, "order": order, "position": position,
                         "value": f"{value:.4g}" if _is_number(value) else format_setting(value),
                         "scale": scale, metric: float(point[metric])})
    return rows


__all__ = ["BY_SETTINGS", "OKABE_ITO", "assign_colours", "axis_positions", "band_rows", "decimate_series", "ema",
           "experiment_settings", "format_setting", "group_bands", "group_runs", "groupable_settings", "mean_std",
           "ordered_colours", "parallel_rows", "smooth_rows"]
