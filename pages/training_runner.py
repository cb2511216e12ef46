"""Training runner: settings → Train (a background job) → live curves → full evaluation; saved runs
compared, resumed and deleted; sweeps of one setting or a grid of two."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from cnnkit import store
from cnnkit.classroom.permissions import STOPPED_BY_TEACHER
from cnnkit.jobs import JobSnapshot, get_job_manager
from cnnkit.train import TrainConfig
from ui.identity import class_config, current_owner, is_teacher
from ui.job_follow import follow_jobs
from ui.estimates import estimate_button, run_seconds
from ui.lessons_links import lesson_arm_settings
from ui.run_views import render_network_preview, render_run_results
from ui.shell import ensure_app_shell
from ui.text import plain
from ui.train_settings import load_training_settings, training_settings
from ui.training_runs import render_runs_tab
from ui.training_sweeps import render_sweeps_tab

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
    known = {s.job_id: s for s in manager.list(with_history=False)}  # labels and statuses only
    mine = [j for j in reversed(st.session_state[JOBS]) if j in known]  # newest first
    if len(mine) > 1:
        # Several runs from this session: choose which one the panel follows.
        st.session_state["tr_follow"] = st.session_state.get(CURRENT) if st.session_state.get(CURRENT) in mine else mine[0]
        st.selectbox("Following", mine, key="tr_follow",
                     format_func=lambda j: f"{known[j].label} · {known[j].status}", on_change=_follow_choice)
    live_panel(config)
    finished_panel()


# Stateful tabs: the Sweeps tab (a fifth of the page's work: its form, every sweep, the saved runs) is drawn only
# while open; its form's values wait in session state meanwhile (ui.training_sweeps).
tabs = st.tabs(["Train", "Runs", "Sweeps"], key="tr_tab", on_change="rerun")
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
    render_runs_tab(manager, owner, teacher, limits, follow, LOAD)
with tabs[2]:
    if tabs[2].open:
        render_sweeps_tab(settings, manager, owner, teacher, limits)
