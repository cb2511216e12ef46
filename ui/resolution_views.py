"""The Resolution lab's results: tables and charts of a finished lab (TOTV against TVTV, per metric and per
class), its sample images at each resolution and its training curves (moved out of pages/resolution_lab.py,
which stays a thin page). Pure where it can be: result in, frame or chart out."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit.data.preview import make_grid, resolution_strip, sample_indices_per_class, upscale_nearest
from cnnkit.labs import ResolutionLabResult, network_views
from cnnkit.store import load_history
from ui.images import show_pixels
from ui.run_views import render_curves

METRIC_NAMES = ("accuracy", "precision", "recall", "f1")
METHOD_COLOURS = alt.Scale(domain=["TOTV", "TVTV"], range=["#d62728", "#1f77b4"])


@st.cache_resource(max_entries=2, show_spinner="Loading sample images…")
def sample_images(dataset: str):
    """One test image per class (uint8 NCHW), or None when the dataset cannot be loaded."""
    from cnnkit.data import load_dataset

    data = load_dataset(dataset)
    picks = [idx[0] for idx in sample_indices_per_class(data.test_y, len(data.classes), 1, seed=0) if idx][:10]
    return data.test_x[picks].clone()



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


def render_lab(result: ResolutionLabResult, say_status: bool = True) -> None:
    """The lab's tables and charts; say_status: warn first when it is not done (off where the page says it)."""
    if result.status != "done" and say_status:
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
