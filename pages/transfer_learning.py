"""Transfer learning: a pretrained backbone (or a saved run) + a new head, trained with a freezing
strategy on any dataset or on one made here; strategies compared side by side."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from cnnkit.data import dataset_info
from cnnkit.formatting import format_seconds
from cnnkit.jobs import get_job_manager
from cnnkit.train.recipes import transfer_defaults
from cnnkit.transfer import builder
from cnnkit.transfer.estimate import EpochCost, plan_cost, probe_network
from ui.datasets import available_dataset_names
from ui.shell import ensure_app_shell
from ui.train_settings import training_settings
from ui.transfer_forms import choose_source, choose_strategy, make_dataset_form, parameter_table
from ui.transfer_results import queue, results_section

ensure_app_shell()

K = "tl"                     # widget key prefix
GROUPS = "tl_groups"         # this session's job groups, oldest first
SIZES = {"native": None, "96 px": 96, "128 px": 128, "224 px": 224}

manager = get_job_manager()
st.session_state.setdefault(GROUPS, [])

st.title("Transfer learning")
st.caption("Start from a network that already learnt useful features (ImageNet, or one of your saved runs), give it "
           "a new head for your classes and choose what trains: only the head, the last blocks, everything, or "
           "the head first and then everything.")


# --- cached cnnkit calls ---------------------------------------------------------------------------
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


# --- page -----------------------------------------------------------------------------------------------
st.subheader("1 · Source network")
source = choose_source(K)

st.subheader("2 · Target data")
with st.expander("Make a small dataset here (upload or camera)"):
    make_dataset_form(K)
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
strategy = choose_strategy(K, block_names)

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
        queue(manager, builder.transfer_configs(config, settings, [settings.strategy] if train_one else compared),
              K, GROUPS)
    except ValueError as exc:
        st.error(str(exc))

results_section(manager, K, GROUPS)
