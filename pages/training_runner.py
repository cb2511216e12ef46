"""Training runner: settings → Train (a background job) → live curves → full evaluation; saved runs
compared, resumed and deleted; sweeps of one setting or a grid of two."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit import store
from cnnkit.classroom import may_cancel, runs_of
from cnnkit.classroom.gate import allowed
from cnnkit.classroom.permissions import STOPPED_BY_TEACHER, owner_label
from cnnkit.device import resolve_device
from cnnkit.jobs import JobSnapshot, get_job_manager, new_group_id
from cnnkit.train import TrainConfig
from cnnkit.train import report, sweeps
from ui.identity import actor, class_config, current_owner, is_teacher
from ui.job_follow import follow_jobs
from ui.estimates import estimate_button, run_seconds
from ui.export_buttons import render_export_buttons, render_run_import
from ui.lessons_links import lesson_arm_settings
from ui.links import share_box
from ui.run_compare import compared_run_of, render_parallel_coordinates, render_run_comparison
from ui.run_views import render_network_preview, render_overlays, render_run_results
from ui.shell import ensure_app_shell
from ui.text import plain
from ui.train_settings import load_training_settings, training_settings

ensure_app_shell()

JOBS = "tr_jobs"          # this session's single-run job ids, oldest first
CURRENT = "tr_current"    # the job the live panel follows
LOAD = "tr_load_settings"  # {"config", "source"} to put in the form on the next run; None = the defaults
LOADED = "tr_form_defaults"  # {"config", "source"} the form shows as its defaults

manager = get_job_manager()
owner, teacher, limits = current_owner(), is_teacher(), class_config()
st.session_state.setdefault(JOBS, [])
if owner:  # after a reload the session is new: the student's running jobs are found again by owner
    for _snap in manager.active_of(owner):
        if _snap.job_id not in st.session_state[JOBS] and not _snap.group:
            st.session_state[JOBS].append(_snap.job_id)
            st.session_state.setdefault(CURRENT, _snap.job_id)


def deep_link_settings() -> None:
    """?run=<run id>, ?preset=<model preset> or ?lesson=<id>[&arm=<arm id>][&mode=full] (a teacher's link) puts
    those settings in the form, once per link."""
    params = st.query_params
    link = (params.get("run"), params.get("preset"), params.get("lesson"), params.get("arm"), params.get("mode"))
    if not any(link[:3]) or st.session_state.get("tr_deep_link") == link:
        return
    st.session_state["tr_deep_link"] = link
    run_id, preset, lesson, arm, mode = link
    if lesson and not run_id and not preset:
        try:
            st.session_state[LOAD] = lesson_arm_settings(lesson, arm, mode or "quick")
        except (KeyError, ValueError) as exc:  # looked up among the lessons only; shown back as plain text
            reason = exc.args[0] if exc.args else exc
            st.session_state["tr_load_error"] = f"The link's lesson cannot be loaded: {plain(reason)}"
        return
    if run_id:
        try:
            record = store.load_run(store.run_dir_of_id(run_id))  # a run id, never a server path
        except (FileNotFoundError, ValueError) as exc:
            st.session_state["tr_load_error"] = f"The link's run cannot be loaded: {plain(exc)}"
            return
        st.session_state[LOAD] = {"config": {**record.config, "name": ""}, "source": f"run {record.run_id} (link)"}
    elif preset:
        from cnnkit.models import list_presets

        if preset not in {p["name"] for p in list_presets()}:
            st.session_state["tr_load_error"] = f"The link's preset {plain(preset, 60)} is not a model this app knows."
            return
        st.session_state[LOAD] = {"config": TrainConfig(model=preset).to_dict(), "source": f"preset {preset} (link)"}


deep_link_settings()
if LOAD in st.session_state:
    # Before the form is drawn: write the loaded settings into its widgets.
    loaded = st.session_state.pop(LOAD)
    try:
        load_training_settings("tr", TrainConfig.from_dict(loaded["config"]) if loaded else TrainConfig())
    except (TypeError, ValueError) as exc:  # e.g. settings saved by an older version of the app
        st.session_state["tr_load_error"] = f"Those settings cannot be loaded: {plain(exc)}"
    else:
        if loaded is None:
            st.session_state.pop(LOADED, None)
        else:
            st.session_state[LOADED] = loaded

st.title("Training runner")
st.caption("Set the hyperparameters, press **Train** and watch the curves; the page stays usable while a run "
           "trains in the background. Runs are saved and can be compared, resumed or swept.")


def follow(job_id: str) -> None:
    st.session_state[JOBS].append(job_id)
    st.session_state[CURRENT] = job_id


def current_snapshot() -> JobSnapshot | None:
    job_id = st.session_state.get(CURRENT)
    if not job_id:
        return None
    try:
        return manager.snapshot(job_id)
    except KeyError:  # the app restarted: the manager no longer knows this job
        st.session_state.pop(CURRENT, None)
        return None


def live_panel(config: TrainConfig) -> None:
    """The followed job's progress and curves while it runs; the page reruns once when it finishes."""
    snap = current_snapshot()
    if snap is None:
        st.caption("No run started in this session yet.")
        render_network_preview(config)
        return
    follow_jobs([snap.job_id], key="tr", stop_help="Ends the run within a batch; what was trained is kept.")


def finished_panel() -> None:
    snap = current_snapshot()
    if snap is None or not snap.finished:
        return
    if snap.status == "failed":
        # First line only: an unexpected error's traceback is for the server, not the student.
        reason = (snap.error or snap.message or "unknown error").strip().splitlines()[0]
        st.error(f"The run failed: {reason}")
        return
    if snap.status == "cancelled" and not snap.run_dir:
        st.info(snap.message or "The run was cancelled before it started.")
        return
    note = getattr(snap.result, "message", "") or ""  # e.g. "stopped early after epoch 5: ..."
    if snap.status == "cancelled":
        said = "Stopped by the teacher." if snap.message == STOPPED_BY_TEACHER else (note or "Stopped.")
        st.warning(f"{said} What was trained is saved; resume it from the Runs tab.")
    else:
        st.success(f"{snap.label}: finished" + (f"; {note}" if note else "."))
    if snap.run_dir and (Path(snap.run_dir) / "run.json").is_file():
        render_run_results(snap.run_dir, key="tr_result", cards_per_row=2)  # the half-width column


def _follow_choice() -> None:
    st.session_state[CURRENT] = st.session_state["tr_follow"]


def train_tab(config: TrainConfig, start: bool) -> None:
    if start:
        try:
            config.validate()
            job_id = manager.submit_training(config, owner=owner, teacher=teacher)  # the class gate checks it
        except ValueError as exc:
            st.error(str(exc))
        else:
            follow(job_id)
    known = {s.job_id: s for s in manager.list()}
    mine = [j for j in reversed(st.session_state[JOBS]) if j in known]  # newest first
    if len(mine) > 1:
        # Several runs from this session: choose which one the panel follows.
        st.session_state["tr_follow"] = st.session_state.get(CURRENT) if st.session_state.get(CURRENT) in mine else mine[0]
        st.selectbox("Following", mine, key="tr_follow",
                     format_func=lambda j: f"{known[j].label} · {known[j].status}", on_change=_follow_choice)
    live_panel(config)
    finished_panel()


# --- Runs ----------------------------------------------------------------------------------------
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


def runs_tab() -> None:
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
        st.session_state[LOAD] = {"config": {**record.config, "name": ""}, "source": report.run_label(record)}
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


# --- Sweeps --------------------------------------------------------------------------------------
def sweep_form(config: TrainConfig) -> None:
    st.caption("A sweep starts from the settings of the Train tab and changes one setting (or two, as a grid). "
               "The runs are queued as one batch and compared when done. Lower the epochs or the training "
               "images there to keep it quick.")
    fields = list(sweeps.SWEEP_FIELDS)
    cols = st.columns(2)
    first = cols[0].selectbox("Setting", fields, index=fields.index("lr"), key="tr_sw_field1")
    first_text = cols[1].text_input("Values", value=sweeps.DEFAULT_VALUES[first], key=f"tr_sw_values1_{first}",
                                    help="Comma-separated; a..b = powers of ten (a..b/n: n log-spaced points); "
                                         "whole numbers a..b = every value.")
    cols = st.columns(2)
    second = cols[0].selectbox("Second setting (grid)", ["(none)"] + fields, key="tr_sw_field2")
    second_text = ""
    if second != "(none)":
        second_text = cols[1].text_input("Values", value=sweeps.DEFAULT_VALUES[second],
                                         key=f"tr_sw_values2_{second}")
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


def sweep_groups() -> list[str]:
    """Every sweep the job manager knows (all sessions share its queue), newest first."""
    groups = list(dict.fromkeys(s.group for s in manager.list() if s.group.startswith(sweeps.GROUP_PREFIX)))
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


def sweeps_tab(config: TrainConfig) -> None:
    sweep_form(config)
    live = sweep_groups()
    saved = sweeps.saved_sweeps(store.list_runs())  # sweeps of earlier app sessions, from their run names
    groups = live + [g for g in saved if g not in live]
    if not groups:
        return
    st.subheader("Sweeps")
    if st.session_state.get("tr_sw_pick") not in groups:
        st.session_state.pop("tr_sw_pick", None)

    def describe(g: str) -> str:
        if g in live:
            jobs = manager.list(group=g)
            return f"{g} ({len(jobs)} runs) · by {sweeps.sweep_owner(jobs)}"
        return f"{g} ({len(saved[g])} saved runs) · by {sweeps.sweep_owner(saved[g])}"

    group = st.selectbox("Sweep", groups, key="tr_sw_pick", format_func=describe)
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


tabs = st.tabs(["Train", "Runs", "Sweeps"])
with tabs[0]:
    left, right = st.columns([5, 7], gap="large")
    with left:
        if "tr_load_error" in st.session_state:
            st.error(st.session_state.pop("tr_load_error"))
        if "tr_link_note" in st.session_state:
            st.info(st.session_state.pop("tr_link_note"))
        if limits.limits_text():
            st.caption(limits.limits_text())
        form_defaults = None
        if LOADED in st.session_state:  # defaults too, so its values are among the widgets' options
            form_defaults = TrainConfig.from_dict(st.session_state[LOADED]["config"])
            st.caption(f"Settings of {st.session_state[LOADED]['source']}; change one and train a variation.")
        settings = training_settings("tr", defaults=form_defaults)
        if st.button("Reset to the defaults", key="tr_reset", disabled=form_defaults is None):
            st.session_state[LOAD] = None
            st.rerun()
    with right:
        # The button sits above the live panel so the run is in view the moment it starts.
        start = st.button("Train", type="primary", key="tr_train", width="stretch",
                          help="Queue a run with the settings on the left.")
        estimate_button("tr_estimate", lambda: run_seconds(settings))
        train_tab(settings, start)
with tabs[1]:
    runs_tab()
with tabs[2]:
    sweeps_tab(settings)
