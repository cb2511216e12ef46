"""Architecture builder: edit a layer stack with forms and sliders; live summary, errors, diagram,
export, and a hand-over to the training runner."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit.data import DatasetInfo
from cnnkit.models import (CATEGORY_COLOURS, LAYER_TYPES, PRESETS, ModelSpec, SpecError, diagram_blocks, export_code,
                           get_preset, summarize, summary_table)
from ui.builder import (LAYERS, SELECTED, add_layer, current_spec, keep_header_state, layer_editor, layer_labels,
                        load_spec_into_state, sync_params_from_widgets)
from ui.datasets import cached_datasets
from ui.shell import ensure_app_shell

ensure_app_shell()

EMPTY = "(empty)"
DEFAULT_PRESET = "cnn3"


def datasets() -> list[DatasetInfo]:
    return [d for d in cached_datasets() if d.channels and d.height and d.width and d.classes]


def open_preset() -> None:
    name = st.session_state["ab_preset"]
    if name == EMPTY:
        load_spec_into_state(ModelSpec("my_model", (st.session_state.get("ab_c", 3), st.session_state.get("ab_h", 32),
                                                    st.session_state.get("ab_w", 32)),
                                       st.session_state.get("ab_classes", 10), []))
    else:
        load_spec_into_state(get_preset(name))


def take_dataset_shape() -> None:
    name = st.session_state["ab_dataset"]
    info = next((d for d in datasets() if d.name == name), None)
    if info is not None:
        st.session_state["ab_c"], st.session_state["ab_h"], st.session_state["ab_w"] = info.channels, info.height, info.width
        st.session_state["ab_classes"] = len(info.classes)


def add_from_form() -> None:
    count = len(st.session_state[LAYERS])
    after_selected = st.session_state["ab_add_where"] == "after selected" and count
    add_layer(st.session_state["ab_add_type"], st.session_state.get(SELECTED, 0) + 1 if after_selected else count)


def load_uploaded_spec() -> None:
    upload = st.session_state.get("ab_upload")
    st.session_state.pop("ab_load_error", None)
    if upload is None:
        return
    try:
        loaded = ModelSpec.from_json(upload.getvalue())
    except SpecError as exc:
        st.session_state["ab_load_error"] = f"Could not load {upload.name}: {exc}"
    else:
        load_spec_into_state(loaded)


st.title("Architecture builder")
st.caption("Build a CNN layer by layer and see what every layer does to the shape and what it costs. "
           "The first Linear's input size is computed for you; the last Linear always outputs one score per class.")

keep_header_state()
if LAYERS not in st.session_state:
    st.session_state.setdefault("ab_preset", DEFAULT_PRESET)
    open_preset()
sync_params_from_widgets()

top = st.columns([2, 2, 3])
top[0].selectbox("Start from", [EMPTY] + list(PRESETS), key="ab_preset", on_change=open_preset,
                 help="Opening a preset replaces the layers you are editing.")
dataset_names = [d.name for d in datasets()]
top[1].selectbox("Shape from dataset", dataset_names, index=None, key="ab_dataset", on_change=take_dataset_shape,
                 placeholder="pick a dataset…", help="Sets the input shape and the number of classes.")
top[2].text_input("Model name", key="ab_name")

shape_cols = st.columns(4)
shape_cols[0].number_input("Channels", min_value=1, max_value=64, step=1, key="ab_c")
shape_cols[1].number_input("Height", min_value=1, max_value=1024, step=1, key="ab_h")
shape_cols[2].number_input("Width", min_value=1, max_value=1024, step=1, key="ab_w")
shape_cols[3].number_input("Classes", min_value=1, max_value=1000, step=1, key="ab_classes")

spec = current_spec()
layers = st.session_state[LAYERS]
last_linear = max((i for i, e in enumerate(layers) if e["type"] == "linear"), default=None)

try:
    summary, spec_error = summarize(spec), None
except SpecError as exc:
    summary, spec_error = None, exc

left, right = st.columns([2, 3])
with left:
    st.subheader("Layers")
    if layers:
        st.session_state[SELECTED] = min(st.session_state.get(SELECTED, 0), len(layers) - 1)
        labels = layer_labels(spec_error.layer_index if spec_error else None)
        st.radio("Layer to edit", list(range(len(layers))), format_func=lambda i: labels[i], key=SELECTED,
                 label_visibility="collapsed")
    else:
        st.info("No layers yet: add one below (e.g. Conv2d, ReLU, MaxPool2d, …, Flatten, Linear).")
    with st.form("ab_add_form", border=True):
        add_cols = st.columns(2)
        add_cols[0].selectbox("Layer type", list(LAYER_TYPES), format_func=lambda t: LAYER_TYPES[t].label,
                              key="ab_add_type")
        add_cols[1].selectbox("Where", ["after selected", "at the end"], key="ab_add_where")
        st.form_submit_button("Add layer", on_click=add_from_form, width="stretch")
with right:
    if layers:
        layer_editor(st.session_state[SELECTED], st.session_state[SELECTED] == last_linear, spec.num_classes)

st.divider()
st.subheader("Summary")
if spec_error is not None:
    st.error(str(spec_error))
if summary is not None:
    metrics = st.columns(5)
    metrics[0].metric("Parameters", f"{summary.total_params:,}")
    metrics[1].metric("Trainable", f"{summary.trainable_params:,}",
                      help=f"{summary.frozen_params:,} frozen" if summary.frozen_params else None)
    metrics[2].metric("Multiply-adds", f"{summary.mult_adds / 1e6:,.2f} M", help="Conv and Linear, one image.")
    metrics[3].metric("Activations", f"{summary.activation_bytes / 2 ** 20:,.2f} MiB",
                      help="float32 values produced for one image (kept for backprop).")
    metrics[4].metric("Output", "×".join(map(str, summary.output_shape)))
    rows = pd.DataFrame(summary_table(summary))
    numbers = {col: st.column_config.NumberColumn(format="localized") for col in ("params", "frozen", "mult-adds")}
    # Tall enough for every layer (no inner scrolling) up to about 40 rows.
    st.dataframe(rows, hide_index=True, width="stretch", column_config=numbers,
                 height=min(35 * (len(rows) + 1) + 3, 1450))

    blocks = pd.DataFrame(diagram_blocks(spec))
    colour = alt.Color("category:N", title="kind", legend=alt.Legend(orient="bottom", columns=9),
                       scale=alt.Scale(domain=list(CATEGORY_COLOURS), range=list(CATEGORY_COLOURS.values())))
    base = alt.Chart(blocks)
    rects = base.mark_rect(stroke="white").encode(
        x=alt.X("x:Q", axis=None), x2="x2:Q", y=alt.Y("y:Q", axis=None), y2="y2:Q", color=colour,
        tooltip=[alt.Tooltip("label:N", title="layer"), alt.Tooltip("shape:N", title="output")])
    # Layer numbers under the blocks, matching the table's "#".
    numbers_below = base.transform_filter("datum.index >= 0").transform_calculate(
        mid="(datum.x + datum.x2) / 2", bottom="datum.y - 0.6").mark_text(fontSize=10, baseline="top").encode(
        x="mid:Q", y="bottom:Q", text="index:N")
    chart = (rects + numbers_below).properties(
        height=240, title="Layer stack: height follows the map size, width the channels (log scale)")
    st.altair_chart(chart, width="stretch")

st.divider()
actions = st.columns(4)
if actions[0].button("Train this", type="primary", disabled=summary is None, width="stretch",
                     help="Open the training runner with this model."):
    st.session_state["train_spec"] = spec.to_dict()
    try:
        st.switch_page("pages/training_runner.py")
    except Exception:  # e.g. the page is not registered in this app; the spec is handed over anyway
        st.success("The model is ready in the Training runner page.")
file_stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in spec.name) or "model"
actions[1].download_button("Export code (.py)", export_code(spec) if summary is not None else "",
                           file_name=f"{file_stem}.py", mime="text/x-python", disabled=summary is None,
                           on_click="ignore", width="stretch")
actions[2].download_button("Save spec (JSON)", spec.to_json(), file_name=f"{file_stem}.json",
                           mime="application/json", on_click="ignore", width="stretch")
with actions[3]:
    st.file_uploader("Load spec (JSON)", type=["json"], key="ab_upload", on_change=load_uploaded_spec)
    if st.session_state.get("ab_load_error"):
        st.error(st.session_state["ab_load_error"])
