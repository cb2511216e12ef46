"""Comparing several runs, as in TensorBoard and W&B: a raw/smoothed toggle with a smoothing-weight slider, a
stable colour per run (Okabe–Ito, colour-blind safe), grouping by a setting with a mean ± std band across seeds,
and parallel coordinates for sweeps. The numbers come from cnnkit.train.compare; this module draws them.

    render_run_comparison([ComparedRun(...), ...], key="tr_cmp")   # the Training runner's Runs tab, the Lessons page
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit.train import compare, report

MAX_POINTS = 400   # per series: long histories are decimated after smoothing
DEFAULT_SMOOTHING = 0.6  # TensorBoard's default
EACH_RUN = "(each run)"
METRIC_COLUMNS = {"loss": (("train_loss", "train"), ("val_loss", "validation")),
                  "accuracy": (("train_acc", "train"), ("val_acc", "validation"))}
# The band and line layers share one legend: full-strength line symbols, not the band's faint fill.
GROUP_LEGEND = alt.Legend(title="group", symbolType="stroke", symbolOpacity=1, symbolStrokeWidth=3, labelLimit=320)
RUN_LEGEND = alt.Legend(title="run", symbolType="stroke", symbolOpacity=1, symbolStrokeWidth=3, labelLimit=260)
SPLIT_DASH = alt.Scale(domain=["train", "validation"], range=[[1, 0], [6, 3]])


@dataclass
class ComparedRun:
    """One run as the comparison needs it: a stable key (its run id) for its colour, a label for legends."""

    key: str
    label: str
    config: dict
    history: list = field(default_factory=list)     # per-epoch rows
    steps: list = field(default_factory=list)       # training-loss points every few steps
    final: dict = field(default_factory=dict)       # e.g. {"test acc": 0.81, "macro F1": 0.8}


# --- charts (pure: rows in, chart out) ------------------------------------------------------------
def colour_scale(domain_keys: Sequence[str], labels: dict[str, str]) -> alt.Scale:
    """Legend labels coloured by their run's (or group's) stable colour."""
    colours = compare.assign_colours(domain_keys)
    return alt.Scale(domain=[labels[k] for k in domain_keys], range=[colours[k] for k in domain_keys])


def _line_layers(frame: pd.DataFrame, x: str, y_title: str, scale: alt.Scale, smoothed: bool,
                 dash: bool, x_title: str) -> alt.LayerChart | alt.Chart:
    encode = dict(x=alt.X(f"{x}:Q", title=x_title),
                  y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
                  color=alt.Color("run:N", scale=scale, legend=RUN_LEGEND))
    if dash:
        encode["strokeDash"] = alt.StrokeDash("split:N", scale=SPLIT_DASH, title=None,
                                              legend=alt.Legend(symbolType="stroke", symbolStrokeColor="#333"))
    tooltip = ["run:N", *(["split:N"] if dash else []), f"{x}:Q", alt.Tooltip("value:Q", format=".4f")]
    line = alt.Chart(frame).mark_line().encode(**encode, tooltip=tooltip + (
        [alt.Tooltip("raw:Q", format=".4f", title="raw")] if smoothed else []))
    if not smoothed:
        return line
    # TensorBoard's look: the raw curve faint behind the smoothed one.
    raw = alt.Chart(frame).mark_line(opacity=0.25).encode(**{**encode, "y": alt.Y("raw:Q", title=y_title)})
    return raw + line


def runs_curve_chart(runs: Sequence[ComparedRun], metric: str, weight: float) -> Optional[alt.LayerChart]:
    """One metric (loss or accuracy) of every run per epoch: colour = run, solid train, dashed validation."""
    rows = [{"run": r.label, "epoch": row["epoch"], "split": split, "value": row[column]}
            for r in runs for row in r.history for column, split in METRIC_COLUMNS[metric]
            if row.get(column) is not None]
    if not rows:
        return None
    rows = compare.smooth_rows(rows, weight, series=("run", "split")) if weight else rows
    frame = pd.DataFrame(compare.decimate_series(rows, MAX_POINTS, series=("run", "split")))
    scale = colour_scale([r.key for r in runs], {r.key: r.label for r in runs})
    title = chart_title(f"{metric.capitalize()} per epoch", "solid train, dashed validation", weight)
    return _line_layers(frame, "epoch", metric, scale, bool(weight), True, "epoch").properties(
        title=title, height=_height(len(runs)))


def step_loss_chart(runs: Sequence[ComparedRun], weight: float) -> Optional[alt.LayerChart]:
    """Training loss every few steps, one line per run: where smoothing matters most."""
    rows = [{"run": r.label, "epoch": float(p["epoch"]), "value": float(p["loss"])}
            for r in runs for p in report.step_points(r.steps, max_points=10**9)]
    if not rows:
        return None
    rows = compare.smooth_rows(rows, weight, series=("run",)) if weight else rows
    frame = pd.DataFrame(compare.decimate_series(rows, MAX_POINTS, series=("run",)))
    scale = colour_scale([r.key for r in runs if r.steps], {r.key: r.label for r in runs})
    title = chart_title("Training loss every few steps", "", weight)
    return _line_layers(frame, "epoch", "training loss", scale, bool(weight), False, "epoch").properties(
        title=title, height=_height(len(runs)))


def chart_title(title: str, subtitle: str = "", weight: float = 0.0) -> alt.TitleParams:
    """A short title and the rest as a subtitle: a chart in half the page's width cuts a long title ("(smooth…")."""
    parts = [subtitle] if subtitle else []
    parts += ["smoothed"] if weight else []
    return alt.TitleParams(title, subtitle=", ".join(parts)) if parts else alt.TitleParams(title)


def _height(runs: int) -> int:
    # Tall enough for the legend: one row per run, and the train/validation rows below them.
    return max(300, 20 * runs + 90)


def band_chart(runs: Sequence[ComparedRun], groups: dict[str, list[str]], metric: str,
               weight: float) -> Optional[alt.LayerChart]:
    """Mean ± std across the runs (seeds) of each group, per epoch, validation split: a line and a band."""
    column = METRIC_COLUMNS[metric][1][0]
    by_key = {r.key: r for r in runs}
    histories = {label: [by_key[k].history for k in keys] for label, keys in groups.items()}
    rows = compare.group_bands(histories, [column], weight=weight)
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    frame["runs"] = frame["group"].map(lambda g: len(groups[g]))
    scale = colour_scale(list(groups), {g: g for g in groups})
    base = alt.Chart(frame).encode(x=alt.X("epoch:Q", title="epoch"),
                                   color=alt.Color("group:N", scale=scale, legend=GROUP_LEGEND))
    band = alt.Chart(frame).mark_area(opacity=0.2).encode(
        x=alt.X("epoch:Q", title="epoch"), y=alt.Y("lower:Q", title=f"validation {metric}", scale=alt.Scale(zero=False)),
        y2="upper:Q", color=alt.Color("group:N", scale=scale, legend=GROUP_LEGEND))
    line = base.mark_line(point=True).encode(
        y="mean:Q", tooltip=["group:N", "epoch:Q", alt.Tooltip("mean:Q", format=".4f"),
                             alt.Tooltip("std:Q", format=".4f"), alt.Tooltip("n:Q", title="runs at this epoch")])
    title = chart_title(f"Validation {metric}", "mean ± std over each group's runs", weight)
    return (band + line).properties(title=title, height=300)


def parallel_chart(rows: Sequence[dict], metric: str) -> alt.LayerChart:
    """Parallel coordinates: one line per run across the settings' axes to the metric, coloured by the metric."""
    frame = pd.DataFrame(rows)
    frame["axis"] = [f"{a} (log scale)" if scale == "log" else a for a, scale in zip(frame["axis"], frame["scale"])]
    axes = frame.drop_duplicates("axis").sort_values("order")["axis"].tolist()
    # Every axis keeps its name: Vega culls overlapping labels by default (half of them vanished); tilted instead.
    base = alt.Chart(frame).encode(x=alt.X("axis:N", sort=axes, title=None,
                                           axis=alt.Axis(labelAngle=-20, labelOverlap=False, labelLimit=200)))
    lines = base.mark_line(strokeWidth=2).encode(
        y=alt.Y("position:Q", axis=None, scale=alt.Scale(domain=[-0.05, 1.05])),
        detail="run:N", color=alt.Color(f"{metric}:Q", scale=alt.Scale(scheme="viridis"), title=metric),
        tooltip=["run:N", "axis:N", "value:N", alt.Tooltip(f"{metric}:Q", format=".3f")])
    # The values written on each axis (text, not only position): each distinct value once.
    labels = base.transform_aggregate(position="min(position)", groupby=["axis", "value"]).encode(
        y="position:Q", text="value:N")
    # A white outline under each label keeps it readable where lines cross it.
    ticks = (labels.mark_text(align="left", dx=4, fontSize=11, stroke="white", strokeWidth=3)
             + labels.mark_text(align="left", dx=4, fontSize=11, color="#333"))
    # One vertical axis line per setting, as parallel-coordinate charts draw them.
    rules = alt.Chart(pd.DataFrame({"axis": axes})).mark_rule(color="#999").encode(x=alt.X("axis:N", sort=axes))
    return (rules + lines + ticks).properties(
        title=alt.TitleParams("Parallel coordinates", subtitle=f"settings → {metric}, one line per run"), height=320)


def _show(chart) -> None:
    if chart is not None:
        st.altair_chart(chart, width="stretch")


# --- the component ---------------------------------------------------------------------------------
def smoothing_controls(key: str) -> float:
    """The raw/smoothed toggle and TensorBoard's smoothing-weight slider; the weight (0 = raw)."""
    cols = st.columns([1, 2])
    smoothed = cols[0].toggle("Smoothed", key=f"{key}_smooth",
                              help="An exponential moving average, as TensorBoard draws it; the raw curve stays "
                                   "faint behind it.")
    weight = cols[1].slider("Smoothing", 0.0, 0.99, DEFAULT_SMOOTHING, 0.01, key=f"{key}_smoothing",
                            disabled=not smoothed, help="0 = raw; 0.99 = very smooth (TensorBoard's weight).")
    return float(weight) if smoothed else 0.0


def render_run_comparison(runs: Sequence[ComparedRun], key: str, metric: str = "test acc") -> None:
    """Overlaid curves of several runs (smoothable), grouped bands across seeds, and parallel coordinates
    when the runs differ in their settings. Widget keys start with `key`."""
    runs = list(runs)
    if not runs:
        return
    weight = smoothing_controls(key)
    settings = compare.groupable_settings(r.config for r in runs)
    options = [EACH_RUN, compare.BY_SETTINGS, *settings]
    by = st.selectbox("Group by", options, key=f"{key}_group_by",
                      help="Runs with the same value (or the same settings but for the seed) form one group, drawn "
                           "as its mean with a ± std band: is a difference bigger than the seeds' spread?")
    if by == EACH_RUN:
        cols = st.columns(2)
        for col, name in zip(cols, ("loss", "accuracy")):
            with col:
                _show(runs_curve_chart(runs, name, weight))
        _show(step_loss_chart(runs, weight))
    else:
        groups = compare.group_runs({r.key: r.config for r in runs}, by=by)
        st.caption("Groups: " + "; ".join(f"{label} ({len(keys)} run{'s' if len(keys) > 1 else ''})"
                                          for label, keys in groups.items()))
        cols = st.columns(2)
        for col, name in zip(cols, ("loss", "accuracy")):
            with col:
                _show(band_chart(runs, groups, name, weight))
    points = [{"run": r.label, **{s: r.config.get(s) for s in settings}, metric: r.final.get(metric)} for r in runs]
    render_parallel_coordinates(points, settings, metric)


def render_parallel_coordinates(points: Sequence[dict], axes: Sequence[str], metric: str = "test acc") -> None:
    """Parallel coordinates of finished runs (points: {"run", each axis, metric}) when at least two have the metric
    and there is a setting to spread them: a sweep's hyperparameters → its final metric."""
    rows = compare.parallel_rows(points, axes, metric) if axes else []
    if rows and len({r["run"] for r in rows}) >= 2:
        _show(parallel_chart(rows, metric))


def compared_run_of(record: Any, history: dict) -> ComparedRun:
    """A saved run (cnnkit.store.RunRecord) and its history file's contents as a ComparedRun."""
    return ComparedRun(key=record.run_id, label=report.run_label(record), config=dict(record.config or {}),
                       history=list(history.get("epochs", [])), steps=list(history.get("steps", [])),
                       final={"test acc": record.test_accuracy, "macro F1": record.macro_f1})


__all__ = ["ComparedRun", "compared_run_of", "render_parallel_coordinates", "render_run_comparison",
           "smoothing_controls"]
