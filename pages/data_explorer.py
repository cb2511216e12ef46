"""Data explorer: pick a dataset; classes and counts, samples, channel statistics, resolutions,
split strategies, a live augmentation preview, and importing your own dataset from a zip."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit.data import (AugmentConfig, DatasetInfo, LoadedDataset, channel_stats, import_zip,
                         load_dataset)
from cnnkit.data.preview import (augment_preview, class_counts, kfold_table, resolution_strip,
                                 sample_grid, split_balance, stats_table)
from cnnkit.data.resolution import RESIZE_MODES
from ui.datasets import cached_datasets, forget_datasets
from ui.identity import current_owner, is_teacher
from ui.text import plain
from ui.images import progress_reporter, show_pixels
from ui.shell import ensure_app_shell

ensure_app_shell()

DEFAULT_DATASET = "shapes"
_KEEP_LOADED = 3  # datasets kept in memory at once


@st.cache_resource
def loaded_store() -> dict:
    """Loaded tensors shared by every session: {key: (LoadedDataset, mean, std)}."""
    return {}


def load(info: DatasetInfo) -> tuple[LoadedDataset, list[float], list[float]]:
    store = loaded_store()
    # The counts are in the key so a folder that gained images is loaded again.
    key = (info.name, info.num_train, info.num_test)
    if key not in store:
        update, done = progress_reporter(f"Loading {info.name}…")
        try:
            data = load_dataset(info.name, progress=update)
        finally:
            done()
        mean, std = channel_stats(data.train_x)
        while len(store) >= _KEEP_LOADED:
            store.pop(next(iter(store)))
        store[key] = (data, mean, std)
    return store[key]


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"sizes should be whole numbers separated by commas, like 32, 16, 8 (got {text!r})") from None
    if not sizes or any(s < 1 or s > 512 for s in sizes):
        raise ValueError("give one or more sizes between 1 and 512 pixels")
    return sizes


def import_box() -> None:
    with st.expander("Import your own dataset (a zip of class folders)"):
        st.caption("Layout: `<class>/<image>` for every class, or `train/<class>/<image>` and "
                   "`test/<class>/<image>`. Images of any mode are converted; at least 2 classes.")
        upload = st.file_uploader("Zip file", type=["zip"], key="de_zip")
        name = st.text_input("Dataset name", key="de_zip_name", placeholder="my_dataset")
        overwrite = st.checkbox("Replace a dataset of the same name", key="de_zip_overwrite")
        if st.button("Import", key="de_zip_import", disabled=upload is None):
            try:
                info = import_zip(upload.getvalue(), name.strip(), overwrite=overwrite, zip_name=upload.name,
                                  owner=current_owner(), teacher=is_teacher())  # the class gate checks who
            except ValueError as exc:  # every bad zip, image or name: the message says what to change
                st.error(plain(exc, 800))  # it quotes the zip's own names: shown as text
            except OSError as exc:  # the data folder itself: full disk, no permission
                st.error(f"could not write the dataset: {exc}")
            else:
                forget_datasets()
                st.session_state["de_dataset"] = info.name
                st.success(f"Imported {info.name}: {len(info.classes)} classes, "
                           f"{info.num_train} train / {info.num_test} test images.")
                st.rerun()


def label(info: DatasetInfo) -> str:
    text = f"{info.name} ({info.source}, {len(info.classes)} classes, {info.channels}×{info.height}×{info.width})"
    return text if info.available else f"{info.name} (not available)"


def classes_section(data: LoadedDataset) -> None:
    st.subheader("Classes")
    train = class_counts(data.train_y, data.classes).assign(split="train")
    test = class_counts(data.test_y, data.classes).assign(split="test")
    counts = train.merge(test, on="class", suffixes=("_train", "_test"))
    chart = alt.Chart(pd.concat([train, test], ignore_index=True)).mark_bar().encode(
        x=alt.X("class:N", sort=list(data.classes), title="class"),
        y=alt.Y("count:Q", title="images"),
        color=alt.Color("split:N"),
        xOffset="split:N",
        tooltip=["class", "split", "count"],
    )
    left, right = st.columns([3, 2])
    left.altair_chart(chart, width="stretch")
    right.dataframe(counts[["class", "count_train", "count_test"]].rename(
        columns={"count_train": "train", "count_test": "test"}), hide_index=True, width="stretch")


def samples_section(data: LoadedDataset, mean: list[float], std: list[float]) -> None:
    st.subheader("Samples per class")
    c1, c2 = st.columns(2)
    per_class = c1.slider("Samples per class", 1, 16, 8, key="de_per_class")
    seed = c2.number_input("Seed", 0, 10_000, 0, key="de_sample_seed")
    grid, rows = sample_grid(data.train_x, data.train_y, data.classes, per_class=per_class, seed=int(seed))
    show_pixels(grid, caption="Rows, top to bottom: " + ", ".join(rows))
    st.markdown("**Per-channel mean and std** (training split, pixel values in [0, 1]); "
                "training normalises with these.")
    st.dataframe(stats_table(data.train_x.shape[1], mean, std), hide_index=True)


def resolution_section(data: LoadedDataset) -> None:
    st.subheader("The same images at lower resolutions")
    c1, c2 = st.columns(2)
    sizes_text = c1.text_input("Sizes (pixels)", "32, 16, 8", key="de_sizes")
    mode = c2.selectbox("Downsampling", RESIZE_MODES, key="de_resize_mode")
    try:
        sizes = parse_sizes(sizes_text)
    except ValueError as exc:
        st.error(str(exc))
        return
    # One image of each of the first 8 classes.
    picks = []
    for cls in range(min(8, len(data.classes))):
        found = (data.train_y == cls).nonzero()
        if len(found):
            picks.append(int(found[0]))
    for size, strip in resolution_strip(data.train_x[picks], sizes, mode=mode):
        show_pixels(strip, caption=f"{size}×{size} px")


def splits_section(data: LoadedDataset) -> None:
    st.subheader("Split strategies")
    c1, c2, c3 = st.columns(3)
    strategy = c1.radio("Strategy", ["stratified", "random", "k-fold"], key="de_split_strategy", horizontal=True)
    seed = int(c3.number_input("Split seed", 0, 10_000, 0, key="de_split_seed"))
    try:
        if strategy == "k-fold":
            k = c2.slider("k (folds)", 2, 10, 5, key="de_k")
            table = kfold_table(data.train_y, data.classes, k=k, seed=seed)
            st.caption("Stratified k-fold: every training image is in exactly one validation fold; "
                       "columns after 'validation' count each class in that fold's validation part.")
            st.dataframe(table, hide_index=True, width="stretch")
            return
        val_fraction = c2.slider("Validation share", 0.05, 0.5, 0.1, 0.05, key="de_val_share")
        balance = split_balance(data.train_y, data.classes, strategy, val_fraction, seed)
    except ValueError as exc:
        st.error(str(exc))
        return
    chart = alt.Chart(balance).mark_bar().encode(
        x=alt.X("class:N", sort=list(data.classes)),
        y=alt.Y("share:Q", title="share of the split", axis=alt.Axis(format="%")),
        color="split:N",
        xOffset="split:N",
        tooltip=["split", "class", "count", alt.Tooltip("share:Q", format=".1%")],
    )
    st.altair_chart(chart, width="stretch")
    sizes = balance.groupby("split")["count"].sum()
    st.caption(f"train: {int(sizes.get('train', 0)):,} images, validation: {int(sizes.get('validation', 0)):,}. "
               "Stratified keeps every class's share the same in both parts; random only on average.")


def augmentation_section(data: LoadedDataset) -> None:
    st.subheader("Augmentation preview")
    c1, c2, c3, c4 = st.columns(4)
    config = AugmentConfig(
        hflip=c1.checkbox("Horizontal flip", True, key="de_aug_hflip"),
        crop_padding=c1.slider("Crop padding (px)", 0, 8, 4, key="de_aug_crop"),
        rotation=float(c2.slider("Rotation (± degrees)", 0, 45, 15, key="de_aug_rotation")),
        scale=c2.slider("Scale (± share)", 0.0, 0.5, 0.1, 0.05, key="de_aug_scale"),
        brightness=c3.slider("Brightness (±)", 0.0, 0.9, 0.2, 0.05, key="de_aug_brightness"),
        contrast=c3.slider("Contrast (±)", 0.0, 0.9, 0.2, 0.05, key="de_aug_contrast"),
        saturation=c4.slider("Saturation (±)", 0.0, 0.9, 0.0, 0.05, key="de_aug_saturation"),
        cutout=c4.slider("Cutout square (px)", 0, 16, 0, key="de_aug_cutout"),
    )
    if st.button("New sample", key="de_aug_new"):
        st.session_state["de_aug_index"] = st.session_state.get("de_aug_index", 0) + 1
    step = st.session_state.get("de_aug_index", 0)
    # A fixed stride through the training set: each click shows a different image, reproducibly.
    index = (step * 7919) % len(data.train_x)
    grid = augment_preview(data.train_x[index], config, n=12, seed=step, nrow=6)
    show_pixels(grid, caption=f"Training image #{index} ({data.classes[int(data.train_y[index])]}), "
                              "top left, then 11 augmented variants")


st.title("Data explorer")
import_box()
infos = cached_datasets()
by_name = {info.name: info for info in infos}
names = list(by_name)
if st.session_state.get("de_dataset") not in by_name:
    st.session_state["de_dataset"] = DEFAULT_DATASET if DEFAULT_DATASET in by_name else names[0]
name = st.selectbox("Dataset", names, key="de_dataset", format_func=lambda n: label(by_name[n]))
info = by_name[name]
if not info.available:
    st.warning(f"{name} cannot be loaded here: {info.reason}")
    st.stop()
try:
    data, mean, std = load(info)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
st.caption(f"{len(data.train_x):,} training and {len(data.test_x):,} test images of "
           f"{'×'.join(str(s) for s in data.input_shape)} (channels × height × width), {len(data.classes)} classes."
           + "".join(f" {note}." for note in data.notes))
classes_section(data)
samples_section(data, mean, std)
resolution_section(data)
splits_section(data)
augmentation_section(data)
