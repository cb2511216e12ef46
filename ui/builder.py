"""Session state and widgets of the architecture builder (the spec logic lives in cnnkit.models).

The edited spec is kept in st.session_state as a header (ab_name, ab_c, ab_h, ab_w, ab_classes,
the widgets' own keys) and a list of layer entries {"uid", "type", "params"}. Each entry has a
uid that never changes, so a layer's widgets keep their keys when layers are moved or removed.
"""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st

from cnnkit.models import LAYER_TYPES, LayerSpec, ModelSpec, ParamInfo, describe_layer, new_layer

LAYERS = "ab_layers"
SELECTED = "ab_selected"
PADDING_OPTIONS: list[Any] = [0, 1, 2, 3, 4, 5, "same"]


def _next_uid() -> int:
    uid = st.session_state.get("ab_next_uid", 0)
    st.session_state["ab_next_uid"] = uid + 1
    return uid


def _entry(layer: LayerSpec) -> dict:
    return {"uid": _next_uid(), "type": layer.type, "params": copy.deepcopy(layer.params)}


def load_spec_into_state(spec: ModelSpec) -> None:
    """Replace the edited spec (header widgets and layers); call from callbacks or before the widgets."""
    st.session_state["ab_name"] = spec.name
    st.session_state["ab_description"] = spec.description
    c, h, w = spec.input_shape
    st.session_state["ab_c"], st.session_state["ab_h"], st.session_state["ab_w"] = int(c), int(h), int(w)
    st.session_state["ab_classes"] = int(spec.num_classes)
    st.session_state[LAYERS] = [_entry(layer) for layer in spec.layers]
    st.session_state[SELECTED] = 0


# Widget keys whose values must survive a visit to another page: Streamlit drops the state of
# widgets that a run does not draw, so a copy is kept under a non-widget key.
HEADER_KEYS = ["ab_preset", "ab_name", "ab_c", "ab_h", "ab_w", "ab_classes"]


def keep_header_state() -> None:
    """Call at the top of every run, before the header widgets."""
    ss = st.session_state
    for key in HEADER_KEYS:
        if key in ss:
            ss[f"_keep_{key}"] = ss[key]
        elif f"_keep_{key}" in ss:
            ss[key] = ss[f"_keep_{key}"]


def current_spec() -> ModelSpec:
    """The spec as edited now (may be invalid; cnnkit.models says why)."""
    ss = st.session_state
    return ModelSpec(name=ss.get("ab_name") or "my_model",
                     input_shape=(int(ss["ab_c"]), int(ss["ab_h"]), int(ss["ab_w"])),
                     num_classes=int(ss["ab_classes"]),
                     layers=[LayerSpec(e["type"], copy.deepcopy(e["params"])) for e in ss[LAYERS]],
                     description=ss.get("ab_description", ""))


def _param_key(uid: int, name: str) -> str:
    return f"ab_p_{uid}_{name}"


# Values that say what a layer is; kept in the spec even when equal to the default.
_ALWAYS_KEEP = {"out_channels", "out_features", "kernel_size", "p"}


def sync_params_from_widgets() -> None:
    """Copy the layer widgets' values into the entries before anything reads them this run."""
    for entry in st.session_state.get(LAYERS, []):
        for param in LAYER_TYPES[entry["type"]].params if entry["type"] in LAYER_TYPES else ():
            key = _param_key(entry["uid"], param.name)
            if key not in st.session_state:
                continue
            value = st.session_state[key]
            if param.kind == "optional_int" and value == "= kernel":
                value = None
            if value == param.default and param.name not in _ALWAYS_KEEP:
                entry["params"].pop(param.name, None)
            else:
                entry["params"][param.name] = value


def layer_labels(error_index: int | None = None) -> list[str]:
    """"3 · Conv2d 3×3 → 64, pad 1" per layer; the layer an error names gets a warning sign."""
    return [f"{'⚠️ ' if i == error_index else ''}{i} · {describe_layer(LayerSpec(e['type'], e['params']))}"
            for i, e in enumerate(st.session_state[LAYERS])]


def _select(index: int) -> None:
    n = len(st.session_state[LAYERS])
    st.session_state[SELECTED] = max(0, min(index, n - 1)) if n else 0


def add_layer(layer_type: str, position: int) -> None:
    layers = st.session_state[LAYERS]
    position = max(0, min(position, len(layers)))
    layers.insert(position, _entry(new_layer(layer_type)))
    _select(position)


def remove_layer(index: int) -> None:
    st.session_state[LAYERS].pop(index)
    _select(index)


def move_layer(index: int, delta: int) -> None:
    layers = st.session_state[LAYERS]
    target = index + delta
    if 0 <= target < len(layers):
        layers[index], layers[target] = layers[target], layers[index]
        _select(target)


def duplicate_layer(index: int) -> None:
    layers = st.session_state[LAYERS]
    original = layers[index]
    layers.insert(index + 1, _entry(LayerSpec(original["type"], original["params"])))
    _select(index + 1)


def _fits(param: ParamInfo, value: Any) -> bool:
    """Whether a widget can show this value (a hand-edited JSON spec may hold anything)."""
    if param.kind == "bool":
        return isinstance(value, bool)
    if param.kind == "padding" and value == "same":
        return True
    if param.kind == "optional_int" and value == "= kernel":
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return param.kind == "float" or float(value).is_integer()


def _param_widget(entry: dict, param: ParamInfo) -> None:
    key = _param_key(entry["uid"], param.name)
    value = entry["params"].get(param.name, param.default)
    if param.kind == "optional_int":
        value = "= kernel" if value is None else value
    label = param.name.replace("_", " ")
    if key not in st.session_state:
        if not _fits(param, value):
            st.caption(f"{label}: {value!r} cannot be edited here; fix it in the JSON or remove the layer.")
            return
        st.session_state[key] = value if param.kind in ("bool", "padding", "optional_int", "float") else int(value)
    current = st.session_state[key]
    if param.kind == "bool":
        st.checkbox(label, key=key, help=param.help)
    elif param.kind == "padding":
        options = PADDING_OPTIONS + ([current] if current not in PADDING_OPTIONS else [])
        st.select_slider(label, options=options, key=key, help=param.help)
    elif param.kind == "optional_int":
        options: list[Any] = ["= kernel"] + list(range(1, int(param.maximum or 8) + 1))
        if current not in options:
            options.append(current)
        st.selectbox(label, options, key=key, help=param.help)
    elif param.kind == "float":
        low, high = min(float(param.minimum or 0.0), current), max(float(param.maximum or 10.0), current)
        if param.name == "p":
            st.slider(label, low, high, step=0.05, key=key, help=param.help)
        else:
            st.number_input(label, min_value=low, max_value=high, step=0.01, key=key, help=param.help)
    elif param.name in ("kernel_size", "stride", "dilation"):
        low, high = min(int(param.minimum or 1), current), max(int(param.maximum or 8), current)
        st.slider(label, low, high, key=key, help=param.help)
    else:  # channel and feature counts, groups; 0 is shown so that the error message can explain it
        low, high = min(1, current), max(int(param.maximum or 4096), current)
        st.number_input(label, min_value=low, max_value=high, step=1, key=key, help=param.help)


def layer_editor(index: int, is_last_linear: bool, num_classes: int) -> None:
    """Widgets for one layer's parameters plus move/duplicate/remove buttons."""
    layers = st.session_state[LAYERS]
    entry = layers[index]
    info = LAYER_TYPES.get(entry["type"])
    st.markdown(f"**Layer {index}: {info.label if info else entry['type']}** — "
                f"{info.description if info else 'unknown type'}")
    buttons = st.columns(4)
    buttons[0].button("↑ Up", key="ab_up", on_click=move_layer, args=(index, -1), disabled=index == 0,
                      width="stretch")
    buttons[1].button("↓ Down", key="ab_down", on_click=move_layer, args=(index, 1),
                      disabled=index == len(layers) - 1, width="stretch")
    buttons[2].button("Duplicate", key="ab_dup", on_click=duplicate_layer, args=(index,), width="stretch")
    buttons[3].button("Remove", key="ab_remove", on_click=remove_layer, args=(index,), width="stretch")
    if info is None:
        return
    params = list(info.params)
    if not params:
        st.caption("This layer has no settings.")
    cols = st.columns(2)
    for i, param in enumerate(params):
        with cols[i % 2]:
            if is_last_linear and param.name == "out_features":
                st.caption(f"out features: {num_classes} — the output layer always gets the number of classes.")
                continue
            _param_widget(entry, param)
