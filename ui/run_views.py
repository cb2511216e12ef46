"""Streamlit views of training runs: live/finished curves and the full evaluation of a finished run.

Data shaping lives in cnnkit.train.report; this module only builds Altair charts and widgets.
Every widget key starts with the caller's `key`, so several views can share one page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit import store
from cnnkit.train import report
from ui.charts import CLASS_PALETTE, show_chart
from ui.export_buttons import render_export_buttons
from ui.text import plain

SPLIT_COLOURS = alt.Scale(domain=["train", "validation"], range=["#1f77b4", "#ff7f0e"])


# --- charts (pure: data in, Altair chart out) --------------------------------------------------
def epoch_axis(epochs: Sequence[float]) -> alt.Axis:
    """Whole-number epoch ticks, every epoch up to 12 and an even step beyond (Vega's own ticks left a
    single "5" under 8 epochs in a half-width chart)."""
    last = int(max(epochs, default=1))
    step = max(1, -(-last // 12))
    return alt.Axis(values=list(range(step if step > 1 else 1, last + 1, step)), format="d", labelFlush=False)


def epoch_chart(history: Sequence[dict], metric: str, title: str) -> Optional[alt.Chart]:
    rows = [r for r in report.epoch_curves(history) if r["metric"] == metric]
    if not rows:
        return None
    return alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=epoch_axis([r["epoch"] for r in rows])),
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
        color=alt.Color("split:N", scale=SPLIT_COLOURS, title=None),
        tooltip=["epoch:Q", "split:N", alt.Tooltip("value:Q", format=".4f")],
    ).properties(title=title, height=240)


def step_loss_chart(steps: Sequence[dict]) -> Optional[alt.Chart]:
    rows = report.step_points(steps)
    if not rows:
        return None
    return alt.Chart(pd.DataFrame(rows)).mark_line(opacity=0.8, color="#7f7f7f", point=len(rows) < 3).encode(
        x=alt.X("epoch:Q", title="epoch"), y=alt.Y("loss:Q", title="training loss", scale=alt.Scale(zero=False)),
        tooltip=["step:Q", alt.Tooltip("loss:Q", format=".4f")],
    ).properties(title="Training loss every few steps", height=240)


def lr_chart(history: Sequence[dict], steps: Sequence[dict]) -> Optional[alt.Chart]:
    rows = report.lr_curve(history, steps)
    if not rows:
        return None
    return alt.Chart(pd.DataFrame(rows)).mark_line(color="#2ca02c", point=len(rows) < 3).encode(
        x=alt.X("epoch:Q", title="epoch"), y=alt.Y("lr:Q", title="learning rate"),
        tooltip=[alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("lr:Q", format=".2e")],
    ).properties(title="Learning rate", height=240)


def grad_chart(history: Sequence[dict]) -> Optional[alt.Chart]:
    rows = report.grad_rows(history)
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    order = frame.drop_duplicates("layer").sort_values("order")["layer"].tolist()
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=epoch_axis(frame["epoch"].tolist())),
        y=alt.Y("grad:Q", title="mean |gradient| of weights", scale=alt.Scale(type="log")),
        color=alt.Color("layer:N", sort=order, title="layer (input first)"),
        tooltip=["layer:N", "epoch:Q", alt.Tooltip("grad:Q", format=".2e")],
    ).properties(title="Gradient magnitude per layer (log scale): vanishing gradients show as a gap", height=280)


CELL_SELECTION = "cell"


def confusion_chart(confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> alt.Chart:
    """Heatmap with counts; clicking a cell selects it (selection "cell" with fields true, predicted)."""
    frame = pd.DataFrame(report.confusion_rows(confusion, classes))
    base = alt.Chart(frame).encode(
        # labelOverlap off: Vega would otherwise drop every other class name when they crowd (10 classes).
        x=alt.X("predicted:N", sort=list(classes), title="predicted",
                axis=alt.Axis(labelOverlap=False, labelAngle=-45, labelLimit=120)),
        y=alt.Y("true:N", sort=list(classes), title="true", axis=alt.Axis(labelOverlap=False, labelLimit=120)))
    pick = alt.selection_point(name=CELL_SELECTION, fields=["true", "predicted"], on="click", clear=False,
                              empty=False)
    cells = base.mark_rect(stroke="#333").encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="share of true class"),
        strokeWidth=alt.condition(pick, alt.value(2), alt.value(0)),
        tooltip=["true:N", "predicted:N", "count:Q", alt.Tooltip("share:Q", format=".1%")]).add_params(pick)
    text = base.mark_text(fontSize=11).encode(
        text="count:Q", color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("black")))
    return (cells + text).properties(title="Confusion matrix (rows: true class)", height=max(260, 36 * len(classes)))


def roc_chart(roc: Sequence[dict]) -> Optional[alt.Chart]:
    rows = report.roc_rows(roc)
    if not rows:
        return None
    curves = alt.Chart(pd.DataFrame(rows)).mark_line().encode(
        x=alt.X("fpr:Q", title="false positive rate"), y=alt.Y("tpr:Q", title="true positive rate"),
        color=alt.Color("label:N", title="class (AUC)", scale=alt.Scale(range=CLASS_PALETTE)),
        tooltip=["label:N", "fpr:Q", "tpr:Q"])
    diagonal = alt.Chart(pd.DataFrame({"fpr": [0, 1], "tpr": [0, 1]})).mark_line(
        strokeDash=[4, 4], color="#999").encode(x="fpr:Q", y="tpr:Q")
    return (diagonal + curves).properties(title="ROC curves, one class against the rest", height=360)


def overlay_chart(rows: Sequence[dict], metric: str) -> Optional[alt.Chart]:
    rows = [r for r in rows if r["metric"] == metric]
    if not rows:
        return None
    return alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=alt.X("epoch:Q", axis=epoch_axis([r["epoch"] for r in rows])),
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", title="run"), strokeDash=alt.StrokeDash("split:N", title=None),
        tooltip=["run:N", "split:N", "epoch:Q", alt.Tooltip("value:Q", format=".4f")],
    ).properties(title=f"{metric.capitalize()}: solid train, dashed validation", height=300)


def render_overlays(histories: Sequence[tuple[str, Sequence[dict]]],
                    metrics: Sequence[str] = ("loss", "accuracy")) -> None:
    """Several runs' curves overlaid, one chart per metric side by side. histories: (label, epoch rows)."""
    rows = report.overlay_curves(list(histories))
    for col, metric in zip(st.columns(len(metrics)), metrics):
        with col:
            _show(overlay_chart(rows, metric))


def _show(chart: Optional[alt.Chart], empty: str = "") -> None:
    if chart is not None:
        show_chart(chart)  # its numbers as a table too: a screen reader cannot read a chart
    elif empty:
        st.caption(empty)


# A chart builder: (which chart: "epochs" or "steps" or "both", how to build it) -> the chart. The live panel
# passes one that reuses charts whose data did not change (ui/job_follow.py).
ChartBuilder = Callable[[str, Callable[[], Optional[alt.Chart]]], Optional[alt.Chart]]


def _build_now(depends_on: str, build: Callable[[], Optional[alt.Chart]]) -> Optional[alt.Chart]:
    return build()


def render_curves(history: Sequence[dict], steps: Sequence[dict], build: ChartBuilder = _build_now) -> None:
    """Loss and accuracy (train vs validation), learning rate and the step-loss points, two per row."""
    top = st.columns(2)
    with top[0]:
        _show(build("epochs:loss", lambda: epoch_chart(history, "loss", "Loss per epoch")),
              "Loss per epoch: after the first epoch.")
    with top[1]:
        _show(build("epochs:accuracy", lambda: epoch_chart(history, "accuracy", "Accuracy per epoch")),
              "Accuracy per epoch: after the first epoch.")
    bottom = st.columns(2)
    with bottom[0]:
        _show(build("steps:loss", lambda: step_loss_chart(steps)), "Training-loss points appear every few steps.")
    with bottom[1]:
        _show(build("both:lr", lambda: lr_chart(history, steps)))


# --- test images -------------------------------------------------------------------------------
@st.cache_resource(max_entries=2, show_spinner="Loading the test images…")
def _test_images(dataset: str):
    from cnnkit.data import load_dataset

    return load_dataset(dataset).test_x


def test_images(dataset: str):
    """The dataset's test images (uint8 NCHW), or None with a caption when they cannot be loaded."""
    try:
        return _test_images(dataset)
    except (ValueError, FileNotFoundError, OSError) as exc:
        st.caption(f"The test images of {dataset} cannot be shown: {exc}")
        return None


def _gallery(images: list, captions: list[str]) -> None:
    if not images:
        return
    # One image list: Streamlit wraps the tiles to the column's width (fixed columns let 96 px tiles overlap
    # in a half-width column). PNG at its own pixel size keeps the nearest-neighbour upscaling crisp.
    st.image(images, caption=captions, output_format="PNG", width=int(images[0].shape[1]))


# --- the full evaluation -----------------------------------------------------------------------
def render_run_results(run_dir: str | Path, key: str, cards_per_row: int = 3) -> None:
    """Metric cards, per-class table, confusion matrix with drill-down, ROC, mistakes, gradients and
    curves of one saved run. cards_per_row=2 in a half-width column, where "3 min 20 s" does not fit a third."""
    try:
        record = store.load_run(Path(run_dir))
    except (FileNotFoundError, ValueError) as exc:
        st.error(str(exc))
        return
    render_export_buttons(run_dir, key=f"{key}_export")
    meta = store.read_json(Path(run_dir) / "run.json", {}) or {}
    history_data = store.load_history(run_dir)
    history, steps = history_data.get("epochs", []), history_data.get("steps", [])
    results = store.load_results(run_dir)

    cards = report.metric_cards(results, meta, history)
    columns = [column for _ in range(0, len(cards), cards_per_row) for column in st.columns(cards_per_row)]
    for col, (label, value, help_text) in zip(columns, cards):
        col.metric(label, value, help=help_text, border=True)
    if record.message:
        st.caption(plain(record.message))
    for note in meta.get("notes") or []:  # imported runs carry their author's notes: shown as text
        st.caption(f"Note: {plain(note)}")

    tabs = st.tabs(["Curves", "Per class", "Confusion matrix", "ROC", "Mistakes", "Gradients"])
    with tabs[0]:
        render_curves(history, steps)
    with tabs[5]:
        _show(grad_chart(history), "No gradient figures recorded.")
    if results is None:
        for tab in tabs[1:5]:
            with tab:
                st.info("This run has no test evaluation (it was stopped before it finished); "
                        "resume it from the Runs list to evaluate it.")
        return
    classes = results["classes"]
    with tabs[1]:
        table = pd.DataFrame(report.per_class_rows(results))
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            c: st.column_config.NumberColumn(c, format="%.3f") for c in ("precision", "recall", "f1", "auc")})
        st.caption(f"Macro precision {results['macro_precision']:.3f} · macro recall {results['macro_recall']:.3f} · "
                   f"macro F1 {results['macro_f1']:.3f} on {results['num_test']:,} test images.")
    with tabs[2]:
        _confusion_section(record, results, classes, key)
    with tabs[3]:
        _show(roc_chart(results.get("roc", [])), "No ROC curves (a class is missing from the test split).")
    with tabs[4]:
        mistakes = results.get("mistakes", [])
        if not mistakes:
            st.success("No mistakes on the test split.")
        else:
            test_x = test_images(record.dataset)
            if test_x is not None:
                try:
                    images, captions = report.mistake_images(test_x, mistakes, limit=24, target=96)
                except ValueError as exc:
                    st.error(str(exc))
                else:
                    st.caption("The most confident mistakes: true → predicted (confidence).")
                    _gallery(images, captions)


def _picked_cell(event, classes: list[str]) -> tuple[int, int] | None:
    """(true, predicted) indices of the heatmap cell clicked in the browser, if any."""
    try:
        points = event.selection[CELL_SELECTION]
    except (AttributeError, KeyError, TypeError):
        return None
    if not points:
        return None
    point = points[0]
    if point.get("true") in classes and point.get("predicted") in classes:
        return classes.index(point["true"]), classes.index(point["predicted"])
    return None


def _confusion_section(record, results: dict, classes: list[str], key: str) -> None:
    # Keys carry the run id: another run opens on its own most common mistake.
    base = f"{key}_{record.run_id}"
    true_key, pred_key, chart_key = f"{base}_cm_true", f"{base}_cm_pred", f"{base}_cm_chart"
    event = st.altair_chart(confusion_chart(results["confusion"], classes), width="stretch", key=chart_key,
                            on_select="rerun", selection_mode=CELL_SELECTION)
    predictions = store.load_predictions(record.run_dir)
    if predictions is None:
        st.caption("No per-image predictions saved for this run.")
        return
    if true_key not in st.session_state:
        st.session_state[true_key], st.session_state[pred_key] = report.worst_confusion(results["confusion"])
    picked = _picked_cell(event, classes)
    if picked is not None and picked != st.session_state.get(f"{base}_cm_last_pick"):
        # A new click on the heatmap moves the two selectors (they stay usable on their own).
        st.session_state[f"{base}_cm_last_pick"] = picked
        st.session_state[true_key], st.session_state[pred_key] = picked
    st.markdown("**Images in one cell**: click a cell of the matrix, or choose the classes "
                "(it opens on the most common mistake)")
    cols = st.columns(2)
    true_index = cols[0].selectbox("True class", range(len(classes)), format_func=lambda i: classes[i],
                                   key=true_key)
    pred_index = cols[1].selectbox("Predicted as", range(len(classes)), format_func=lambda i: classes[i],
                                   key=pred_key)
    test_x = test_images(record.dataset)
    if test_x is None:
        return
    try:
        images, captions, total = report.cell_images(test_x, predictions, int(true_index), int(pred_index), limit=24,
                                                      target=96)
    except ValueError as exc:
        st.error(str(exc))
        return
    if total == 0:
        st.caption(f"No test image of {classes[true_index]} was predicted as {classes[pred_index]}.")
        return
    shown = f" (the {len(images)} most confident shown)" if total > len(images) else ""
    st.caption(f"{total} test images of {classes[true_index]} predicted as {classes[pred_index]}{shown}.")
    _gallery(images, captions)


def render_network_preview(config) -> None:
    """Before a first run: the network the form would train, layer by layer (output shape, parameters,
    receptive field), so the page opens on something to look at. Preset and spec networks only."""
    import json

    preview = _network_preview(json.dumps(config.model, sort_keys=True), config.dataset, config.image_size)
    if preview is None:  # a transfer dict, an unknown dataset, a bad spec
        return
    total_params, table = preview
    st.markdown(f"**The network you are about to train:** {config.model_label()} on {config.dataset}, "
                f"{total_params:,} parameters")
    st.dataframe(table, hide_index=True, width="stretch")


@st.cache_data(max_entries=256, ttl=60, show_spinner=False)  # every new session opens on the same few networks
def _network_preview(model_json: str, dataset: str, image_size: Optional[int]) -> Optional[tuple[int, pd.DataFrame]]:
    """(parameters, the layer table) of a preset name or spec (as JSON) on `dataset`; None when it has none."""
    import json
    from dataclasses import replace

    from cnnkit.models import ModelSpec, get_preset, summarize, summary_table
    from ui.datasets import cached_datasets

    model = json.loads(model_json)
    try:
        spec = get_preset(model) if isinstance(model, str) else ModelSpec.from_dict(model)
        info = next(d for d in cached_datasets() if d.name == dataset)
        size = int(image_size or info.height)
        spec = replace(spec, input_shape=(int(info.channels), size, size), num_classes=len(info.classes))
        summary = summarize(spec)
    except (ValueError, KeyError, TypeError, StopIteration, AttributeError):
        return None
    columns = ["name", "layer", "details", "output", "params", "receptive field"]
    return summary.total_params, pd.DataFrame(summary_table(summary))[columns]
