"""The Training runner's Runs tab: saved runs listed, compared, resumed, stopped, deleted, shared and pinned
(moved out of pages/training_runner.py, which stays a thin page)."""

from __future__ import annotations

from typing import Callable

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit import store
from cnnkit.classroom import ClassroomConfig, may_cancel, runs_of
from cnnkit.classroom.gate import allowed
from cnnkit.classroom.permissions import owner_label
from cnnkit.jobs import JobManager
from cnnkit.train import report
from ui.export_buttons import render_export_buttons, render_run_import
from ui.identity import actor
from ui.links import share_box
from ui.run_compare import compared_run_of, render_run_comparison
from ui.run_views import render_run_results
from ui.text import plain


def chance_warning(records: list) -> None:
    """A word when runs end near chance (a sweep at 2 epochs: every run 11.7 %), per number of classes."""
    by_classes: dict[int, list] = {}
    for record in records:
        if record.status in ("done", "early_stopped") and record.classes:
            by_classes.setdefault(len(record.classes), []).append(record.test_accuracy)
    for classes, accuracies in by_classes.items():
        note = report.chance_note(accuracies, classes)
        if note:
            st.warning(note)


def render_runs_tab(manager: JobManager, owner: str, teacher: bool, limits: ClassroomConfig,
                    follow: Callable[[str], None], load_key: str) -> None:
    """Saved runs: the table (yours or everyone's), a comparison of several, and one run's actions (resume,
    stop, use its settings, delete, share and pin) and full evaluation. `follow` makes the Train tab follow a
    resumed run; "Use these settings" puts the run's settings under `load_key` for the page's form."""
    runs = store.list_runs()
    everyone = st.toggle("Everyone's runs", key="tr_runs_everyone",
                        help="Off: only your runs. On: the whole class's (you can open and compare them; "
                             "only their owner or the teacher can delete them).")
    if not everyone:
        runs = runs_of(runs, owner)
    known = {r.run_id for r in runs}
    if "tr_compare" in st.session_state:  # drop deleted runs before the widget is drawn
        st.session_state["tr_compare"] = [r for r in st.session_state["tr_compare"] if r in known]
    if not runs:
        st.info("No saved runs yet: train one in the Train tab, or import a run zip." if not everyone
                else "No saved runs yet.")
        render_run_import("tr_import", owner)
        return
    table = pd.DataFrame(report.runs_table(runs))
    chance_warning(runs)
    if everyone:
        table.insert(0, "owner", [owner_label(r.owner, "guest") for r in runs])
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "test acc": st.column_config.NumberColumn(format="%.3f"),
        "macro F1": st.column_config.NumberColumn(format="%.3f"),
        "best val acc": st.column_config.NumberColumn(format="%.3f")})
    by_id = {r.run_id: r for r in runs}
    labels = {r.run_id: f"{report.run_label(r)} · {r.status}" + (f" · {owner_label(r.owner, 'guest')}" if everyone else "")
              + (f" · {r.origin}" if r.origin else "") for r in runs}

    st.subheader("Compare runs")
    chosen = st.multiselect("Runs to overlay", list(by_id), format_func=labels.get, key="tr_compare",
                            placeholder="Pick two or more runs")
    if chosen:
        records = [by_id[r] for r in chosen]
        render_run_comparison([compared_run_of(r, store.load_history(r.run_dir)) for r in records], key="tr_cmp")
        compare = pd.DataFrame(report.compare_table(records, [store.load_results(r.run_dir) for r in records]))
        st.dataframe(compare, hide_index=True, width="stretch")
        scored = compare.dropna(subset=["test acc"])
        if not scored.empty:
            bars = alt.Chart(scored).mark_bar().encode(
                y=alt.Y("run:N", sort=None, title=None), x=alt.X("test acc:Q", scale=alt.Scale(domain=[0, 1])),
                tooltip=["run:N", alt.Tooltip("test acc:Q", format=".3f"), alt.Tooltip("macro F1:Q", format=".3f")])
            st.altair_chart(bars.properties(title="Test accuracy", height=30 * len(scored) + 40), width="stretch")

    st.subheader("One run")
    run_id = st.selectbox("Run", list(by_id), format_func=labels.get, key="tr_run_pick")
    record = by_id[run_id]
    if record.status == "damaged":  # listed so it is not lost; the reason names the file and the field
        st.error(f"{plain(record.message)}. Fix or delete the folder `{record.run_dir}`.")
    cols = st.columns(4)
    # A resume waiting in the queue has not touched run.json yet: the manager knows it (one click, one job).
    may_resume, why_not = allowed("resume", actor(), limits, target_owner=record.owner, what=f"run {record.run_id}")
    if cols[0].button("Resume", key="tr_resume", disabled=not manager.can_resume(record) or not may_resume,
                      help="Go on from the last saved epoch (interrupted or stopped runs)." if may_resume else why_not):
        try:
            follow(manager.submit_resume(record, by=owner, teacher=teacher))
        except ValueError as exc:
            st.error(str(exc))
        else:
            st.session_state["tr_runs_note"] = "Resumed: follow it in the Train tab."
            st.rerun()  # redraw the buttons: this run is busy now
    if "tr_runs_note" in st.session_state:
        st.success(st.session_state.pop("tr_runs_note"))
    job = manager.job_for_run(record.run_dir)
    if job is not None:  # found by its run folder: Stop survives a reload, and the teacher stops any one run
        may_stop = may_cancel(job, owner, teacher)
        if st.button("Stop this run", key="tr_run_stop", disabled=not may_stop, type="primary",
                     help="Ends it within a batch; what was trained is kept." if may_stop else
                     "Only its owner or the teacher can stop it."):
            try:
                manager.cancel(job.job_id, by=owner, teacher=teacher)  # the manager asks the class gate
            except ValueError as exc:
                st.error(str(exc))
            else:
                st.toast("Stopping…")
    if cols[1].button("Use these settings", key="tr_use_settings",
                      help="Put this run's settings in the Train tab's form, to train a variation of it."):
        # A new name: the variation is a new run.
        st.session_state[load_key] = {"config": {**record.config, "name": ""}, "source": report.run_label(record)}
        st.rerun()
    confirm = cols[3].checkbox("Yes, delete it", key="tr_delete_confirm")
    mine, _ = allowed("delete", actor(), limits, target_owner=record.owner)
    if cols[2].button("Delete", key="tr_delete", disabled=not confirm or not mine or not manager.can_delete(record),
                      help="Removes the run folder (weights, history, results)." if mine else
                      "Only its owner or the teacher can delete this run."):
        try:
            store.delete_run(record.run_dir, by=owner, teacher=teacher)  # the store asks the class gate
        except (ValueError, OSError) as exc:
            st.error(str(exc))
        else:
            st.rerun()
    if teacher:
        st.caption("Teacher: send the class to this run's settings, or pin it to the Home page.")
        share_box("pages/training_runner.py", {"run": record.run_id}, what=f"run {record.run_id}'s settings")
        if st.button("Pin to Home", key="tr_pin"):
            from cnnkit.classroom import pin

            pin("run", record.run_id, teacher=teacher)
            st.toast("Pinned to the Home page.")
    if record.status != "damaged":
        if st.toggle("Show its full evaluation", key="tr_run_details"):
            render_run_results(record.run_dir, key="tr_runs_detail")  # its download buttons included
        else:
            render_export_buttons(record.run_dir, key="tr_runs_export")
    render_run_import("tr_import", owner)
