"""Charts every student can read: a title, a text alternative, the numbers as a table (a screen reader cannot
read a picture of a chart), and one colour-blind-safe palette for classes.

CLASS_PALETTE is the one place the classes' colours are chosen: Okabe & Ito's 8 colours (distinguishable with
protanopia, deuteranopia and tritanopia), then Paul Tol's "muted" colours for classes 9-16; past 16 classes
colours repeat and the legend/tooltip names the class.
"""

from __future__ import annotations

import copy

import altair as alt
import pandas as pd
import streamlit as st

CLASS_PALETTE = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",  # Okabe-Ito
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",  # Tol muted
]


def class_colours(classes: list[str]) -> alt.Scale:
    """An Altair colour scale giving each class its palette colour, in class order (the same class keeps its
    colour on every chart of a run)."""
    return alt.Scale(domain=list(classes), range=[CLASS_PALETTE[i % len(CLASS_PALETTE)] for i in range(len(classes))])


def chart_data(chart) -> pd.DataFrame | None:
    """The numbers a chart draws: its own data, or the largest data of its layers (a diagonal line or a text
    layer carries no numbers of its own)."""
    frames = []
    for part in [chart, *getattr(chart, "layer", []), *getattr(chart, "hconcat", []), *getattr(chart, "vconcat", [])]:
        data = getattr(part, "data", None)
        if isinstance(data, pd.DataFrame):
            frames.append(data)
    return max(frames, key=len) if frames else None


def chart_spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite spec (its data as Arrow bytes) st.altair_chart sends for `chart`. Building and validating an
    Altair chart costs ~10 ms of CPU; a chart that is the same for every session (Home's demo curves) is built once
    per server (st.cache_resource) and drawn from its spec: show_chart(chart_spec(chart), data)."""
    try:  # what st.altair_chart itself calls (Streamlit's theme and Arrow data); plain JSON data if it moves
        from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec
    except ImportError:
        return chart.to_dict()
    return _convert_altair_to_vega_lite_spec(chart)


def show_chart(chart, data: pd.DataFrame | None = None, title: str | None = None, description: str | None = None,
               key: str | None = None, table: bool = True, **kwargs):
    """st.altair_chart that every student can read: a title (the chart's own when None), a description (the
    chart's ARIA label and a caption: the text alternative), and the numbers in a table under "Numbers as a
    table" (data: the chart's own when None). `chart` may be an Altair chart or a spec from chart_spec (then give
    `data`, a DataFrame or, built once with the spec, a pyarrow Table). Returns what st.altair_chart returns (the
    selection event with on_select)."""
    properties = {k: v for k, v in (("title", title), ("description", description)) if v}
    if isinstance(chart, dict):  # a spec built once: a copy (Streamlit edits the spec it is given)
        chart = {**copy.deepcopy(chart), **properties}
        event = st.vega_lite_chart(spec=chart, width="stretch", key=key, **kwargs)
    else:
        if properties:
            chart = chart.properties(**properties)
        event = st.altair_chart(chart, width="stretch", key=key, **kwargs)
    if description:
        st.caption(description)
    data = chart_data(chart) if data is None and not isinstance(chart, dict) else data
    if table and data is not None:
        label = title or _title_text(chart) or "Chart"
        with st.expander(f"{label}: numbers as a table"):
            st.dataframe(data, hide_index=True, width="stretch")
    return event


def _title_text(chart) -> str:
    title = chart.get("title") if isinstance(chart, dict) else getattr(chart, "title", None)
    if isinstance(title, str):
        return title
    text = getattr(title, "text", None)
    return text if isinstance(text, str) else ""
