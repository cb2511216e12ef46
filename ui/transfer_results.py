"""The Transfer learning page's runs: queue one run per strategy (all or none, through the class gate), follow
them live and compare them (curves, table, accuracy and time bars), then one run's full evaluation (moved out of
pages/transfer_learning.py, which stays a thin page)."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit.classroom import gate
from cnnkit.jobs import JobManager, new_group_id
from cnnkit.train import TrainConfig
from cnnkit.transfer import builder
from ui.identity import actor, class_config
from ui.job_follow import follow_jobs
from ui.run_views import render_overlays, render_run_results


def queue(manager: JobManager, configs: list[tuple[str, TrainConfig]], K: str, groups_key: str) -> None:
    """Queue every strategy's run as this session's owner, or none: the class gate checks each one first (and
    the job manager again as it queues it)."""
    who = actor()
    for _, config in configs:
        gate.check("transfer", who, class_config(), training=config)
    group = new_group_id(builder.GROUP_PREFIX)
    for label, config in configs:
        manager.submit_training(config, label=label, group=group, owner=who.owner, teacher=who.teacher,
                                kind="transfer")
    st.session_state[groups_key].append(group)
    st.session_state[f"{K}_group_pick"] = group


def live_comparison(snaps) -> None:
    show_comparison(snaps, live=True)


def show_comparison(snaps, live: bool = False) -> None:
    rows = builder.comparison_rows(snaps)
    histories = [(s.label, s.history) for s in snaps if s.history]
    if histories:
        render_overlays(histories, ("accuracy", "loss"))
    frame = pd.DataFrame(rows).drop(columns=["run_dir", "error"])
    st.dataframe(frame, hide_index=True, width="stretch", column_config={
        "test acc": st.column_config.NumberColumn(format="%.3f"),
        "best val acc": st.column_config.NumberColumn(format="%.3f"),
        "s/epoch": st.column_config.NumberColumn(format="%.1f"),
        "trainable": st.column_config.NumberColumn(format="localized"),
        "frozen": st.column_config.NumberColumn(format="localized")})
    scored = [r for r in rows if r["test acc"] is not None]
    if len(scored) > 1 and not live:
        data = pd.DataFrame([{"strategy": r["strategy"], "test accuracy": r["test acc"],
                              "seconds per epoch": r["s/epoch"]} for r in scored])
        cols = st.columns(2)
        for col, field, scale in ((cols[0], "test accuracy", alt.Scale(domain=[0, 1])),
                                  (cols[1], "seconds per epoch", alt.Scale(zero=True))):
            chart = alt.Chart(data).mark_bar().encode(
                x=alt.X("strategy:N", sort=None, title=None), y=alt.Y(f"{field}:Q", scale=scale),
                tooltip=["strategy:N", alt.Tooltip(f"{field}:Q", format=".3f")]).properties(title=field, height=260)
            col.altair_chart(chart, width="stretch")
    for row in rows:
        if row["error"]:
            st.error(f"{row['strategy']}: {row['error']}")


def results_section(manager: JobManager, K: str, groups_key: str) -> None:
    groups = [g for g in st.session_state[groups_key] if manager.list(group=g)]
    if not groups:
        st.caption("No transfer runs in this session yet.")
        return
    if st.session_state.get(f"{K}_group_pick") not in groups:
        st.session_state.pop(f"{K}_group_pick", None)
    group = st.selectbox("Runs", groups[::-1], key=f"{K}_group_pick",
                         format_func=lambda g: ", ".join(s.label for s in manager.list(group=g)))
    snaps = follow_jobs(group=group, key=K, stop_label="Stop these runs", details=live_comparison)
    if not all(s.finished for s in snaps):
        return  # followed live above; the page reruns once when they have all finished
    show_comparison(snaps)
    finished = [s for s in snaps if s.run_dir and (Path(s.run_dir) / "run.json").is_file()]
    if finished:
        st.subheader("Full evaluation")
        labels = {s.run_dir: s.label for s in finished}
        run_dir = st.selectbox("Run", list(labels), format_func=labels.get, key=f"{K}_detail_pick")
        render_run_results(run_dir, key=f"{K}_detail")
