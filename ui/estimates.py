"""Time estimates before a run, on the pages: one click measures the network (cnnkit.train.estimate), the
answer is remembered per setting that changes the cost, and shown beside the button that starts the run."""

from __future__ import annotations

import json
from typing import Callable

import streamlit as st

from cnnkit.device import resolve_device
from cnnkit.formatting import format_seconds
from cnnkit.train import TrainConfig
from cnnkit.train.estimate import StepCost, estimate_training, measure_step_cost
from ui.datasets import cached_datasets

# Settings that do not change the time of one step: left out of the cache key.
_NOT_COST = ("epochs", "seed", "name", "train_subset", "val_fraction", "early_stopping", "log_every", "lr",
             "weight_decay", "momentum", "label_smoothing", "l1", "scheduler", "warmup_epochs", "test_resolution")


def _cost_key(config: TrainConfig) -> str:
    data = {k: v for k, v in config.to_dict().items() if k not in _NOT_COST}
    return json.dumps(data, sort_keys=True, default=str)


@st.cache_data(max_entries=64, show_spinner="Timing a few training steps (after a warm-up)…")
def _cached_cost(key: str, data_shape: tuple, num_classes: int, device: str) -> StepCost:
    return measure_step_cost(TrainConfig.from_dict(json.loads(key)), data_shape, num_classes, device)


def cached_measure(config: TrainConfig, data_shape: tuple, num_classes: int, device: str | None) -> StepCost:
    """measure_step_cost, remembered per process for the settings that change a step's time."""
    device_name = str(resolve_device(device or config.device))  # "auto" resolved: the key names the real device
    return _cached_cost(_cost_key(config), tuple(data_shape), int(num_classes), device_name)


def run_seconds(config: TrainConfig) -> float:
    """The estimated seconds of one run with these settings (the dataset's facts from the page's dataset list)."""
    info = next((d for d in cached_datasets() if d.name == config.dataset), None)
    return estimate_training(config, info=info, measure=cached_measure).total_seconds


def estimate_button(key: str, estimate: Callable[[], float], what: str = "this run") -> None:
    """A button that measures and shows "about N min" for `what`; the last answer stays under the button while
    the settings that produced it are unchanged (estimate() is called again when they change, and is cheap
    then: the measurement is cached)."""
    shown = st.session_state.get(f"{key}_shown")
    if st.button("Estimate the time", key=key, help=f"Times a few real training steps of {what} on this server "
                 "(after a warm-up: the first steps are slower) and scales them to the whole run."):
        shown = True
        st.session_state[f"{key}_shown"] = True
    if not shown:
        return
    try:
        seconds = estimate()
    except ValueError as exc:
        st.caption(f"No estimate: {exc}")
        return
    st.caption(f"Estimated time for {what}: **about {format_seconds(seconds)}** (measured on this server; loading "
               "the data not included; other runs on the same device make it slower).")
