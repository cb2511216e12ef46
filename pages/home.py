import streamlit as st

from cnnkit.classroom import load_pins, unpin
from cnnkit.paths import checkpoint_dir, data_dir
from ui.identity import is_teacher
from ui.lessons_home import render_course_section
from ui.sidebar import device_info
from ui.shell import ensure_app_shell

ensure_app_shell()

st.title("CNN Lab")
render_course_section()  # the lessons with shipped results (ui/lessons_home.py)
st.markdown(
    """
An interactive lab for learning how **convolutional neural networks** work: explore a
dataset, build a network layer by layer, train it live, compare optimizers, schedules and
regularization, test at other resolutions, fine-tune a pretrained network, and see where a
network looks with Grad-CAM.

**Using it in class**
1. *Data explorer*: look at the classes, the samples and what augmentation does.
2. *Architecture builder*: open a preset (LeNet-5, the course's `cnn3`, …), change a layer,
   watch shapes and parameter counts change.
3. *Training runner*: press **Train**; curves update live; compare runs side by side.
4. *Resolution lab* and *Transfer learning*: the course's two big experiments, one click each.
5. *Grad-CAM viewer*: upload a photo and see what the network predicts and where it looks.

Everything works offline: the built-in *Shapes* and *Digits* datasets and a pretrained
EfficientNet-Lite0 ship with the install.
"""
)
info = device_info()
col1, col2 = st.columns(2)
col1.metric("Device", "GPU" if info.kind == "cuda" else "CPU", help="Training runs here unless you pick another device.")
col1.caption(info.label())
col2.markdown(f"**Data directory:** `{data_dir()}`  \n**Checkpoints:** `{checkpoint_dir()}`")

# What the teacher pinned (cnnkit.classroom.pins): the class lands on it.
pins = load_pins()
if pins:
    st.subheader("Pinned by the teacher")
    for item in pins:
        if item["kind"] == "run":
            st.page_link("pages/training_runner.py", label=f"Run {item['id']}: open its settings",
                         query_params={"run": item["id"]}, icon="📌")
        else:
            st.markdown(f"📌 Lesson **{item['id']}** (the lessons page is coming)")
        if item.get("note"):
            st.caption(item["note"])
        if is_teacher() and st.button("Unpin", key=f"home_unpin_{item['kind']}_{item['id']}"):
            unpin(item["kind"], item["id"], teacher=is_teacher())  # the gate checks it is the teacher
            st.rerun()
