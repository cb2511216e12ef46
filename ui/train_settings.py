"""The training-settings form: every user-facing TrainConfig field as a widget, grouped in expanders.

One table, FORM, says how each field is drawn (a row per field; "aug_<name>" rows for the
augmentations); drawing, the widget names, loading a config into the form and reading the config
back are all derived from it. A new TrainConfig field needs one FORM row (a test checks it).

Several forms can live on one app (training runner, resolution lab, transfer learning): every widget
key starts with `key`. The function only reads widgets and builds a TrainConfig; it does not validate
(callers call config.validate() and show the ValueError with st.error).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import streamlit as st

from cnnkit.data import AugmentConfig
from cnnkit.models import list_presets
from cnnkit.train import TrainConfig
from ui.datasets import available_dataset_names

LR_CHOICES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
WEIGHT_DECAY_CHOICES = (0.0, 1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1)
L1_CHOICES = (0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)
BATCH_CHOICES = (8, 16, 32, 64, 128, 256, 512)
SUBSET_CHOICES = (0, 128, 256, 512, 1000, 2000, 5000, 10000, 20000)
TEST_SUBSET_CHOICES = (0, 500, 1000, 2000, 5000)
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
AUGMENT_PREFIX = "aug_"  # FORM rows named aug_<AugmentConfig field> fill TrainConfig.augment


def _g(v: Any) -> str:
    return "0" if v == 0 else f"{v:g}"


@dataclass(frozen=True)
class Widget:
    """How one TrainConfig field (or augmentation) is drawn.

    kind: slider | number | select_slider | selectbox | radio | checkbox | text | size (a number where
    0 means None) | optional_slider (a checkbox switching a slider; off = None) | model (the model picker).
    options: (min, max, step) for slider/number/optional_slider, the choices for the choice kinds
    (default: the field's metadata choices); or a function of the current value giving them.
    """

    section: str
    kind: str
    label: str
    options: Any = None
    help: Optional[str] = None
    format: Optional[Callable[[Any], str]] = None
    enabled: Optional[Callable[[dict], bool]] = None  # of the values drawn before it in this form
    wide: bool = False                                # the whole expander's width, not one column
    toggle: str = ""                                  # optional_slider: the checkbox's label
    unset: Any = None                                 # optional_slider: the slider's value while off
    extra: dict = field(default_factory=dict)         # more keyword arguments for the Streamlit widget


# expander title -> (columns, expanded)
SECTIONS = {
    "Data & split": (3, True), "Model": (1, True), "Optimisation": (3, True), "Learning-rate schedule": (3, False),
    "Regularisation": (3, False), "Augmentation": (2, False), "Resolution": (3, False),
    "Device, precision & run": (2, False),
}
_DATA, _MODEL, _OPT, _SCHED, _REG, _AUG, _RES, _RUN = SECTIONS
# Sections that start folded draw their widgets only while open (Streamlit's expander with on_change="rerun"):
# 28 of the form's 42 widgets, which every student's page drew on every run (open, each setting, Train) and
# which were most of a class's first render. Title -> the word in its state key ({key}_open_<word>).
FOLDED_SECTIONS = {_SCHED: "schedule", _REG: "regularisation", _AUG: "augmentation", _RES: "resolution",
                   _RUN: "run"}
assert set(FOLDED_SECTIONS) == {title for title, (_, expanded) in SECTIONS.items() if not expanded}

# The one widget table, in drawing order.
FORM: dict[str, Widget] = {
    "dataset": Widget(_DATA, "selectbox", "Dataset", lambda v: available_dataset_names(), wide=True,
                      help="Datasets available here (see the Data explorer for the others)."),
    "train_subset": Widget(_DATA, "select_slider", "Training images", SUBSET_CHOICES,
                           format=lambda v: "all" if v == 0 else f"{v:,}", help="Train on a random subset for quick demos."),
    "test_subset": Widget(_DATA, "select_slider", "Test images", TEST_SUBSET_CHOICES,
                          format=lambda v: "all" if v == 0 else f"{v:,}",
                          help="Score on a stratified subset of the test split (the same images every run): quicker, "
                               "a little noisier."),
    "val_fraction": Widget(_DATA, "slider", "Validation share", (0.0, 0.5, 0.05),
                           help="Held out from training to pick the best epoch."),
    "split_strategy": Widget(_DATA, "radio", "Split", help="Stratified keeps every class's share in both parts."),
    "model": Widget(_MODEL, "model", "Model", wide=True),
    "dropout": Widget(_MODEL, "optional_slider", "Dropout p", (0.0, 0.9, 0.05), wide=True, toggle="Override dropout",
                      unset=0.5, help="Set p of every dropout layer of the model."),
    "epochs": Widget(_OPT, "slider", "Epochs", lambda v: (1, max(50, int(v)), 1)),
    "batch_size": Widget(_OPT, "select_slider", "Batch size", BATCH_CHOICES),
    "lr": Widget(_OPT, "select_slider", "Learning rate", LR_CHOICES, format=_g),
    "optimizer": Widget(_OPT, "selectbox", "Optimizer"),
    "momentum": Widget(_OPT, "slider", "Momentum", (0.0, 0.99, 0.01), help="SGD and RMSprop.",
                       enabled=lambda v: v.get("optimizer") in ("sgd", "rmsprop")),
    "nesterov": Widget(_OPT, "checkbox", "Nesterov", help="SGD only.", enabled=lambda v: v.get("optimizer") == "sgd"),
    "loss": Widget(_OPT, "radio", "Loss", wide=True,
                   help="MSE and L1 compare softmax outputs with one-hot targets: see why cross-entropy wins."),
    "scheduler": Widget(_SCHED, "selectbox", "Schedule", format=lambda s: f"{s}: {SCHEDULE_HELP.get(s, '')}"),
    "warmup_epochs": Widget(_SCHED, "slider", "Warm-up epochs", (0, 10, 1), help="Linear warm-up from a tenth of the rate."),
    "early_stopping": Widget(_SCHED, "slider", "Early-stopping patience", (0, 20, 1),
                             help="Stop after this many epochs without better validation accuracy (0 = off)."),
    "step_size": Widget(_SCHED, "slider", "Step size (epochs)", (1, 50, 1), enabled=lambda v: v.get("scheduler") == "step"),
    "gamma": Widget(_SCHED, "slider", "Gamma", (0.05, 1.0, 0.05),
                    enabled=lambda v: v.get("scheduler") in ("step", "exponential", "plateau")),
    "plateau_patience": Widget(_SCHED, "slider", "Plateau patience", (0, 10, 1),
                               enabled=lambda v: v.get("scheduler") == "plateau"),
    "weight_decay": Widget(_REG, "select_slider", "Weight decay (L2)", WEIGHT_DECAY_CHOICES, format=_g),
    "l1": Widget(_REG, "select_slider", "L1 penalty", L1_CHOICES, format=_g,
                 help="Added to the loss: λ × Σ|w| over conv and linear weights."),
    "label_smoothing": Widget(_REG, "slider", "Label smoothing", (0.0, 0.5, 0.05)),
    "aug_hflip": Widget(_AUG, "checkbox", "Horizontal flip"),
    "aug_crop_padding": Widget(_AUG, "slider", "Crop padding (px)", (0, 8, 1),
                               help="Pad with zeros, then crop back at a random offset (random shifts)."),
    "aug_rotation": Widget(_AUG, "slider", "Rotation (°)", (0, 45, 1)),
    "aug_cutout": Widget(_AUG, "slider", "Cutout (px)", (0, 16, 1), help="Blank one random square of this side."),
    "aug_brightness": Widget(_AUG, "slider", "Brightness", (0.0, 0.9, 0.05)),
    "aug_contrast": Widget(_AUG, "slider", "Contrast", (0.0, 0.9, 0.05)),
    "aug_saturation": Widget(_AUG, "slider", "Saturation", (0.0, 0.9, 0.05)),
    "aug_scale": Widget(_AUG, "slider", "Zoom", (0.0, 0.5, 0.05)),
    "image_size": Widget(_RES, "size", "Network input size",
                         help="Resize every image to this size (the dataset's own when not set)."),
    "train_resolution": Widget(_RES, "size", "Train resolution",
                               help="Downsample training (and validation) images to this size."),
    "test_resolution": Widget(_RES, "size", "Test resolution",
                              help="Downsample test images to this size (the train resolution when not set)."),
    "resize_mode": Widget(_RES, "selectbox", "Downsampling filter"),
    "restore_size": Widget(_RES, "checkbox", "Resample back up to the input size",
                           help="Off: the network sees the small images directly (global-pooling networks)."),
    "flip_tta": Widget(_REG, "checkbox", "Test with flips (TTA)",
                       help="Average each test image's prediction with its mirror image's: free accuracy on "
                            "photos; wrong for digits and text."),
    "device": Widget(_RUN, "selectbox", "Device", DEVICES, help="auto = CUDA when there is a GPU."),
    "precision": Widget(_RUN, "selectbox", "Precision",
                        help="auto = bf16/fp16 autocast on CUDA, fp32 on CPU. bf16 on a CPU with bf16 units "
                             "(Intel AMX, AVX-512 BF16) trains about twice as fast."),
    "seed": Widget(_RUN, "number", "Seed", (0, 2 ** 31 - 1, 1)),
    "log_every": Widget(_RUN, "number", "Loss point every (steps)", (1, 1000, 1)),
    "name": Widget(_RUN, "text", "Run name (optional)", wide=True, extra={"max_chars": 80}),
}

# The TrainConfig fields the form sets (the aug_ rows all set `augment`).
FORM_FIELDS = frozenset("augment" if name.startswith(AUGMENT_PREFIX) else name for name in FORM)


def _state_names(name: str, widget: Widget) -> tuple[str, ...]:
    if widget.kind == "model":
        return ("model_source", "preset")
    if widget.kind == "optional_slider":
        return (f"{name}_on", name)
    return (name,)


# Every widget name the form uses (keys are f"{key}_{name}"), so a page can reset the form.
WIDGET_NAMES = tuple(n for name, widget in FORM.items() for n in _state_names(name, widget))
# What else the form keeps in session state under its key: which folded sections are open, and their values.
SECTION_STATE_NAMES = tuple(f"open_{word}" for word in FOLDED_SECTIONS.values()) + ("_folded_values",)


@functools.lru_cache(maxsize=None)  # get_type_hints evaluates every annotation: ~0.3 ms a row, ~30 rows a render
def _field_type(name: str) -> Any:
    """The annotated type behind a FORM row (Optional[X] -> X)."""
    if name.startswith(AUGMENT_PREFIX):
        hint = typing.get_type_hints(AugmentConfig)[name[len(AUGMENT_PREFIX):]]
    else:
        hint = typing.get_type_hints(TrainConfig)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 else hint


def _current(config: TrainConfig, name: str) -> Any:
    if name.startswith(AUGMENT_PREFIX):
        augment_field = name[len(AUGMENT_PREFIX):]
        return (config.augment or {}).get(augment_field, getattr(AugmentConfig(), augment_field))
    return getattr(config, name)


def _options(name: str, widget: Widget, value: Any) -> Any:
    options = widget.options(value) if callable(widget.options) else widget.options
    if options is None and not name.startswith(AUGMENT_PREFIX):
        options = TrainConfig.__dataclass_fields__[name].metadata.get("choices")
    return options


def _widget_value(name: str, widget: Widget, value: Any) -> Any:
    """A config value as the widget holds it (a slider's int or float, 0 for an unset size)."""
    if widget.kind == "size":
        return int(value or 0)
    if widget.kind in ("slider", "number", "optional_slider"):
        low = _options(name, widget, value)[0]
        return type(low)(widget.unset if value is None else value)
    if widget.kind == "checkbox":
        return bool(value)
    return value


def load_training_settings(key: str, config: TrainConfig) -> None:
    """Put `config` into the form's widgets. Call before training_settings(key, defaults=config) is
    drawn in this run. Values are written through st.session_state: a browser keeps its own widget
    values, and only state written this way overrides them (a changed `value=` default does not)."""
    for name, widget in FORM.items():
        if widget.kind == "model":
            _load_model(key, config)
            continue
        _load_field(key, name, widget, _current(config, name))
    # a folded section draws no widgets: what it holds until it is opened (see training_settings)
    st.session_state[_kept_key(key)] = {name: _current(config, name) for name, widget in FORM.items()
                                        if widget.section in FOLDED_SECTIONS}


def _load_field(key: str, name: str, widget: Widget, value: Any) -> None:
    """Put one config value into its widget(s) through st.session_state."""
    state = st.session_state
    if widget.kind == "optional_slider":
        state[f"{key}_{name}_on"] = value is not None
    state[f"{key}_{name}"] = _widget_value(name, widget, value)


def _kept_key(key: str) -> str:
    return f"{key}_{SECTION_STATE_NAMES[-1]}"


def _load_model(key: str, config: TrainConfig) -> None:
    state = st.session_state
    if isinstance(config.model, str):
        state[f"{key}_preset"] = config.model
        if isinstance(state.get("train_spec"), dict):
            state[f"{key}_model_source"] = PRESET_CHOICE
        else:
            state.pop(f"{key}_model_source", None)
    else:
        state[f"{key}_model_source"] = GIVEN_CHOICE
        state.pop(f"{key}_preset", None)


@st.cache_data(show_spinner=False)
def _presets() -> list[dict]:
    return list_presets()


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


def _with(choices: Sequence, value: Any) -> list:
    """The choices plus `value` (sorted in) when a default is not one of them."""
    options = list(choices)
    if value not in options:
        options = sorted(options + [value]) if isinstance(value, (int, float)) else options + [value]
    return options


def _draw(key: str, name: str, widget: Widget, defaults: TrainConfig, drawn: dict) -> Any:
    """Draws one FORM row; returns its value as the config holds it."""
    value = _current(defaults, name)
    kwargs: dict[str, Any] = {"key": f"{key}_{name}", "help": widget.help, **widget.extra}
    if widget.enabled is not None:
        kwargs["disabled"] = not widget.enabled(drawn)
    if widget.format is not None and widget.kind in ("select_slider", "selectbox", "radio"):
        kwargs["format_func"] = widget.format
    options = _options(name, widget, value)
    kind, label = widget.kind, widget.label
    if kind == "model":
        return _model_widget(key, defaults)
    if kind == "slider":
        low, high, step = options
        chosen = st.slider(label, low, high, _widget_value(name, widget, value), step, **kwargs)
    elif kind == "number":
        low, high, step = options
        chosen = st.number_input(label, min_value=low, max_value=high, value=_widget_value(name, widget, value),
                                 step=step, **kwargs)
    elif kind == "size":
        kwargs["help"] = (widget.help or "") + " 0 = not set."
        return int(st.number_input(label, min_value=0, max_value=512, step=1, value=int(value or 0), **kwargs)) or None
    elif kind == "optional_slider":
        on = st.checkbox(widget.toggle, value=value is not None, key=f"{key}_{name}_on", help=widget.help)
        if not on:  # drawn only when on: a greyed-out slider's label fails contrast (axe-core) and says nothing
            return None
        low, high, step = options
        kwargs.update(help=None)
        chosen = st.slider(label, low, high, _widget_value(name, widget, value), step, **kwargs)
        return float(chosen)
    elif kind == "select_slider":
        chosen = st.select_slider(label, _with(options, value), value=value, **kwargs)
    elif kind in ("selectbox", "radio"):
        choices = _with(options, value)
        if kind == "radio":
            kwargs.setdefault("horizontal", True)
        draw = st.selectbox if kind == "selectbox" else st.radio
        chosen = draw(label, choices, index=choices.index(value), **kwargs)
    elif kind == "checkbox":
        chosen = st.checkbox(label, value=bool(value), **kwargs)
    elif kind == "text":
        return str(st.text_input(label, value=value, **kwargs)).strip()
    else:
        raise ValueError(f"FORM[{name!r}]: unknown widget kind {kind!r}")
    kind_of_field = _field_type(name)
    return kind_of_field(chosen) if kind_of_field in (int, float, bool) else chosen


def training_settings(key: str, defaults: TrainConfig | None = None, show_model: bool = True,
                      show_dataset: bool = True) -> TrainConfig:
    """Widgets for every FORM row (keys f"{key}_<name>"); returns the config they describe.

    Fields whose widgets are hidden (show_model: the Model section; show_dataset: the dataset) keep
    their `defaults` value, as do fields the form has no row for."""
    d = defaults or TrainConfig()
    hidden = set() if show_model else {name for name, w in FORM.items() if w.section == _MODEL}
    if not show_dataset:
        hidden.add("dataset")
    drawn: dict[str, Any] = {}
    kept: dict[str, Any] = st.session_state.setdefault(_kept_key(key), {})
    for section, (n_columns, expanded) in SECTIONS.items():
        rows = [(name, widget) for name, widget in FORM.items() if widget.section == section and name not in hidden]
        if not rows:
            continue
        if section in FOLDED_SECTIONS:
            box = st.expander(section, key=f"{key}_open_{FOLDED_SECTIONS[section]}", on_change="rerun")
            if not box.open:  # folded: no widgets drawn, the values it held (or the defaults) stand
                for name, widget in rows:
                    drawn[name] = kept.get(name, _current(d, name))
                    for state_name in _state_names(name, widget):  # an old value written there must not
                        st.session_state.pop(f"{key}_{state_name}", None)  # come back over the kept one
                continue
            for name, widget in rows:  # opened again: its widgets were dropped while folded; give them back
                if name in kept and f"{key}_{name}" not in st.session_state:
                    _load_field(key, name, widget, kept[name])
        else:
            box = st.expander(section, expanded=expanded)
        with box:
            columns, used = [], n_columns
            for name, widget in rows:
                if widget.wide:
                    place, used = contextlib.nullcontext(), n_columns  # the next narrow row starts a new line
                else:
                    if used >= n_columns:
                        columns, used = st.columns(n_columns), 0
                    place, used = columns[used], used + 1
                with place:
                    drawn[name] = _draw(key, name, widget, d, drawn)
                if section in FOLDED_SECTIONS:
                    kept[name] = drawn[name]
    changes = {name: value for name, value in drawn.items() if not name.startswith(AUGMENT_PREFIX)}
    # Only the switched-on augmentations go in the config: short run tables and JSON.
    changes["augment"] = {name[len(AUGMENT_PREFIX):]: value for name, value in drawn.items()
                          if name.startswith(AUGMENT_PREFIX) and value}
    return dataclasses.replace(d, **changes)
