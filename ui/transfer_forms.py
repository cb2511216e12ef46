"""The Transfer learning page's forms: the source network, a small dataset made here (upload or camera), the
freezing strategy and the trainable/frozen parameter table (moved out of pages/transfer_learning.py, which stays
a thin page). Widget keys start with the page's prefix `key`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from cnnkit import store
from cnnkit.data.custom_dataset import save_custom_dataset
from cnnkit.models.pretrained import list_pretrained
from cnnkit.train import report
from cnnkit.transfer import builder
from ui.datasets import forget_datasets
from ui.identity import current_owner, is_teacher

STRATEGY_HELP = {
    "head": "Feature extraction: the backbone is frozen; only the new head trains.",
    "last:N": "The new head and the last N blocks of the backbone train.",
    "full": "Every layer trains (full fine-tuning).",
    "two-stage": "The head alone for k epochs, then the backbone is unfrozen with the learning rate divided.",
}


@st.cache_data(ttl=60, show_spinner=False)
def pretrained_options() -> list[dict]:
    return [{"name": p.name, "title": p.title, "available": p.available, "reason": p.reason,
             "description": p.description} for p in list_pretrained(check_network=False)]


@st.cache_data(ttl=10, show_spinner=False)
def saved_runs() -> list[dict]:
    return [{"run_dir": str(r.run_dir), "label": f"{report.run_label(r)} · {r.dataset} · "
             + (f"test acc {r.test_accuracy:.1%}" if r.test_accuracy is not None else r.status)
             + (f" · {r.origin}" if r.origin else "")}
            for r in store.list_runs() if r.status in ("done", "early_stopped", "cancelled")
            and ((Path(r.run_dir) / "best.pt").is_file() or (Path(r.run_dir) / "last.pt").is_file())]


def choose_source(K: str) -> str | None:
    kind = st.radio("Start from", ("Pretrained on ImageNet", "One of my saved runs"), horizontal=True,
                    key=f"{K}_source_kind")
    if kind == "Pretrained on ImageNet":
        options = pretrained_options()
        by_name = {o["name"]: o for o in options}
        name = st.selectbox("Pretrained network", list(by_name), key=f"{K}_pretrained",
                            format_func=lambda n: by_name[n]["title"] + ("" if by_name[n]["available"]
                                                                         else " (not available)"))
        chosen = by_name[name]
        st.caption(chosen["description"] + ". Inputs are normalised the way it was trained.")
        if not chosen["available"]:
            st.warning(chosen["reason"])
            return None
        return name
    runs = saved_runs()
    if not runs:
        st.info("No finished runs yet: train one in the Training runner, or start from a pretrained network.")
        return None
    labels = {r["run_dir"]: r["label"] for r in runs}
    run_dir = st.selectbox("Saved run", list(labels), format_func=labels.get, key=f"{K}_run")
    st.caption("Its last Linear layer is replaced for the new classes; inputs use that run's mean/std and size.")
    return run_dir


def _camera_images(K: str, index: int) -> list[bytes]:
    return st.session_state.setdefault(f"{K}_camera_{index}", [])


def make_dataset_form(K: str) -> None:
    """Name classes, add images by upload or camera, save as a folder dataset and select it."""
    st.caption("Teachable-Machine style: name 2 to 6 classes, add a few images to each (upload or camera), save. "
               "The images are centre-cropped to squares; 20 % of each class is kept for testing.")
    cols = st.columns([3, 2, 2])
    name = cols[0].text_input("Dataset name", value="my-objects", key=f"{K}_new_name")
    n_classes = cols[1].number_input("Classes", 2, 6, 2, key=f"{K}_new_n")
    size = cols[2].selectbox("Saved size", (64, 96, 128, 224), index=2, key=f"{K}_new_size",
                             format_func=lambda v: f"{v}×{v} px")
    images: dict[str, list] = {}
    class_cols = st.columns(int(n_classes))
    for i, col in enumerate(class_cols):
        with col:
            label = st.text_input(f"Class {i + 1}", value=f"class {i + 1}", key=f"{K}_new_class_{i}")
            uploads = st.file_uploader("Images", type=["png", "jpg", "jpeg", "bmp", "gif", "webp"],
                                       accept_multiple_files=True, key=f"{K}_new_upload_{i}")
            shots = _camera_images(K, i)
            if st.toggle("Camera", key=f"{K}_new_cam_on_{i}"):
                picture = st.camera_input("Take a picture", key=f"{K}_new_cam_{i}", label_visibility="collapsed")
                if picture is not None:
                    data = picture.getvalue()
                    digest = hashlib.sha1(data).hexdigest()
                    seen = st.session_state.setdefault(f"{K}_camera_seen_{i}", [])
                    if digest not in seen:  # each new shot is added once, not again on every rerun
                        seen.append(digest)
                        shots.append(data)
            items = [u.getvalue() for u in uploads or []] + list(shots)
            st.caption(f"{len(items)} image(s)" + (f", {len(shots)} from the camera" if shots else ""))
            if shots and st.button("Clear camera shots", key=f"{K}_new_cam_clear_{i}"):
                shots.clear()
                st.rerun()
            images[label.strip()] = items
    overwrite = st.checkbox("Replace a dataset of that name", key=f"{K}_new_overwrite")
    if st.button("Save dataset", key=f"{K}_new_save"):
        try:
            if len(images) < len(class_cols):
                raise ValueError("two classes have the same name; every class needs its own name")
            path = save_custom_dataset(name.strip(), images, size=int(size), overwrite=overwrite,
                                       owner=current_owner(), teacher=is_teacher())
        except ValueError as exc:
            st.error(str(exc))
        else:
            st.session_state[f"{K}_made_dataset"] = path.name
            st.session_state.pop(f"{K}_dataset", None)  # the dataset picker below starts on the new one
            forget_datasets()
            st.success(f"Saved {sum(len(v) for v in images.values())} images as dataset **{path.name}**; "
                       "it is selected below.")


def choose_strategy(K: str, block_names: list[str]) -> dict:
    n_blocks = len(block_names)
    cols = st.columns([3, 4])
    kind = cols[0].radio("Strategy", list(STRATEGY_HELP), key=f"{K}_strategy",
                         captions=list(STRATEGY_HELP.values()))
    settings: dict = {}
    with cols[1]:
        if kind == "last:N":
            n = st.slider("Blocks to unfreeze (N)", 1, max(1, n_blocks), min(2, n_blocks), key=f"{K}_last_n")
            settings["strategy"] = f"last:{n}"
            st.caption("Trains: " + ", ".join(builder.trained_blocks(block_names, settings["strategy"]))
                       + " + the new head")
        else:
            settings["strategy"] = kind
        if kind == "two-stage":
            settings["head_epochs"] = st.number_input("Head-only epochs (k)", 1, 50, 1, key=f"{K}_head_epochs")
            unfreeze = st.slider("Then unfreeze the last N blocks (all = full)", 1, max(1, n_blocks), max(1, n_blocks),
                                 key=f"{K}_unfreeze_n")
            settings["unfreeze"] = "full" if unfreeze >= n_blocks else f"last:{unfreeze}"
            settings["unfreeze_lr_factor"] = st.select_slider("Divide the learning rate by", (1, 2, 3, 5, 10, 30, 100),
                                                              value=10, key=f"{K}_unfreeze_factor")
        if kind != "head":
            settings["backbone_lr_factor"] = st.select_slider(
                "Backbone learning rate = head rate ×", (1.0, 0.3, 0.1, 0.03, 0.01), value=1.0,
                key=f"{K}_backbone_factor", help="Pretrained layers often want a smaller rate than the new head.")
    with st.expander("Blocks of this backbone"):
        st.caption(f"{n_blocks} blocks, first to last: " + ", ".join(block_names))
    return settings


def parameter_table(rows: list[dict]) -> None:
    frame = pd.DataFrame([{"strategy": r["strategy"], "trainable params": r["trainable"],
                           "non-trainable params": r["frozen"], "total params": r["total"],
                           "trainable share": r["trainable"] / max(1, r["total"])} for r in rows])
    st.dataframe(frame, hide_index=True, width="stretch", column_config={
        "trainable params": st.column_config.NumberColumn(format="localized"),
        "non-trainable params": st.column_config.NumberColumn(format="localized"),
        "total params": st.column_config.NumberColumn(format="localized"),
        "trainable share": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0)})
    st.caption("Like the totals under a Keras model.summary(): two-stage starts with the head alone.")
