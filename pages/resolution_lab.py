"""Resolution lab: TOTV (train on the original resolution, test on various) against TVTV (train and test on
each resolution). The whole lab runs as one background job; finished labs reopen from disk."""

from __future__ import annotations

import streamlit as st

from cnnkit.data.preview import resolution_strip
from cnnkit.data.resolution import RESIZE_MODES
from cnnkit.device import resolve_device
from cnnkit.jobs import JobSnapshot, get_job_manager
from cnnkit.labs import (ResolutionLabConfig, estimate_lab, lab_is_training, list_labs, load_lab,
                         run_resolution_lab, submit_lab_resume)
from cnnkit.labs.resolution import default_lab_training
from ui.estimates import cached_measure, estimate_button
from ui.identity import current_owner, is_teacher
from ui.images import show_pixels
from ui.job_follow import follow_jobs, followed_snapshots, render_live_curves
from ui.resolution_views import metrics_frame, render_lab, sample_images, show_percent
from ui.shell import ensure_app_shell
from ui.text import escape_markdown
from ui.train_settings import training_settings

ensure_app_shell()

K = "rl"                        # widget key prefix
JOBS = "rl_jobs"                # this session's lab jobs, oldest first
OPEN = "rl_open_lab"            # the lab id shown in the results section
RESOLUTION_CHOICES = (64, 48, 32, 28, 24, 16, 14, 12, 8, 7, 4)
DEFAULTS = default_lab_training()

manager = get_job_manager()
owner = current_owner()
st.session_state.setdefault(JOBS, [])

st.title("Resolution lab")
st.caption("**TOTV** (train original, test various): one model trained at the dataset's own resolution, then tested on "
           "the test images shrunk to each resolution. **TVTV** (train various, test various): one model per "
           "resolution, trained and tested at it. How much of the accuracy lost at low resolution is the image, "
           "and how much is a network that never saw such images?")


# --- saved labs ------------------------------------------------------------------------------------
@st.cache_data(ttl=5, show_spinner=False)
def saved_labs() -> list[dict]:
    """The saved resolution labs, damaged ones included (opening one says why it cannot be shown)."""
    return [lab.to_dict() for lab in list_labs(kind="resolution")]


def lab_label(lab: dict) -> str:
    import time

    when = time.strftime("%d %b %H:%M", time.localtime(lab["created"]))
    status = "" if lab["status"] == "done" else f" ({lab['status']})"
    return f"{when} · {lab['title']}{status}"


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
        lab = load_lab(picked)
    except (FileNotFoundError, ValueError) as exc:
        st.error(f"This lab cannot be opened: {exc}")
    else:
        going_on = any(snap.meta.get("lab_id") == picked for snap in manager.active())
        elsewhere = lab.status != "done" and not going_on and lab_is_training(lab)
        stopped = lab.status != "done" and not going_on and not elsewhere
        if elsewhere:
            st.info("This lab is training in another process (another app or a shell): its rows appear here as its "
                    "models finish.")
        if stopped:
            why = f": {lab.message}" if lab.status == "failed" and lab.message else ""
            st.info(escape_markdown(f"This lab ended before its last model ({lab.status}{why}). The rows below are "
                                    "the models it finished; going on trains the rest, and the model it was "
                                    "training goes on after its last finished epoch."))
            if st.button("Go on with this lab", key=f"{K}_resume", disabled=running):
                try:
                    st.session_state[JOBS].append(submit_lab_resume(picked, manager, by=owner,
                                                                    teacher=is_teacher()))
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    st.rerun()
        render_lab(lab, say_status=not (stopped or elsewhere))
