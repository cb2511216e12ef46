"""Inside the network, one click: the chosen unit (layer, channel, y, x) kept in st.session_state, the
connected overview of every layer, and the unit's window, receptive field and arithmetic.

One colour convention everywhere on the page: grey, black = the layer's lowest value, white = its highest
(cnnkit.inspect.channel_grid draws the Channels tab the same way). Marks: vermillion the unit, blue its
window in the layer below, orange its receptive field on the image (colour-blind-safe Okabe–Ito colours).
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from cnnkit.data.preview import display_factor, hwc_to_display
from cnnkit.inspect import INPUT, UnitTrace, draw_box, overview_rows, softmax_breakdown

UNIT_KEYS = ("in_unit_c", "in_unit_y", "in_unit_x")
OVERVIEW_KEY, FOCUS_KEY = "in_overview", "in_focus"
ROLE_COLOURS = {"unit": "#D55E00", "window": "#0072B2", "field": "#E69F00"}
ROLE_WIDTHS = {"": 0.0, "unit": 3.0, "window": 2.0, "field": 1.5}
GREYS = ["black", "white"]
LEGEND_NOTE = ("Grey: black = the layer's lowest value, white = its highest (the same on every tab). "
               "Vermillion: the unit · blue: what it reads in the layer below · orange: what it sees of the image.")


# ---- the chosen unit ----------------------------------------------------------------------------------------
def take_clicks(layer_key: str, layer_names: list[str]) -> None:
    """A new click on the overview or on the focus map moves the unit (and the layer picker) before the
    pickers are drawn. Each chart keeps its last selection across reruns: only a changed one is applied."""
    for chart_key in (OVERVIEW_KEY, FOCUS_KEY):
        state = st.session_state.get(chart_key)
        points = ((state or {}).get("selection") or {}).get("unit") or []
        if not points or st.session_state.get(f"{chart_key}_last") == points[0]:
            continue
        point = points[0]
        st.session_state[f"{chart_key}_last"] = point
        layer = point.get("layer")
        if layer == INPUT or (chart_key == OVERVIEW_KEY and layer not in layer_names):
            continue  # the image itself is not a unit of the network
        if chart_key == OVERVIEW_KEY:
            st.session_state[layer_key] = layer
            st.session_state["in_unit_c"] = int(point["channel"])
        st.session_state["in_unit_y"], st.session_state["in_unit_x"] = int(point["uy"]), int(point["ux"])


def pick_unit(shape: tuple[int, int, int], default_channel: int) -> tuple[int, int, int]:
    """Channel, y and x inputs for a map of `shape` (the keyboard path; clicks move them too)."""
    limits = [shape[0] - 1, shape[1] - 1, shape[2] - 1]
    defaults = [default_channel, shape[1] // 2, shape[2] // 2]
    for key, top, default in zip(UNIT_KEYS, limits, defaults):
        value = st.session_state.get(key, default)
        st.session_state[key] = min(max(int(value), 0), top)  # another layer: kept when it fits, else clamped
    columns = st.columns(3)
    labels = ("Channel", "y (row)", "x (column)")
    return tuple(int(column.number_input(label, 0, top, key=key))  # type: ignore[return-value]
                 for column, label, top, key in zip(columns, labels, limits, UNIT_KEYS))


# ---- charts -----------------------------------------------------------------------------------------------
def overview_chart(rows: list[dict], labels: dict[str, str], cell: int) -> alt.FacetChart:
    """Every layer's maps side by side (image first), a few channels per column, each map `cell` px square.
    A click on any unit selects it (selection "unit": layer, channel, uy, ux)."""
    frame = pd.DataFrame(rows)
    frame["head"] = frame["layer"].map(labels)
    pick = alt.selection_point(name="unit", fields=["layer", "channel", "uy", "ux"], on="click", clear=False)
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X("x:O", axis=None), y=alt.Y("y:O", axis=None),
        color=alt.Color("level:Q", scale=alt.Scale(domain=[0, 1], range=GREYS),
                        legend=alt.Legend(title="within a layer", values=[0, 1],
                                          labelExpr="datum.value == 0 ? 'lowest' : 'highest'")),
        stroke=alt.Stroke("role:N", scale=alt.Scale(domain=list(ROLE_COLOURS), range=list(ROLE_COLOURS.values())),
                          legend=alt.Legend(title="marked", values=list(ROLE_COLOURS))),
        strokeWidth=alt.StrokeWidth("role:N", scale=alt.Scale(domain=list(ROLE_WIDTHS),
                                                              range=list(ROLE_WIDTHS.values())), legend=None),
        tooltip=[alt.Tooltip("layer:N"), alt.Tooltip("channel:Q"), alt.Tooltip("uy:Q", title="y"),
                 alt.Tooltip("ux:Q", title="x"), alt.Tooltip("value:Q", format=".3f")],
    ).add_params(pick).properties(width=cell, height=cell).facet(
        column=alt.Column("head:N", sort=alt.SortField("order"), title=None,
                          header=alt.Header(labelAngle=0, labelLimit=cell + 12, labelFontSize=10)),
        row=alt.Row("slot:O", title=None, header=alt.Header(labels=False)), spacing=6,
    ).resolve_scale(x="independent", y="independent").properties(
        title="Every layer, left to right (the image first): click a unit").configure_legend(orient="bottom")


MAX_SIDE = 48  # units a side drawn in a detail map: a 224×224 map is shown as the 48×48 around its marks


def view_region(h: int, w: int, marks: dict[str, tuple[int, int, int, int]], side: int = MAX_SIDE) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the part of an h×w map to draw: all of it up to `side`, else `side`
    units a side centred on the marks (clipped to the map)."""
    tops, lefts = [m[0] for m in marks.values()] or [0], [m[1] for m in marks.values()] or [0]
    bottoms, rights = [m[2] for m in marks.values()] or [h - 1], [m[3] for m in marks.values()] or [w - 1]

    def span(first: int, last: int, n: int) -> tuple[int, int]:
        if n <= side:
            return 0, n - 1
        start = min(max(0, (first + last) // 2 - side // 2), n - side)
        return start, start + side - 1

    (top, bottom), (left, right) = span(min(tops), max(bottoms), h), span(min(lefts), max(rights), w)
    return top, left, bottom, right


def map_chart(values: np.ndarray, title: str, marks: dict[str, tuple[int, int, int, int]], size: int,
              value_range: tuple[float, float], selectable: bool = False) -> alt.Chart:
    """One (H, W) map as a square-celled grey heatmap `size` px on its longer side; marks: role → (top, left,
    bottom, right) cells outlined in the role's colour. Maps over MAX_SIDE units show the part around the marks."""
    top, left, bottom, right = view_region(*values.shape, marks)
    h, w = bottom - top + 1, right - left + 1
    part = f"rows {top}–{bottom}, columns {left}–{right} of {values.shape[0]}×{values.shape[1]}" \
        if (h, w) != values.shape else ""
    rows = []
    for yy in range(top, bottom + 1):
        for xx in range(left, right + 1):
            role = next((r for r, (t, l, b, rr) in marks.items() if t <= yy <= b and l <= xx <= rr), "")
            rows.append({"uy": yy, "ux": xx, "value": float(values[yy, xx]), "role": role, "layer": title})
    low, high = value_range if value_range[1] > value_range[0] else (value_range[0], value_range[0] + 1)
    chart = alt.Chart(pd.DataFrame(rows)).mark_rect().encode(
        x=alt.X("ux:O", title="x", axis=alt.Axis(values=_ticks(left, right))),
        y=alt.Y("uy:O", title="y", axis=alt.Axis(values=_ticks(top, bottom))),
        color=alt.Color("value:Q", scale=alt.Scale(domain=[low, high], range=GREYS), legend=alt.Legend(
            title="value", orient="bottom", gradientLength=max(80, size - 40))),
        stroke=alt.Stroke("role:N", scale=alt.Scale(domain=list(ROLE_COLOURS), range=list(ROLE_COLOURS.values())),
                          legend=None),
        strokeWidth=alt.StrokeWidth("role:N", scale=alt.Scale(domain=list(ROLE_WIDTHS),
                                                              range=list(ROLE_WIDTHS.values())), legend=None),
        tooltip=[alt.Tooltip("uy:Q", title="y"), alt.Tooltip("ux:Q", title="x"),
                 alt.Tooltip("value:Q", format=".3f")],
    ).properties(width=round(size * w / max(h, w)), height=round(size * h / max(h, w)),
                 title=alt.TitleParams(title, subtitle=part, anchor="start", limit=size + 40),
                 # "pad": width × height is the plot itself; Streamlit's default "fit" squeezes axes and legend
                 # into it, and a square map came out flat
                 autosize=alt.AutoSizeParams(type="pad", contains="padding"))
    if selectable:
        chart = chart.add_params(alt.selection_point(name="unit", fields=["uy", "ux"], on="click", clear=False))
    return chart


def _ticks(first: int, last: int) -> list[int]:
    step = max(1, -(-(last - first + 1) // 8))
    return list(range(first - first % step + (step if first % step else 0), last + 1, step))


# ---- the unit panel ---------------------------------------------------------------------------------------
def describe(trace: UnitTrace) -> str:
    """One line: the unit, its value, what it reads and what it sees (the e2e test reads it)."""
    text = f"Unit ({trace.channel}, {trace.y}, {trace.x}) of {trace.layer} = {trace.value:.4f}"
    w = trace.window
    if w is not None:
        below = "the image" if w.layer == INPUT else (w.layer or "its input")
        channels = f"channel {w.channels[0]}" if len(w.channels) == 1 else \
            f"channels {w.channels[0]}–{w.channels[-1]}"
        text += (f" · reads a {w.size} window of {below} (rows {w.top}–{w.bottom}, columns {w.left}–{w.right}, "
                 f"{channels}{', with zero padding' if w.padded else ''})")
    return text + "."


def render_unit_panel(trace: UnitTrace, acts, image_display: np.ndarray, normalised_image: np.ndarray,
                      size: int = 230) -> int:
    """The layer below with the window, the unit's own map (click to move within it), the image with the
    receptive field. Returns the input channel shown (the arithmetic shows the same one)."""
    st.markdown(describe(trace))
    left, middle, right = st.columns(3)
    shown_channel = trace.channel
    w = trace.window
    with left:
        if w is None or not w.layer:
            st.caption("This layer reads no fixed window of the layer below"
                       + (f": {trace.notes[0]}" if trace.notes else "."))
        else:
            below_values = normalised_image if w.layer == INPUT else acts.get(w.layer).values
            if st.session_state.get("in_ar_in") not in w.channels:
                st.session_state.pop("in_ar_in", None)  # another unit reads other channels: start at its first
            if len(w.channels) > 1:
                shown_channel = int(st.selectbox("Input channel", w.channels, key="in_ar_in",
                                                 help="the arithmetic below shows the same channel"))
            else:
                shown_channel = w.channels[0]
            title = f"{'image (normalised)' if w.layer == INPUT else w.layer} · channel {shown_channel}"
            st.altair_chart(map_chart(below_values[shown_channel], title,
                                      {"window": (w.top, w.left, w.bottom, w.right)}, size,
                                      (float(below_values.min()), float(below_values.max()))), width="content")
    with middle:
        values = acts.get(trace.layer).values
        st.altair_chart(map_chart(values[trace.channel], f"{trace.layer} · channel {trace.channel}",
                                  {"unit": (trace.y, trace.x, trace.y, trace.x)}, size,
                                  (float(values.min()), float(values.max())), selectable=True),
                        width="content", on_select="rerun", key=FOCUS_KEY, selection_mode="unit")
    with right:
        box = trace.box
        if box is None:
            st.caption(trace.notes[-1] if trace.notes else "No receptive field for this unit.")
        else:
            factor = display_factor(max(image_display.shape[:2]), size, fit_within=True)
            st.image(draw_box(hwc_to_display(image_display, size), box, colour=(230, 159, 0), factor=factor),
                     caption=f"Unit ({trace.channel}, {trace.y}, {trace.x}) of {trace.layer} sees rows "
                             f"{box.top}–{box.bottom}, columns {box.left}–{box.right}", width=size)
            st.caption(f"From the layers: a {box.rf}×{box.rf} window (the builder summary's receptive field), "
                       "clipped to the image." if box.method == "layers" else
                       "Measured: the input pixels whose gradient for this unit is not zero.")
    st.caption(LEGEND_NOTE)
    return shown_channel


# ---- the arithmetic ----------------------------------------------------------------------------------------
def normalisation_note(extra: dict, channel: int) -> str:
    """"normalised input (mean …, std …)" with the model's own numbers for one input channel."""
    mean, std = extra.get("mean") or [], extra.get("std") or []
    if channel < len(mean) and channel < len(std):
        return (f"normalised input (mean {mean[channel]:.3f}, std {std[channel]:.3f}): "
                f"(pixel / 255 − {mean[channel]:.3f}) / {std[channel]:.3f}")
    return "normalised input (the model's own normalisation)"


def _offset_labels(prefix: str, axis: str, positions: list[int]) -> list[str]:
    # kernel offsets, with the position each one reads in the layer below
    return [f"{prefix} {i} · {axis} {p}" if p >= 0 else f"{prefix} {i} · pad" for i, p in enumerate(positions)]


def render_arithmetic(trace: UnitTrace, extra: dict, in_channel: int, logits: np.ndarray,
                      classes: list[str]) -> None:
    b = trace.breakdown
    if b is None:
        st.info(" ".join(trace.notes) or f"{trace.layer} has no per-position arithmetic.")
    else:
        st.markdown(f"**{b.formula}**")
        below = trace.window.layer if trace.window else ""
        below_name = "the image" if below == INPUT else below or "the input"
        source = normalisation_note(extra, in_channel) if below == INPUT else f"{below or 'input'} values"
        if b.kind == "conv":
            index, columns = _offset_labels("dy", "y", b.rows), _offset_labels("dx", "x", b.cols)
            offset = in_channel - trace.window.channels[0] if trace.window else 0
            p1, p2, p3 = st.columns(3)
            for column, title, values in ((p1, f"Input patch: {source}", b.inputs), (p2, "Kernel weights", b.weights),
                                          (p3, "Patch × kernel", b.products)):
                column.caption(title)
                column.dataframe(pd.DataFrame(values[offset], index=index, columns=columns).round(4))
            st.caption(f"Rows and columns are kernel offsets (dy, dx); y and x say which position of {below_name} "
                       f"each one reads (pad: zero padding). Input channel {in_channel}: products sum to "
                       f"{b.products[offset].sum():.4f}; all {b.inputs.shape[0]} channels: {b.terms['sum']:.4f}.")
            st.markdown(f"Σ products **{b.terms['sum']:.5f}** + bias **{b.bias:.5f}** = **{b.value:.5f}**")
        elif b.kind in ("maxpool", "avgpool"):
            st.caption(f"The window: {source}, rows and columns are window offsets (dy, dx) and the position read.")
            st.dataframe(pd.DataFrame(b.inputs, index=_offset_labels("dy", "y", b.rows),
                                      columns=_offset_labels("dx", "x", b.cols)).round(4))
            st.markdown(f"= **{b.value:.5f}**")
        else:
            st.dataframe(pd.DataFrame({"term": list(b.terms), "value": list(b.terms.values())}), hide_index=True)
            st.markdown(f"= **{b.value:.5f}**")
        verdict = "equals" if b.matches else "differs from"
        (st.success if b.matches else st.error)(f"{b.value:.6f} {verdict} the network's value {b.framework_value:.6f}.")
    render_softmax(logits, classes)


def render_softmax(logits: np.ndarray, classes: list[str]) -> None:
    with st.expander("The final softmax: logits → probabilities"):
        soft = softmax_breakdown(logits)
        order = np.argsort(-soft.probabilities)[:10]
        st.dataframe(pd.DataFrame({"class": [classes[i] if i < len(classes) else str(i) for i in order],
                                   "logit z": soft.logits[order], "exp(z − max z)": soft.exponentials[order],
                                   "probability": soft.probabilities[order]}), hide_index=True)
        st.caption(f"p = exp(z − max z) / Σ exp(z − max z); the sum of all {len(soft.logits)} exponentials is "
                   f"{soft.exponentials.sum():.4f}.")


def overview_cell(sides: set[int], room: int, smallest: int = 40, largest: int = 88) -> int:
    """Map size in px for the overview: the largest that fits `room` and is a whole multiple of every map's side,
    so each unit is whole pixels (fractional units leave light seams between the cells); else what fits."""
    fits = max(smallest, min(largest, room))
    whole = [c for c in range(fits, smallest - 1, -1) if all(c % side == 0 for side in sides)]
    return whole[0] if whole else fits


def render_overview(acts, normalised_image: np.ndarray, trace: UnitTrace | None, layers: list[str],
                    channels: int, width: int = 1000) -> None:
    labels = {INPUT: "image"} | {name: f"{name} {acts.get(name).kind}" for name in layers}
    rows = overview_rows(acts, normalised_image, trace, channels_per_layer=channels, layers=layers)
    sides = {max(r["y"], r["x"]) + 1 for r in rows}
    cell = overview_cell(sides, width // (len(layers) + 1) - 10)
    st.altair_chart(overview_chart(rows, labels, cell), width="content", on_select="rerun", key=OVERVIEW_KEY,
                    selection_mode="unit")

