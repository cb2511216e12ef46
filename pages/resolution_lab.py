"""Resolution lab: TOTV (train on the original resolution, test on various) against TVTV (train and test on
each resolution). The whole lab runs as one background job; finished labs reopen from disk."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit.data.preview import make_grid, resolution_strip, sample_indices_per_class, upscale_nearest
from cnnkit.data.resolution import RESIZE_MODES
from cnnkit.device import resolve_device
from cnnkit.jobs import JobSnapshot, get_job_manager
from cnnkit.labs import (ResolutionLabConfig, ResolutionLabResult, estimate_lab, list_labs, load_lab, network_views,
                         run_resolution_lab)
from cnnkit.labs.resolution import default_lab_training
from cnnkit.store import load_history
from ui.estimates import cached_measure, estimate_button
from ui.identity import current_owner, is_teacher
from ui.images import show_pixels
from ui.job_follow import follow_jobs, followed_snapshots, render_live_curves
from ui.run_views import render_curves
from ui.shell import ensure_app_shell
from ui.train_settings import training_settings

ensure_app_shell()

K = "rl"                        # widget key prefix
JOBS = "rl_jobs"                # this session's lab jobs, oldest first
OPEN = "rl_open_lab"            # the lab id shown in the results section
RESOLUTION_CHOICES = (64, 48, 32, 28, 24, 16, 14, 12, 8, 7, 4)
METRIC_NAMES = ("accuracy", "precision", "recall", "f1")
METHOD_COLOURS = alt.Scale(domain=["TOTV", "TVTV"], range=["#d62728", "#1f77b4"])
DEFAULTS = default_lab_training()

manager = get_job_manager()
owner = current_owner()
st.session_state.setdefault(JOBS, [])

st.title("Resolution lab")
st.caption("**TOTV** (train original, test various): one model trained at the dataset's own resolution, then tested on "
           "the test images shrunk to each resolution. **TVTV** (train various, test various): one model per "
           "resolution, trained and tested at it. How much of the accuracy lost at low resolution is the image, "
           "and how much is a network that never saw such images?")


# --- cached data ------------------------------------------------------------------------------------
@st.cache_resource(max_entries=2, show_spinner="Loading sample images…")
def sample_images(dataset: str):
    """One test image per class (uint8 NCHW), or None when the dataset cannot be loaded."""
    from cnnkit.data import load_dataset

    data = load_dataset(dataset)
    picks = [idx[0] for idx in sample_indices_per_class(data.test_y, len(data.classes), 1, seed=0) if idx][:10]
    return data.test_x[picks].clone()


@st.cache_data(ttl=5, show_spinner=False)
def saved_labs() -> list[dict]:
    """The saved resolution labs, damaged ones included (opening one says why it cannot be shown)."""
    return [lab.to_dict() for lab in list_labs(kind="resolution")]


def lab_label(lab: dict) -> str:
    import time

    when = time.strftime("%d %b %H:%M", time.localtime(lab["created"]))
    status = "" if lab["status"] == "done" else f" ({lab['status']})"
    return f"{when} · {lab['title']}{status}"


# --- tables and charts (pure: result in, frame/chart out) -----------------------------------------------
def metrics_frame(result: ResolutionLabResult) -> pd.DataFrame:
    rows = [{"method": method, "resolution": row.resolution, "accuracy": row.accuracy, "precision": row.precision,
             "recall": row.recall, "f1": row.f1}
            for method, table in (("TOTV", result.totv), ("TVTV", result.tvtv)) for row in table]
    return pd.DataFrame(rows, columns=["method", "resolution", "accuracy", "precision", "recall", "f1"])


def metric_chart(result: ResolutionLabResult, metric: str) -> alt.Chart:
    frame = pd.DataFrame([r for r in result.metric_rows() if r["metric"] == metric])
    order = [f"{r} px" for r in result.resolutions]
    frame["size"] = frame["resolution"].map(lambda r: f"{r} px")
    base = alt.Chart(frame).encode(
        x=alt.X("size:N", sort=order, title="resolution", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("method:N", sort=["TOTV", "TVTV"]),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")))
    bars = base.mark_bar().encode(
        color=alt.Color("method:N", scale=METHOD_COLOURS, title=None, legend=alt.Legend(orient="top")),
        tooltip=["method:N", "size:N", alt.Tooltip("value:Q", format=".1%")])
    labels = base.mark_text(dy=-6, fontSize=10).encode(text=alt.Text("value:Q", format=".0%"))
    title = {"accuracy": "Accuracy", "precision": "Macro precision", "f1": "Macro F1"}[metric]
    return (bars + labels).properties(title=title, height=260)


def per_class_frame(result: ResolutionLabResult) -> pd.DataFrame:
    rows = result.per_class_rows()
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    frame["column"] = frame["method"] + " " + frame["resolution"].astype(str) + " px"
    order = [f"{m} {r} px" for m in ("TOTV", "TVTV") for r in result.resolutions]
    wide = frame.pivot(index="class", columns="column", values="accuracy")
    return wide.reindex(index=[c for c in result.classes if c in wide.index],
                        columns=[c for c in order if c in wide.columns])


def per_class_heatmap(result: ResolutionLabResult) -> alt.Chart:
    frame = pd.DataFrame(result.per_class_rows())
    frame["column"] = frame["method"] + " " + frame["resolution"].astype(str) + " px"
    order = [f"{m} {r} px" for m in ("TOTV", "TVTV") for r in result.resolutions]
    base = alt.Chart(frame).encode(x=alt.X("column:N", sort=order, title=None, axis=alt.Axis(labelAngle=0)),
                                   y=alt.Y("class:N", sort=result.classes, title=None))
    cells = base.mark_rect().encode(
        # blues, not red-yellow-green: red against green is the pair most colour-blind students cannot tell apart
        color=alt.Color("accuracy:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="accuracy"),
        tooltip=["class:N", "method:N", "resolution:Q", alt.Tooltip("accuracy:Q", format=".1%")])
    text = base.mark_text(fontSize=11).encode(text=alt.Text("accuracy:Q", format=".0%"), color=alt.condition(
        "datum.accuracy > 0.6", alt.value("white"), alt.value("black")))  # readable on dark and light cells
    return (cells + text).properties(title="Per-class accuracy", height=max(220, 30 * len(result.classes)))


def show_percent(frame: pd.DataFrame, hide_index: bool) -> None:
    """Fractions shown as percentages with one decimal (the frame itself keeps fractions)."""
    columns = [c for c in frame.columns if c not in ("method", "resolution")]
    shown = frame.copy()
    shown[columns] = shown[columns] * 100
    st.dataframe(shown, hide_index=hide_index, width="stretch",
                 column_config={c: st.column_config.NumberColumn(f"{c} (%)" if c in METRIC_NAMES else c,
                                                                 format="%.1f") for c in columns})


# --- results --------------------------------------------------------------------------------------
def render_samples(result: ResolutionLabResult) -> None:
    try:
        images = sample_images(result.dataset)
    except (ValueError, FileNotFoundError, OSError) as exc:
        st.caption(f"The images of {result.dataset} cannot be shown: {exc}")
        return
    image_size = (result.config.get("base") or {}).get("image_size")
    views = dict(network_views(images, result.resolutions, result.mode, result.native_size, image_size))
    strips = dict(resolution_strip(images, result.resolutions, mode=result.mode, target=64))
    for res in result.resolutions:
        st.markdown(f"**{res}×{res} px**")
        show_pixels(strips[res])
        if not result.native_size and res != result.native:
            seen = views[res]
            factor = max(1, 64 // int(seen.shape[-1]))
            with st.expander(f"What the network gets at {res} px (resampled back up to {seen.shape[-1]} px)"):
                show_pixels(upscale_nearest(make_grid(seen, nrow=len(seen), padding=1), factor))


def render_lab(result: ResolutionLabResult) -> None:
    if result.status != "done":
        st.warning(f"This lab is {result.status}: {result.message or 'some rows are missing'}")
    st.caption(f"{result.model} on {result.dataset} ({result.native} px native), filter `{result.mode}`, "
               + ("small images fed directly (native size)" if result.native_size
                  else "small images resampled back up to the network's input size")
               + f"; {len(result.runs)} model(s), {result.seconds:.0f} s. Lab `{result.lab_id}`.")
    if not result.totv and not result.tvtv:
        st.info("No results yet.")
        return
    st.subheader("Accuracy, precision and F1")
    show_percent(metrics_frame(result), hide_index=True)
    cols = st.columns(3)
    for col, metric in zip(cols, ("accuracy", "precision", "f1")):
        with col:
            st.altair_chart(metric_chart(result, metric), width="stretch")

    st.subheader("Per class")
    show_percent(per_class_frame(result), hide_index=False)
    st.altair_chart(per_class_heatmap(result), width="stretch")

    st.subheader("The images at each resolution")
    render_samples(result)

    st.subheader("Training curves")
    tabs = st.tabs([run["label"] for run in result.runs]) if result.runs else []
    for tab, run in zip(tabs, result.runs):
        with tab:
            history = load_history(run["run_dir"])
            render_curves(history.get("epochs", []), history.get("steps", []))
            st.caption(f"Run folder: `{run['run_dir']}`")


# --- settings and the job ------------------------------------------------------------------------------
def lab_settings() -> tuple[ResolutionLabConfig, str]:
    cols = st.columns([2, 1, 1])
    resolutions = cols[0].multiselect("Resolutions (px)", RESOLUTION_CHOICES, default=[32, 16, 8],
                                      key=f"{K}_resolutions",
                                      help="The dataset's own size is the TOTV model's; the others are made by "
                                           "downsampling.")
    mode = cols[1].selectbox("Downsampling filter", RESIZE_MODES, key=f"{K}_mode",
                             help="area averages pixel blocks (like shrinking a photo); nearest drops pixels.")
    native_size = cols[2].checkbox("Native size", value=False, key=f"{K}_native_size",
                                   help="Feed the small images directly instead of resampling them back up; only "
                                        "for networks that end in global pooling (e.g. resnet_small).")
    st.markdown("**Training settings**, shared by every model of the lab")
    st.caption("The lab sets each model's train and test resolution, filter and resampling itself; of the "
               "Resolution section below only the network input size is used.")
    base = training_settings(K, DEFAULTS)
    config = ResolutionLabConfig(base=base.to_dict(), resolutions=[int(r) for r in resolutions], mode=mode,
                                 native_size=bool(native_size), name=base.name)
    return config, base.device


def preview_resolutions(config: ResolutionLabConfig) -> None:
    """What the lab compares, before it runs: one test image per class at each chosen resolution."""
    dataset = config.train_config().dataset
    try:
        images = sample_images(dataset)
        strips = dict(resolution_strip(images, config.sorted_resolutions(), mode=config.mode, target=48))
    except (ValueError, FileNotFoundError, OSError):
        return
    for res, strip in strips.items():
        show_pixels(strip, caption=f"{dataset} test images at {res}×{res} px")


def plan_text(config: ResolutionLabConfig) -> str:
    """What the lab will train, in one line (or why it cannot run)."""
    try:
        return config.plan().text()
    except ValueError as exc:
        return str(exc)


def submit_lab(config: ResolutionLabConfig, device: str) -> None:
    config.validate()
    device_name = str(resolve_device(device))
    base = config.train_config()

    def job(context):
        return run_resolution_lab(config, on_progress=context.progress, cancel_event=context.cancel_event,
                                  owner=owner)

    res = "/".join(map(str, sorted(config.resolutions, reverse=True)))
    job_id = manager.submit(job, label=f"Resolution lab: {base.model_label()} on {base.dataset} at {res} px",
                            device=device_name, group="resolution-lab",
                            # the class gate checks the lab's kind and its training settings (each run is one)
                            meta={"resolutions": config.resolutions, "kind": "lab", "config": base.to_dict()},
                            owner=owner, teacher=is_teacher())
    st.session_state[JOBS].append(job_id)


def lab_progress(snap: JobSnapshot) -> tuple[float, str]:
    """The lab's bar: the whole lab's fraction (the lab reports it) and which model trains."""
    if snap.status == "queued":
        return 0.0, snap.progress_text
    stage, stages = snap.meta.get("lab_stage"), snap.meta.get("lab_stages")
    head = f"Model {stage}/{stages}: {snap.meta.get('lab_model', '')}" if stage else "Starting"
    return float(snap.meta.get("lab_fraction") or 0.0), f"{head} — {snap.message or snap.phase}"


def lab_details(snaps: list[JobSnapshot]) -> None:
    """Under the bar: the training model's curves and the rows the lab has finished so far."""
    snap = snaps[0]
    rows = [r for r in snap.history if r.get("model") == snap.meta.get("lab_model", "")]
    if rows:
        render_live_curves(rows, [])
    lab_dir = snap.meta.get("lab_dir")
    if lab_dir:
        try:
            partial = load_lab(lab_dir)
        except FileNotFoundError:
            partial = None
        if partial is not None and (partial.totv or partial.tvtv):
            st.caption("Rows finished so far:")
            show_percent(metrics_frame(partial), hide_index=True)


def open_finished_lab(snaps: list[JobSnapshot]) -> None:
    """Once per lab job: the results section below opens its lab."""
    snap = snaps[0]
    lab_id = getattr(snap.result, "lab_id", None) or snap.meta.get("lab_id")
    if lab_id:
        st.session_state[OPEN] = lab_id
        st.session_state.pop(f"{K}_pick", None)
    saved_labs.clear()


def live_panel() -> None:
    jobs = st.session_state[JOBS]
    if not jobs:
        return
    snaps = follow_jobs(jobs[-1:], key=K, stop_label="Stop the lab", describe=lab_progress, details=lab_details,
                        on_finish=open_finished_lab)
    snap = snaps[0] if snaps else None
    if snap is None or not snap.finished:
        return
    if snap.status == "failed":
        st.error(f"The lab failed: {(snap.error or 'unknown error').strip().splitlines()[0]}")
    elif snap.status == "cancelled":
        st.warning("The lab was stopped; the rows finished before the stop are kept.")


st.subheader("Run a lab")
config, device = lab_settings()
running = any(not s.finished for s in followed_snapshots(st.session_state[JOBS]))
st.caption(plan_text(config))
preview_resolutions(config)
estimate_button(f"{K}_estimate", lambda: estimate_lab(config, device, measure=cached_measure), what="the whole lab")
if st.button("Run the lab", type="primary", key=f"{K}_run", disabled=running,
             help="Trains the TOTV model, then one TVTV model per lower resolution, in the background."):
    try:
        submit_lab(config, device)
    except ValueError as exc:
        st.error(str(exc))
    else:
        st.rerun()
live_panel()

st.subheader("Results")
labs = saved_labs()
if not labs:
    st.info("No saved labs yet: run one above. Finished labs are kept and reopen here without retraining.")
else:
    ids = [lab["lab_id"] for lab in labs]
    wanted = st.session_state.get(OPEN)
    index = ids.index(wanted) if wanted in ids else 0
    by_id = {lab["lab_id"]: lab for lab in labs}
    picked = st.selectbox("Saved lab", ids, index=index, key=f"{K}_pick", format_func=lambda i: lab_label(by_id[i]))
    st.session_state[OPEN] = picked
    try:
        render_lab(load_lab(picked))
    except (FileNotFoundError, ValueError) as exc:
        st.error(f"This lab cannot be opened: {exc}")
