"""Transfer learning: a pretrained backbone (or a saved run) + a new head, trained with a freezing
strategy on any dataset or on one made here; strategies compared side by side."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit import store
from cnnkit.data import dataset_info
from cnnkit.jobs import get_job_manager, new_group_id
from cnnkit.train import TrainConfig
from cnnkit.train.recipes import transfer_defaults
from cnnkit.train import report
from cnnkit.transfer import builder
from cnnkit.data.custom_dataset import save_custom_dataset
from cnnkit.formatting import format_seconds
from cnnkit.transfer.estimate import EpochCost, plan_cost, probe_network
from cnnkit.models.pretrained import list_pretrained
from cnnkit.classroom import gate
from ui.identity import actor, class_config, current_owner, is_teacher
from ui.datasets import available_dataset_names, forget_datasets
from ui.job_follow import follow_jobs
from ui.run_views import render_overlays, render_run_results
from ui.train_settings import training_settings
from ui.shell import ensure_app_shell

ensure_app_shell()

K = "tl"                     # widget key prefix
GROUPS = "tl_groups"         # this session's job groups, oldest first
SIZES = {"native": None, "96 px": 96, "128 px": 128, "224 px": 224}
STRATEGY_HELP = {
    "head": "Feature extraction: the backbone is frozen; only the new head trains.",
    "last:N": "The new head and the last N blocks of the backbone train.",
    "full": "Every layer trains (full fine-tuning).",
    "two-stage": "The head alone for k epochs, then the backbone is unfrozen with the learning rate divided.",
}

manager = get_job_manager()
st.session_state.setdefault(GROUPS, [])

st.title("Transfer learning")
st.caption("Start from a network that already learnt useful features (ImageNet, or one of your saved runs), give it "
           "a new head for your classes and choose what trains: only the head, the last blocks, everything, or "
           "the head first and then everything.")


# --- cached cnnkit calls ---------------------------------------------------------------------------
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


@st.cache_data(max_entries=16, show_spinner="Counting parameters…")
def parameter_rows(source: str, num_classes: int, strategies: tuple[str, ...]) -> tuple[list[str], list[dict]]:
    model, layout = builder.source_network(source, num_classes)
    rows = [r.to_dict() for r in builder.strategy_counts(model, layout, list(strategies))]
    return layout.block_names, rows


PAGE_PROBE_BATCH_CPU = 16


@st.cache_data(max_entries=32, show_spinner="Timing a few training steps…")
def probe_cost(model_dict: dict, data_shape: tuple, num_classes: int, batch_size: int, device: str) -> EpochCost:
    # plan_cost's probe, cached: its arguments (the resolved device among them) are the cache key. The probe
    # ends its warm-up before it times (one timed step of 4 images on a cold server was 13× too long). It uses
    # the run's batch on a GPU (8 images cost about what 64 do there) and up to 16 images on a CPU (the cost
    # per image is about flat from 16 up there), which keeps the page responsive at 224 px.
    probe_batch = PAGE_PROBE_BATCH_CPU if not device.startswith("cuda") else batch_size
    return probe_network(model_dict, data_shape, num_classes, batch_size, device, repeats=2, probe_batch=probe_batch)


# --- source -----------------------------------------------------------------------------------------
def choose_source() -> str | None:
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


# --- target data -----------------------------------------------------------------------------------
def _camera_images(index: int) -> list[bytes]:
    return st.session_state.setdefault(f"{K}_camera_{index}", [])


def make_dataset_form() -> None:
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
            shots = _camera_images(i)
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


# --- strategy ----------------------------------------------------------------------------------------
def choose_strategy(block_names: list[str]) -> dict:
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


# --- jobs ----------------------------------------------------------------------------------------------
def queue(configs: list[tuple[str, TrainConfig]]) -> None:
    """Queue every strategy's run as this session's owner, or none: the class gate checks each one first (and
    the job manager again as it queues it)."""
    who = actor()
    for _, config in configs:
        gate.check("transfer", who, class_config(), training=config)
    group = new_group_id(builder.GROUP_PREFIX)
    for label, config in configs:
        manager.submit_training(config, label=label, group=group, owner=who.owner, teacher=who.teacher,
                                kind="transfer")
    st.session_state[GROUPS].append(group)
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


def results_section() -> None:
    groups = [g for g in st.session_state[GROUPS] if manager.list(group=g)]
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


# --- page -----------------------------------------------------------------------------------------------
st.subheader("1 · Source network")
source = choose_source()

st.subheader("2 · Target data")
with st.expander("Make a small dataset here (upload or camera)"):
    make_dataset_form()
made = st.session_state.get(f"{K}_made_dataset")
names = available_dataset_names()
if made and made not in names:
    names.append(made)
default_name = made if made in names else ("shapes" if "shapes" in names else names[0])
dataset = st.selectbox("Dataset", names, index=names.index(default_name), key=f"{K}_dataset",
                       help="Any dataset of the registry (built-in, torchvision, imported folders) or one made above.")
try:
    info = dataset_info(dataset)
    if not info.available:
        raise ValueError(f"dataset {dataset} is not available: {info.reason}")
except ValueError as exc:
    st.error(str(exc))
    st.stop()
st.caption(f"{dataset}: {len(info.classes)} classes ({', '.join(info.classes[:12])}"
           f"{', …' if len(info.classes) > 12 else ''}), {info.channels} channel(s), {info.height}×{info.width} px, "
           f"{info.num_train:,} training images")

if source is None:
    st.stop()

st.subheader("3 · Strategy")
try:
    block_names, _ = parameter_rows(source, len(info.classes), ("head",))
except (ValueError, RuntimeError, FileNotFoundError) as exc:
    st.error(str(exc))
    st.stop()
strategy = choose_strategy(block_names)

st.subheader("4 · Input size")
is_pretrained = builder.is_pretrained_source(source)
native_size = info.height
size_names = list(SIZES) if is_pretrained else ["native"]
if is_pretrained and native_size < 32:
    # ImageNet networks downsample 32×: below 32 px their last layers run out of pixels.
    size_names.remove("native")
    st.caption(f"The native {native_size} px is too small for an ImageNet network; the images are upsampled.")
size_name = st.radio("Network input size", size_names, horizontal=True, key=f"{K}_size",
                     help="Pretrained networks saw 224 px images; upsampling small images helps them but costs "
                          "roughly (size/native)² more compute." if is_pretrained
                     else "A saved run takes the input size it was trained at.")
image_size = SIZES[size_name]
settings_dict = {"source": source, **strategy, "image_size": image_size}
try:
    settings = builder.TransferSettings.from_dict(settings_dict)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
estimate_box = st.container()  # filled once the training settings below are known

st.subheader("5 · Trainable vs frozen parameters")
compare_choices = ["head", f"last:{min(2, len(block_names))}", "full", "two-stage"]
if settings.strategy not in compare_choices:
    compare_choices.insert(1, settings.strategy)
_, rows = parameter_rows(source, len(info.classes), tuple(compare_choices))
parameter_table(rows)

st.subheader("6 · Train")
defaults = transfer_defaults(dataset=dataset, train_subset=512 if dataset == "shapes" else 0)
with st.expander("Training settings (epochs, learning rate = the head's rate, batch size, …)"):
    config = training_settings(K, defaults, show_model=False, show_dataset=False)
# the input size is the strategy's choice above, not the form's
config = replace(config, dataset=dataset, image_size=None)
compared = st.multiselect("Strategies to compare", compare_choices, default=["head", "full", "two-stage"],
                          key=f"{K}_compare")
cols = st.columns(2)
train_one = cols[0].button(f"Train ({builder.strategy_label(settings.to_dict())})", type="primary",
                           key=f"{K}_train")
train_many = cols[1].button("Compare strategies", key=f"{K}_train_compare", disabled=len(compared) < 2,
                            help="Queues one run per strategy (same data, seed and settings) and shows them side by side.")

with estimate_box:
    try:
        # on the device the run will use (auto = the GPU when there is one), as the trainer splits the data
        estimate = plan_cost(replace(config, model=settings.to_dict()), config.device, info=info, probe=probe_cost)
    except (ValueError, RuntimeError) as exc:
        st.error(str(exc))
        st.stop()
    cols = st.columns(3)
    cols[0].metric("Input", f"{estimate.image_size}×{estimate.image_size} px")
    cols[1].metric("Estimated time per epoch", estimate.per_epoch_text(),
                   help=f"Measured from a few {estimate.stages[0].strategy} training steps on {estimate.device}: "
                        f"{estimate.train_images:,} training and {estimate.eval_images:,} validation images. "
                        "Other jobs running at the same time slow it down."
                        + (" Two-stage: the head-only epochs, then the unfrozen ones." if len(estimate.stages) > 1
                           else ""))
    cols[2].metric("Estimated run", format_seconds(estimate.run_seconds),
                   help=f"{config.epochs} epochs and the test split ({estimate.test_images:,} images); loading the "
                        "data not included")

if train_one or train_many:
    try:
        config.validate()
        queue(builder.transfer_configs(config, settings, [settings.strategy] if train_one else compared))
    except ValueError as exc:
        st.error(str(exc))

results_section()
