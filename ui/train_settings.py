"""The training-settings form: every TrainConfig field as a widget, grouped in expanders.

Several forms can live on one app (training runner, resolution lab, transfer learning): every widget
key starts with `key`. The function only reads widgets and builds a TrainConfig; it does not validate
(callers call config.validate() and show the ValueError with st.error).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import streamlit as st

from cnnkit.data import RESIZE_MODES, list_datasets
from cnnkit.models import list_presets
from cnnkit.train import LOSSES, OPTIMIZERS, PRECISIONS, SCHEDULERS, TrainConfig

LR_CHOICES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
WEIGHT_DECAY_CHOICES = (0.0, 1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1)
L1_CHOICES = (0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)
BATCH_CHOICES = (8, 16, 32, 64, 128, 256, 512)
SUBSET_CHOICES = (0, 128, 256, 512, 1000, 2000, 5000, 10000, 20000)
DEVICES = ("auto", "cpu", "cuda")
SCHEDULE_HELP = {
    "constant": "the same rate throughout",
    "step": "multiply by gamma every step-size epochs",
    "cosine": "a half cosine from the rate down to 0",
    "onecycle": "up to the rate over the first 30%, then down (Smith's one-cycle)",
    "exponential": "multiply by gamma every epoch",
    "plateau": "multiply by gamma when validation loss stops improving",
}
BUILDER_CHOICE = "From the Architecture builder"
PRESET_CHOICE = "Preset"
GIVEN_CHOICE = "As given"


# Every widget name the form uses (keys are f"{key}_{name}"), so a page can reset the form.
WIDGET_NAMES = (
    "dataset", "train_subset", "val_fraction", "split_strategy", "model_source", "preset", "dropout_on", "dropout",
    "epochs", "batch_size", "lr", "optimizer", "momentum", "nesterov", "loss", "scheduler", "warmup_epochs",
    "early_stopping", "step_size", "gamma", "plateau_patience", "weight_decay", "l1", "label_smoothing",
    "aug_hflip", "aug_crop_padding", "aug_rotation", "aug_cutout", "aug_brightness", "aug_contrast",
    "aug_saturation", "aug_scale", "image_size", "train_resolution", "test_resolution", "resize_mode",
    "restore_size", "device", "precision", "seed", "log_every", "name",
)


def load_training_settings(key: str, config: TrainConfig) -> None:
    """Put `config` into the form's widgets. Call before training_settings(key, defaults=config) is
    drawn in this run. Values are written through st.session_state: a browser keeps its own widget
    values, and only state written this way overrides them (a changed `value=` default does not)."""
    state = st.session_state
    values: dict[str, Any] = {
        "dataset": config.dataset, "train_subset": int(config.train_subset), "val_fraction": float(config.val_fraction),
        "split_strategy": config.split_strategy, "dropout_on": config.dropout is not None,
        "dropout": float(config.dropout if config.dropout is not None else 0.5), "epochs": int(config.epochs),
        "batch_size": int(config.batch_size), "lr": float(config.lr), "optimizer": config.optimizer,
        "momentum": float(config.momentum), "nesterov": bool(config.nesterov), "loss": config.loss,
        "scheduler": config.scheduler, "warmup_epochs": int(config.warmup_epochs),
        "early_stopping": int(config.early_stopping), "step_size": int(config.step_size), "gamma": float(config.gamma),
        "plateau_patience": int(config.plateau_patience), "weight_decay": float(config.weight_decay),
        "l1": float(config.l1), "label_smoothing": float(config.label_smoothing),
        "image_size": int(config.image_size or 0), "train_resolution": int(config.train_resolution or 0),
        "test_resolution": int(config.test_resolution or 0), "resize_mode": config.resize_mode,
        "restore_size": bool(config.restore_size), "device": config.device, "precision": config.precision,
        "seed": int(config.seed), "log_every": int(config.log_every), "name": config.name,
    }
    augment = config.augment or {}
    for name, kind in (("hflip", bool), ("crop_padding", int), ("rotation", int), ("cutout", int),
                       ("brightness", float), ("contrast", float), ("saturation", float), ("scale", float)):
        values[f"aug_{name}"] = kind(augment.get(name, 0))
    if isinstance(config.model, str):
        values["preset"] = config.model
        if isinstance(state.get("train_spec"), dict):
            values["model_source"] = PRESET_CHOICE
        else:
            state.pop(f"{key}_model_source", None)
    else:
        values["model_source"] = GIVEN_CHOICE
        state.pop(f"{key}_preset", None)
    for name, value in values.items():
        state[f"{key}_{name}"] = value


@st.cache_data(ttl=30, show_spinner=False)
def _dataset_names() -> list[str]:
    # Listing reads folder headers; 30 s is fresh enough and keeps every widget change snappy.
    return [d.name for d in list_datasets() if d.available]


@st.cache_data(show_spinner=False)
def _presets() -> list[dict]:
    return list_presets()


def _with(choices: Sequence, value: Any) -> list:
    """The choices plus `value` (sorted in) when a default is not one of them."""
    options = list(choices)
    if value not in options:
        options = sorted(options + [value]) if isinstance(value, (int, float)) else options + [value]
    return options


def _g(v: Any) -> str:
    return "0" if v == 0 else f"{v:g}"


def _optional_size(label: str, key: str, value: Optional[int], help: str) -> Optional[int]:
    """A number input where 0 means None (the dataset's own / the train size)."""
    chosen = st.number_input(label, min_value=0, max_value=512, step=1, value=int(value or 0), key=key,
                             help=help + " 0 = not set.")
    return int(chosen) or None


def _model_widget(key: str, defaults: TrainConfig) -> Any:
    """The model: a preset, the Architecture builder's spec (its "Train this" button), or a dict given
    in `defaults` (e.g. a resumed run's spec)."""
    presets = _presets()
    names = [p["name"] for p in presets]
    sources = []
    builder_spec = st.session_state.get("train_spec")
    if isinstance(builder_spec, dict) and builder_spec.get("layers"):
        sources.append(BUILDER_CHOICE)
    if isinstance(defaults.model, dict):
        sources.append(GIVEN_CHOICE)
    sources.append(PRESET_CHOICE)
    source = sources[0]
    if len(sources) > 1:
        labels = {BUILDER_CHOICE: f"{BUILDER_CHOICE}: {builder_spec.get('name', 'custom') if builder_spec else ''}",
                  GIVEN_CHOICE: f"As given: {defaults.model_label()}", PRESET_CHOICE: PRESET_CHOICE}
        source = st.radio("Model from", sources, key=f"{key}_model_source", format_func=labels.get,
                          horizontal=True)
    if source == BUILDER_CHOICE:
        st.caption(f"`{builder_spec.get('name', 'custom')}` from the Architecture builder "
                   f"({len(builder_spec['layers'])} layers); it is adapted to the dataset's channels, size and classes.")
        return builder_spec
    if source == GIVEN_CHOICE:
        return defaults.model
    default_name = defaults.model if isinstance(defaults.model, str) else "cnn3_bn"
    options = _with(names, default_name)
    describe = {p["name"]: p["description"] for p in presets}
    name = st.selectbox("Preset", options, index=options.index(default_name), key=f"{key}_preset",
                        help="Architectures of the course; each is adapted to the dataset's channels, size and classes.")
    if name in describe:
        st.caption(describe[name])
    return name


def training_settings(key: str, defaults: TrainConfig | None = None, show_model: bool = True,
                      show_dataset: bool = True) -> TrainConfig:
    """Widgets for every TrainConfig field (keys f"{key}_<field>"); returns the config they describe.

    Fields whose widgets are hidden (show_model/show_dataset False) keep their `defaults` value."""
    d = defaults or TrainConfig()

    with st.expander("Data & split", expanded=True):
        dataset = d.dataset
        if show_dataset:
            names = _with(_dataset_names(), d.dataset)
            dataset = st.selectbox("Dataset", names, index=names.index(d.dataset), key=f"{key}_dataset",
                                   help="Datasets available here (see the Data explorer for the others).")
        cols = st.columns(3)
        subset = cols[0].select_slider("Training images", _with(SUBSET_CHOICES, d.train_subset), value=d.train_subset,
                                       key=f"{key}_train_subset", format_func=lambda v: "all" if v == 0 else f"{v:,}",
                                       help="Train on a random subset for quick demos.")
        val_fraction = cols[1].slider("Validation share", 0.0, 0.5, float(d.val_fraction), 0.05,
                                      key=f"{key}_val_fraction", help="Held out from training to pick the best epoch.")
        strategy = cols[2].radio("Split", ("stratified", "random"), index=("stratified", "random").index(d.split_strategy),
                                 key=f"{key}_split_strategy", horizontal=True,
                                 help="Stratified keeps every class's share in both parts.")

    model = d.model
    if show_model:
        with st.expander("Model", expanded=True):
            model = _model_widget(key, d)
            use_dropout = st.checkbox("Override dropout", value=d.dropout is not None, key=f"{key}_dropout_on",
                                      help="Set p of every dropout layer of the model.")
            dropout = st.slider("Dropout p", 0.0, 0.9, float(d.dropout if d.dropout is not None else 0.5), 0.05,
                                key=f"{key}_dropout", disabled=not use_dropout)
    else:
        use_dropout, dropout = d.dropout is not None, d.dropout

    with st.expander("Optimisation", expanded=True):
        cols = st.columns(3)
        epochs = cols[0].slider("Epochs", 1, max(50, d.epochs), int(d.epochs), key=f"{key}_epochs")
        batch_size = cols[1].select_slider("Batch size", _with(BATCH_CHOICES, d.batch_size), value=d.batch_size,
                                           key=f"{key}_batch_size")
        lr = cols[2].select_slider("Learning rate", _with(LR_CHOICES, d.lr), value=d.lr, key=f"{key}_lr",
                                   format_func=_g)
        cols = st.columns(3)
        optimizer = cols[0].selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index(d.optimizer),
                                      key=f"{key}_optimizer")
        momentum = cols[1].slider("Momentum", 0.0, 0.99, float(d.momentum), 0.01, key=f"{key}_momentum",
                                  disabled=optimizer not in ("sgd", "rmsprop"), help="SGD and RMSprop.")
        nesterov = cols[2].checkbox("Nesterov", value=d.nesterov, key=f"{key}_nesterov",
                                    disabled=optimizer != "sgd", help="SGD only.")
        loss = st.radio("Loss", LOSSES, index=LOSSES.index(d.loss), key=f"{key}_loss", horizontal=True,
                        help="MSE and L1 compare softmax outputs with one-hot targets: see why cross-entropy wins.")

    with st.expander("Learning-rate schedule"):
        cols = st.columns(3)
        scheduler = cols[0].selectbox("Schedule", SCHEDULERS, index=SCHEDULERS.index(d.scheduler),
                                      key=f"{key}_scheduler", format_func=lambda s: f"{s}: {SCHEDULE_HELP[s]}")
        warmup = cols[1].slider("Warm-up epochs", 0, 10, int(d.warmup_epochs), key=f"{key}_warmup_epochs",
                                help="Linear warm-up from a tenth of the rate.")
        early = cols[2].slider("Early-stopping patience", 0, 20, int(d.early_stopping), key=f"{key}_early_stopping",
                               help="Stop after this many epochs without better validation accuracy (0 = off).")
        cols = st.columns(3)
        step_size = cols[0].slider("Step size (epochs)", 1, 50, int(d.step_size), key=f"{key}_step_size",
                                   disabled=scheduler != "step")
        gamma = cols[1].slider("Gamma", 0.05, 1.0, float(d.gamma), 0.05, key=f"{key}_gamma",
                               disabled=scheduler not in ("step", "exponential", "plateau"))
        patience = cols[2].slider("Plateau patience", 0, 10, int(d.plateau_patience), key=f"{key}_plateau_patience",
                                  disabled=scheduler != "plateau")

    with st.expander("Regularisation"):
        cols = st.columns(3)
        weight_decay = cols[0].select_slider("Weight decay (L2)", _with(WEIGHT_DECAY_CHOICES, d.weight_decay),
                                             value=d.weight_decay, key=f"{key}_weight_decay", format_func=_g)
        l1 = cols[1].select_slider("L1 penalty", _with(L1_CHOICES, d.l1), value=d.l1, key=f"{key}_l1",
                                   format_func=_g, help="Added to the loss: λ × Σ|w| over conv and linear weights.")
        smoothing = cols[2].slider("Label smoothing", 0.0, 0.5, float(d.label_smoothing), 0.05,
                                   key=f"{key}_label_smoothing")

    a = d.augment or {}
    with st.expander("Augmentation"):
        cols = st.columns(2)
        hflip = cols[0].checkbox("Horizontal flip", value=bool(a.get("hflip", False)), key=f"{key}_aug_hflip")
        crop = cols[1].slider("Crop padding (px)", 0, 8, int(a.get("crop_padding", 0)), key=f"{key}_aug_crop_padding",
                              help="Pad with zeros, then crop back at a random offset (random shifts).")
        rotation = cols[0].slider("Rotation (°)", 0, 45, int(a.get("rotation", 0)), key=f"{key}_aug_rotation")
        cutout = cols[1].slider("Cutout (px)", 0, 16, int(a.get("cutout", 0)), key=f"{key}_aug_cutout",
                                help="Blank one random square of this side.")
        brightness = cols[0].slider("Brightness", 0.0, 0.9, float(a.get("brightness", 0.0)), 0.05,
                                    key=f"{key}_aug_brightness")
        contrast = cols[1].slider("Contrast", 0.0, 0.9, float(a.get("contrast", 0.0)), 0.05, key=f"{key}_aug_contrast")
        saturation = cols[0].slider("Saturation", 0.0, 0.9, float(a.get("saturation", 0.0)), 0.05,
                                    key=f"{key}_aug_saturation")
        scale = cols[1].slider("Zoom", 0.0, 0.5, float(a.get("scale", 0.0)), 0.05, key=f"{key}_aug_scale")
    augment = {"hflip": hflip, "crop_padding": crop, "rotation": float(rotation), "brightness": brightness,
               "contrast": contrast, "saturation": saturation, "scale": scale, "cutout": cutout}
    # Only the switched-on augmentations go in the config: short run tables and JSON.
    augment = {k: v for k, v in augment.items() if v}

    with st.expander("Resolution"):
        cols = st.columns(3)
        with cols[0]:
            image_size = _optional_size("Network input size", f"{key}_image_size", d.image_size,
                                        "Resize every image to this size (the dataset's own when not set).")
        with cols[1]:
            train_res = _optional_size("Train resolution", f"{key}_train_resolution", d.train_resolution,
                                       "Downsample training (and validation) images to this size.")
        with cols[2]:
            test_res = _optional_size("Test resolution", f"{key}_test_resolution", d.test_resolution,
                                      "Downsample test images to this size (the train resolution when not set).")
        cols = st.columns(2)
        resize_mode = cols[0].selectbox("Downsampling filter", RESIZE_MODES, index=RESIZE_MODES.index(d.resize_mode),
                                        key=f"{key}_resize_mode")
        restore = cols[1].checkbox("Resample back up to the input size", value=d.restore_size,
                                   key=f"{key}_restore_size",
                                   help="Off: the network sees the small images directly (global-pooling networks).")

    with st.expander("Device, precision & run"):
        cols = st.columns(2)
        device = cols[0].selectbox("Device", _with(DEVICES, d.device), index=_with(DEVICES, d.device).index(d.device),
                                   key=f"{key}_device", help="auto = CUDA when there is a GPU.")
        precision = cols[1].selectbox("Precision", PRECISIONS, index=PRECISIONS.index(d.precision),
                                      key=f"{key}_precision", help="auto = bf16/fp16 autocast on CUDA, fp32 on CPU. bf16 on a CPU with bf16 units "
                                           "(Intel AMX, AVX-512 BF16) trains about twice as fast.")
        seed = cols[0].number_input("Seed", min_value=0, max_value=2 ** 31 - 1, value=int(d.seed), step=1,
                                    key=f"{key}_seed")
        log_every = cols[1].number_input("Loss point every (steps)", min_value=1, max_value=1000,
                                         value=int(d.log_every), step=1, key=f"{key}_log_every")
        name = st.text_input("Run name (optional)", value=d.name, key=f"{key}_name", max_chars=80)

    return TrainConfig(
        dataset=dataset, model=model, epochs=int(epochs), batch_size=int(batch_size), optimizer=optimizer,
        lr=float(lr), momentum=float(momentum), nesterov=bool(nesterov), weight_decay=float(weight_decay),
        l1=float(l1), dropout=float(dropout) if use_dropout else None, label_smoothing=float(smoothing), loss=loss,
        scheduler=scheduler, step_size=int(step_size), gamma=float(gamma), plateau_patience=int(patience),
        warmup_epochs=int(warmup), augment=augment, val_fraction=float(val_fraction), split_strategy=strategy,
        image_size=image_size, train_resolution=train_res, test_resolution=test_res, resize_mode=resize_mode,
        restore_size=bool(restore), train_subset=int(subset), early_stopping=int(early), seed=int(seed),
        device=device, precision=precision, log_every=int(log_every), name=name.strip())
