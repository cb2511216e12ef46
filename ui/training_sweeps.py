"""The Training runner's Sweeps tab: one setting (or a grid of two) varied from the Train tab's settings, queued
as one batch, followed live and compared when done; sweeps of earlier app sessions from their saved runs
(moved out of pages/training_runner.py, which stays a thin page)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit import store
from cnnkit.classroom import ClassroomConfig
from cnnkit.classroom.gate import allowed
from cnnkit.device import resolve_device
from cnnkit.jobs import JobManager, new_group_id
from cnnkit.train import TrainConfig, sweeps
from ui.identity import actor
from ui.job_follow import follow_jobs
from ui.run_compare import render_parallel_coordinates
from ui.run_views import render_overlays
from ui.training_runs import chance_warning


KEPT = "tr_sw__kept"  # the form's values while the Sweeps tab is closed (its widgets are not drawn then)


def _form_keys() -> list[str]:
    return [k for k in st.session_state if k.startswith(("tr_sw_field", "tr_sw_values", "tr_sw_pick"))]


def _keep_form() -> None:
    st.session_state[KEPT] = {k: st.session_state[k] for k in _form_keys()}


def _restore_form() -> None:
    """Streamlit drops the state of widgets a run does not draw: a student back on the Sweeps tab finds the
    setting, values and sweep they left there."""
    for k, value in st.session_state.get(KEPT, {}).items():
        if k not in st.session_state:
            st.session_state[k] = value


def sweep_form(config: TrainConfig, manager: JobManager, owner: str, teacher: bool, limits: ClassroomConfig) -> None:
    st.caption("A sweep starts from the settings of the Train tab and changes one setting (or two, as a grid). "
               "The runs are queued as one batch and compared when done. Lower the epochs or the training "
               "images there to keep it quick.")
    fields = list(sweeps.SWEEP_FIELDS)
    _restore_form()
    state = st.session_state
    cols = st.columns(2)
    first = cols[0].selectbox("Setting", fields, key="tr_sw_field1",
                              **({} if "tr_sw_field1" in state else {"index": fields.index("lr")}))
    first_key = f"tr_sw_values1_{first}"
    first_text = cols[1].text_input("Values", key=first_key,
                                    help="Comma-separated; a..b = powers of ten (a..b/n: n log-spaced points); "
                                         "whole numbers a..b = every value.",
                                    **({} if first_key in state else {"value": sweeps.DEFAULT_VALUES[first]}))
    cols = st.columns(2)
    second = cols[0].selectbox("Second setting (grid)", ["(none)"] + fields, key="tr_sw_field2")
    second_text = ""
    if second != "(none)":
        second_key = f"tr_sw_values2_{second}"
        second_text = cols[1].text_input("Values", key=second_key,
                                         **({} if second_key in state else {"value": sweeps.DEFAULT_VALUES[second]}))
    try:
        axes = [(first, sweeps.parse_values(first, first_text))]
        if second != "(none)":
            axes.append((second, sweeps.parse_values(second, second_text)))
        planned = sweeps.expand_sweep(config, axes)
    except ValueError as exc:
        st.error(str(exc))
        return
    st.caption(f"{len(planned)} runs of {config.epochs} epoch(s): " + "; ".join(label for label, _ in planned))
    if st.button("Queue sweep", type="primary", key="tr_sw_queue"):
        group = new_group_id(sweeps.GROUP_PREFIX)
        try:
            resolve_device(config.device)  # every run of the sweep shares it: refuse all or queue all
            runs = sweeps.expand_sweep(config, axes, group=group)
            for _, run_config in runs:  # refuse all or queue all: the gate again checks each as it is queued
                allowed_run, why = allowed("sweep", actor(), limits, training=run_config)
                if not allowed_run:
                    raise ValueError(why)
            if manager.queue_room(owner) < len(runs):
                raise ValueError(f"this sweep queues {len(runs)} runs but you may queue {manager.queue_room(owner)} "
                                 "more now (the class's cap on waiting runs): make it smaller or wait")
            for label, run_config in runs:
                manager.submit_training(run_config, label=label, group=group, owner=owner, teacher=teacher,
                                        kind="sweep")
        except ValueError as exc:
            st.error(str(exc))
        else:
            st.session_state["tr_sw_pick"] = group


def sweep_groups(manager: JobManager) -> list[str]:
    """Every sweep the job manager knows (all sessions share its queue), newest first."""
    groups = list(dict.fromkeys(s.group for s in manager.list(with_history=False)
                                if s.group.startswith(sweeps.GROUP_PREFIX)))
    return groups[::-1]


def sweep_table(snaps: list) -> None:
    rows = sweeps.sweep_rows(snaps)
    st.dataframe(pd.DataFrame(rows).drop(columns=["run_dir"]), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("test acc", "macro F1", "best val acc")})


def sweep_comparison(snaps: list) -> None:
    """Best run, test accuracy by value (bars) or over the grid (heatmap), overlaid curves."""
    fields = sweeps.varying_fields(s.meta.get("config", {}) for s in snaps)
    rows = sweeps.sweep_rows(snaps, fields)
    best = sweeps.best_row(rows)
    if best is not None:
        st.success("Best test accuracy: " + ", ".join(f"{f}={sweeps.format_value(best[f])}" for f in fields)
                   + f" → {best['test acc']:.1%}")
    scored = pd.DataFrame([r for r in rows if r["test acc"] is not None])
    if not scored.empty and fields:
        for f in fields:
            scored[f] = scored[f].map(sweeps.format_value)
        if len(fields) >= 2:
            chart = alt.Chart(scored).mark_rect().encode(
                x=alt.X(f"{fields[0]}:N", sort=None), y=alt.Y(f"{fields[1]}:N", sort=None),
                color=alt.Color("test acc:Q", scale=alt.Scale(scheme="viridis")),
                tooltip=[f"{fields[0]}:N", f"{fields[1]}:N", alt.Tooltip("test acc:Q", format=".3f")])
            text = alt.Chart(scored).mark_text(color="white").encode(
                x=alt.X(f"{fields[0]}:N", sort=None), y=alt.Y(f"{fields[1]}:N", sort=None),
                text=alt.Text("test acc:Q", format=".2f"))
            st.altair_chart((chart + text).properties(title="Test accuracy over the grid", height=300),
                            width="stretch")
        else:
            chart = alt.Chart(scored).mark_bar().encode(
                x=alt.X(f"{fields[0]}:N", sort=None), y=alt.Y("test acc:Q", scale=alt.Scale(domain=[0, 1])),
                tooltip=[f"{fields[0]}:N", alt.Tooltip("test acc:Q", format=".3f")])
            st.altair_chart(chart.properties(title=f"Test accuracy by {fields[0]}", height=300), width="stretch")
    render_parallel_coordinates([{**r, "run": s.label} for r, s in zip(rows, snaps)], fields)
    render_overlays([(s.label, s.history or store.load_history(s.run_dir).get("epochs", [])) for s in snaps
                     if s.history or s.run_dir])  # released jobs: their curves are on disk


def render_sweeps_tab(config: TrainConfig, manager: JobManager, owner: str, teacher: bool,
                      limits: ClassroomConfig) -> None:
    """The Sweeps tab: the form (from the Train tab's settings), then any sweep followed live or compared."""
    try:
        _sweeps_tab(config, manager, owner, teacher, limits)
    finally:
        _keep_form()


def _sweeps_tab(config: TrainConfig, manager: JobManager, owner: str, teacher: bool,
                limits: ClassroomConfig) -> None:
    sweep_form(config, manager, owner, teacher, limits)
    live = sweep_groups(manager)
    saved = sweeps.saved_sweeps(store.list_runs())  # sweeps of earlier app sessions, from their run names
    groups = live + [g for g in saved if g not in live]
    if not groups:
        return
    st.subheader("Sweeps")
    if st.session_state.get("tr_sw_pick") not in groups:
        st.session_state.pop("tr_sw_pick", None)

    def describe(g: str) -> str:
        if g in live:
            jobs = manager.list(group=g, with_history=False)
            return f"{g} ({len(jobs)} runs) · by {sweeps.sweep_owner(jobs)}"
        return f"{g} ({len(saved[g])} saved runs) · by {sweeps.sweep_owner(saved[g])}"

    # Nothing followed until asked (the sweep this session queued is picked for it): a class's every page
    # following one student's sweep live cost each server a fragment per student per second.
    group = st.selectbox("Sweep", groups, key="tr_sw_pick", format_func=describe, index=None,
                         placeholder=f"Pick one of {len(groups)} sweep(s) to follow or compare")
    if group is None:
        return
    if group in live:
        snaps = follow_jobs(group=group, key="tr_sw", stop_label="Stop the sweep", details=sweep_table)
        if all(s.finished for s in snaps):  # drawn by the full page, once the sweep is over
            sweep_table(snaps)
            sweep_comparison(snaps)
        return
    records = saved[group]
    chance_warning(records)
    items = sweeps.saved_run_items(records, [store.load_history(r.run_dir).get("epochs", []) for r in records])
    st.dataframe(pd.DataFrame(sweeps.sweep_rows(items)).drop(columns=["run_dir"]), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("test acc", "macro F1", "best val acc")})
    sweep_comparison(items)
