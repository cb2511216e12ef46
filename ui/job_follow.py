"""Following background jobs live: the one component every page that queues jobs uses.

The job manager's worker threads never touch Streamlit. Here a fragment polls snapshots (copies) every
POLL_SECONDS, draws progress bars, a Stop button and the live curves (rebuilt from the snapshot, long
histories decimated), and reruns the whole page once when the followed jobs have all finished, so the
page draws their results with everything else.

    follow_jobs([job_id], key="tr")              # one job: header, bar, facts, curves
    follow_jobs(group=group, key="tl", details=show_table)   # a group: overall bar and one line per job
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Optional, Sequence

import streamlit as st

from cnnkit.classroom import may_cancel
from cnnkit.classroom.permissions import STOPPED_BY_TEACHER
from cnnkit.jobs import JobSnapshot, get_job_manager
from ui.identity import current_owner, is_teacher
from cnnkit.train.report import decimate
from ui.run_views import render_curves
from ui.text import plain

POLL_SECONDS = 1.0
MAX_CURVE_POINTS = 400  # per chart: a long run's curves stay light to redraw every second
MAX_CACHED_CHARTS = 256  # live charts kept for reuse, across sessions (a class watching 30 runs: 4 each)

Describe = Callable[[JobSnapshot], tuple[float, str]]       # one job -> (fraction 0..1, text)
Details = Callable[[list[JobSnapshot]], None]             # draws more under the bars (tables, charts)
OnFinish = Callable[[list[JobSnapshot]], None]            # once, when the last followed job has finished


def describe_job(snap: JobSnapshot) -> tuple[float, str]:
    """The default bar of one job: how much of it is done and where it is."""
    return snap.progress, snap.progress_text


def followed_snapshots(job_ids: Sequence[str] = (), group: Optional[str] = None) -> list[JobSnapshot]:
    """Snapshots of the jobs the manager still knows (an app restart forgets them), in queue order."""
    manager = get_job_manager()
    if group is not None:
        return manager.list(group=group)
    snaps = []
    for job_id in job_ids:
        try:
            snaps.append(manager.snapshot(job_id))
        except KeyError:
            pass
    return snaps


def follow_jobs(job_ids: Sequence[str] = (), *, group: Optional[str] = None, key: str, stop_label: str = "Stop",
                stop_help: Optional[str] = None, describe: Describe = describe_job, details: Optional[Details] = None,
                on_finish: Optional[OnFinish] = None) -> list[JobSnapshot]:
    """Follow `job_ids` (or every job of `group`) live until they have all finished.

    While any runs: progress bars, a Stop button (key `{key}_stop`, stops them all) and `details(snapshots)`
    (default for one job: its live curves). When the last one finishes, `on_finish(snapshots)` is called once
    and the page reruns once (not when they had finished before this page run: the page draws the results
    below anyway). Returns the snapshots as this page run saw them."""
    snaps = followed_snapshots(job_ids, group)
    token = _token(job_ids, group)
    if snaps and all(s.finished for s in snaps) and token not in _seen(key):
        # Finished before this full run: no rerun needed, the page below draws the results.
        _seen(key).append(token)
        if on_finish is not None:
            on_finish(snaps)
    _live_panel(tuple(job_ids), group, key, stop_label, stop_help, describe, details, on_finish)
    return snaps


@st.fragment(run_every=POLL_SECONDS)
def _live_panel(job_ids: tuple[str, ...], group: Optional[str], key: str, stop_label: str,
                stop_help: Optional[str], describe: Describe, details: Optional[Details],
                on_finish: Optional[OnFinish]) -> None:
    snaps = followed_snapshots(job_ids, group)
    if not snaps:
        if job_ids or group:
            st.caption("These runs are no longer in the job list (the app restarted).")
        return
    if all(s.finished for s in snaps):
        token = _token(job_ids, group)
        if token not in _seen(key):
            _seen(key).append(token)
            if on_finish is not None:
                on_finish(snaps)
            st.rerun(scope="app")  # the page draws the results; a fragment rerun cannot
        return
    if len(snaps) == 1:
        _one_job(snaps[0], describe)
    else:
        _several_jobs(snaps, describe)
    owner, teacher = current_owner(), is_teacher()
    stoppable = [s for s in snaps if not s.finished and may_cancel(s, owner, teacher)]
    if not stoppable:
        st.caption("Only its owner or the teacher can stop it.")
    elif st.button(stop_label, key=f"{key}_stop", help=stop_help):
        manager = get_job_manager()
        for snap in stoppable:
            manager.cancel(snap.job_id, by=owner, teacher=teacher)
        st.toast("Stopping…")
    if details is not None:
        details(snaps)
    elif len(snaps) == 1 and (snaps[0].history or snaps[0].steps):
        render_live_curves(snaps[0].history, snaps[0].steps, job_id=snaps[0].job_id)


# (job id, chart, len(history), len(steps)) -> chart. The panel reruns every second but a job's epoch
# rows change once an epoch: those charts are reused, not rebuilt (every tab watching the job shares them).
_CHARTS: "OrderedDict[tuple, object]" = OrderedDict()
_CHARTS_LOCK = threading.Lock()  # every session's script thread shares the cache


def _cached_builder(job_id: str, history_len: int, steps_len: int):
    def build(name: str, make):
        depends_on = name.split(":")[0]
        key = (job_id, name, history_len if depends_on in ("epochs", "both") else None,
               steps_len if depends_on in ("steps", "both") else None)
        with _CHARTS_LOCK:
            if key in _CHARTS:
                _CHARTS.move_to_end(key)
                return _CHARTS[key]
        chart = make()
        with _CHARTS_LOCK:
            # The older versions of this chart will not be asked for again.
            for old in [k for k in _CHARTS if k[:2] == (job_id, name)]:
                del _CHARTS[old]
            _CHARTS[key] = chart
            while len(_CHARTS) > MAX_CACHED_CHARTS:
                _CHARTS.popitem(last=False)
        return chart
    return build


def render_live_curves(history: Sequence[dict], steps: Sequence[dict], job_id: Optional[str] = None) -> None:
    """A running job's curves, from its snapshot, at most MAX_CURVE_POINTS points each. With `job_id`, a
    chart whose data did not change since the last call is reused (the panel reruns every second)."""
    if job_id is None:
        render_curves(decimate(history, MAX_CURVE_POINTS), decimate(steps, MAX_CURVE_POINTS))
        return
    render_curves(decimate(history, MAX_CURVE_POINTS), decimate(steps, MAX_CURVE_POINTS),
                  build=_cached_builder(job_id, len(history), len(steps)))


def _one_job(snap: JobSnapshot, describe: Describe) -> None:
    fraction, text = describe(snap)
    st.markdown(f"**{plain(snap.label)}** · {status_text(snap)}")
    st.progress(_clip(fraction), text=plain(text))   # the bar's text renders markdown: a label is plain text
    facts = []
    if snap.meta.get("trainable_params"):
        facts.append(f"{snap.meta['trainable_params']:,} trainable parameters")
    facts.extend(plain(note) for note in snap.meta.get("notes") or [])
    if facts:
        st.caption(" · ".join(facts))


def _several_jobs(snaps: list[JobSnapshot], describe: Describe) -> None:
    done = sum(s.finished for s in snaps)
    # finished runs count whole, whether they finished, failed or were stopped
    overall = sum(1.0 if s.finished else _clip(describe(s)[0]) for s in snaps) / len(snaps)
    st.progress(_clip(overall), text=f"{done}/{len(snaps)} runs finished")
    for snap in snaps:
        if snap.finished:
            st.caption(f"**{plain(snap.label)}**: {status_text(snap)}")
        elif snap.status == "queued":
            st.caption(f"**{plain(snap.label)}**: queued (position {snap.queue_position})")
        else:
            fraction, text = describe(snap)
            st.progress(_clip(fraction), text=f"{plain(snap.label)}: {plain(text)}")


def status_text(snap: JobSnapshot) -> str:
    """A job's status for its student: "stopped by the teacher" rather than a bare "cancelled"."""
    if snap.status == "cancelled" and (snap.message or "").startswith(STOPPED_BY_TEACHER):
        return STOPPED_BY_TEACHER
    return snap.status


def _clip(fraction: Optional[float]) -> float:
    return min(1.0, max(0.0, float(fraction or 0.0)))


def _token(job_ids: Sequence[str], group: Optional[str]) -> str:
    return f"group:{group}" if group is not None else ",".join(job_ids)


def _seen(key: str) -> list[str]:
    """The followed sets this session has already rerun the page for (one rerun each)."""
    return st.session_state.setdefault(f"{key}_followed_finished", [])


__all__ = ["MAX_CURVE_POINTS", "POLL_SECONDS", "describe_job", "follow_jobs", "followed_snapshots",
           "render_live_curves"]
