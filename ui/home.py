"""The Home page's sections: what the class can do today, never an empty form.

pages/home.py calls these in order; each section draws itself (and nothing when it has nothing to show).
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import pyarrow as pa
import streamlit as st

from cnnkit import store
from cnnkit.classroom import load_pins, unpin
from cnnkit.paths import checkpoint_dir, data_dir, demo_runs_dir
from ui.charts import chart_spec, show_chart
from ui.identity import current_owner, is_teacher
from ui.lessons_home import pinned_lesson_link
from ui.links import in_navigation, navigation_pages, page_link, share_box
from ui.sidebar import device_info
from ui.text import plain

# What a student does on each page, by page file (pages/<stem>.py). A page missing here is still listed.
PAGE_GUIDE = {
    "data_explorer": "look at the classes, sample images, per-channel statistics and what augmentation does",
    "architecture_builder": "open a preset (LeNet-5, the course's cnn3, …), change a layer, watch shapes and "
                            "parameter counts change; export as PyTorch code",
    "training_runner": "press Train: live curves, then accuracy, confusion matrix, mistakes; compare runs",
    "class_board": "everyone's best run per dataset, side by side",
    "resolution_lab": "train at one resolution, test at others (TOTV against TVTV)",
    "transfer_learning": "fine-tune a pretrained network on a new dataset, strategies side by side",
    "gradcam_viewer": "what does a network predict for an image, and where does it look?",
    "inside_network": "every layer's maps for one image, the receptive field of a unit, the arithmetic",
    "lessons": "the course's experiments, one click each",
}
INSIDE = "pages/inside_network.py"
GRADCAM = "pages/gradcam_viewer.py"
TRAIN = "pages/training_runner.py"


def render_start_here() -> None:
    """The first steps, the name box among them."""
    owner = current_owner()
    who = (f"You are **{plain(owner)}**: your runs are saved under this name." if owner else
           "**Type your name** in the box at the top of the sidebar (*Your name*): your runs are saved under it, "
           "and the Class board shows whose run is whose.")
    st.markdown(f"**Start here.** {who} Then look inside a trained network below, or go straight to "
                "*Training runner* and press **Train**.")


def render_pinned() -> None:
    """What the teacher pinned (cnnkit.classroom.pins): the class lands on it."""
    pins = load_pins()
    if not pins:
        return
    st.subheader("Pinned by the teacher")
    teacher = is_teacher()
    for item in pins:
        with st.container(border=True):
            if item["kind"] == "run":
                _pinned_run(item["id"], teacher)
            else:
                pinned_lesson_link(item["id"])
            if item.get("note"):
                st.text(item["note"])
            if teacher and st.button("Unpin", key=f"home_unpin_{item['kind']}_{item['id']}"):
                unpin(item["kind"], item["id"], teacher=teacher)  # the gate checks it is the teacher
                st.rerun()


def _pinned_run(run_id: str, teacher: bool) -> None:
    try:
        record = store.load_run(store.run_dir_of_id(run_id))
    except (ValueError, OSError):
        st.caption(f"Run {run_id} is pinned but no longer on this server.")
        return
    facts = [record.model_name, f"on {record.dataset}"]
    if record.test_accuracy is not None:
        facts.append(f"test accuracy {record.test_accuracy:.1%}")
    if record.owner:
        facts.append(f"by {record.owner}")
    st.text(f"📌 Run {record.run_id}: " + ", ".join(str(f) for f in facts if f))
    if in_navigation(TRAIN):
        page_link(TRAIN, label="Open its settings in the Training runner", params={"run": record.run_id}, icon="⚙️")
    if teacher:
        st.caption("Teacher: the link for the class (copy it, or let them scan the QR code).")
        share_box(TRAIN, {"run": record.run_id}, what=f"run {record.run_id}'s settings")


@st.cache_resource(ttl=60, show_spinner=False)  # one copy per server, shared by every session: never changed
def demo_summaries() -> list[dict]:
    """The shipped demo runs: name, model, dataset, test accuracy, validation accuracy per epoch, and that curve
    drawn once per server (an Altair chart costs ~10 ms of CPU to build: every session's Home drew two)."""
    summaries = []
    try:
        records = store.list_runs(demo_runs_dir())
    except (OSError, ValueError):
        return []
    for record in records:
        if record.test_accuracy is None:
            continue
        epochs = store.load_history(record.run_dir).get("epochs", [])
        curve = [{"epoch": row.get("epoch"), "validation accuracy": row.get("val_acc")}
                 for row in epochs if row.get("val_acc") is not None]
        summaries.append({"name": record.name or record.run_id, "run_id": record.run_id, "model": record.model_name,
                          "dataset": record.dataset, "accuracy": float(record.test_accuracy),
                          "classes": len(record.classes), "curve": curve, **_curve_chart(curve)})
    # the Shapes demo (the viewers' default) first
    return sorted(summaries, key=lambda s: s["dataset"] != "shapes")


def _curve_chart(curve: list[dict]) -> dict:
    """A demo's learning curve: its Vega-Lite spec (ui.charts.chart_spec), its numbers as an Arrow table (what
    st.dataframe sends) and its text alternative; {} without a curve."""
    if not curve:
        return {}
    frame = pd.DataFrame(curve)
    chart = alt.Chart(frame).mark_line(point=True, color="#0072B2").encode(
        x=alt.X("epoch:O", title="epoch"),
        y=alt.Y("validation accuracy:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        tooltip=["epoch", alt.Tooltip("validation accuracy:Q", format=".1%")]).properties(height=160)
    first, last = curve[0], curve[-1]
    return {"chart": chart_spec(chart), "table": pa.Table.from_pandas(frame, preserve_index=False),
            "description": f"Validation accuracy rose from {first['validation accuracy']:.0%} after epoch 1 to "
                           f"{last['validation accuracy']:.0%} after epoch {int(last['epoch'])}."}


def render_demos() -> None:
    """The demo runs with their accuracy and learning curve, and one click to look inside."""
    demos = demo_summaries()
    if not demos:
        return
    st.subheader("Trained networks to look at now")
    columns = st.columns(len(demos))
    for column, demo in zip(columns, demos):
        with column, st.container(border=True):
            st.markdown(f"**{demo['name']}**")
            st.metric("Test accuracy", f"{demo['accuracy']:.1%}",
                      help=f"{demo['model']} on {demo['dataset']} ({demo['classes']} classes), on test images it "
                           "never saw in training.")
            if demo.get("chart"):
                show_chart(demo["chart"], demo["table"], title="Validation accuracy per epoch",
                           description=demo["description"])
            if demo["dataset"] == "shapes":
                if in_navigation(INSIDE):
                    st.page_link(INSIDE, label="Look inside the demo", icon="🔬",
                                 help="Every layer of this network on a test image: one click, nothing to set up.")
                if in_navigation(GRADCAM):
                    st.page_link(GRADCAM, label="Where does it look? (Grad-CAM)", icon="🔥")
            elif demo["dataset"] == "digits" and in_navigation(INSIDE):
                st.caption("Pick it in *Inside the network* and draw a digit.")


def render_page_tour() -> None:
    """Every page of this class's app, one line each."""
    pages = navigation_pages()
    if not pages:
        return
    st.subheader("Every page")
    for page, _title in pages:
        left, right = st.columns([1, 3])
        with left:
            st.page_link(page)  # the title and icon app.py gives it
        right.caption(PAGE_GUIDE.get(Path(page).stem, ""))


def render_setup() -> None:
    """Where this server trains and keeps its files."""
    info = device_info()
    with st.expander("This server"):
        col1, col2 = st.columns(2)
        col1.metric("Device", "GPU" if info.kind == "cuda" else "CPU",
                    help="Training runs here unless you pick another device.")
        col1.caption(info.label())
        col2.markdown(f"**Data directory:** `{data_dir()}`  \n**Checkpoints:** `{checkpoint_dir()}`")
        st.caption("Everything works offline: the built-in Shapes and Digits datasets and a pretrained "
                   "EfficientNet-Lite0 ship with the install.")

