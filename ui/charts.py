"""Charts every student can read: a title, a text alternative, the numbers as a table (a screen reader cannot
read a picture of a chart), and one colour-blind-safe palette for classes.

CLASS_PALETTE is the one place the classes' colours are chosen: Okabe & Ito's 8 colours (distinguishable with
protanopia, deuteranopia and tritanopia), then Paul Tol's "muted" colours for classes 9-16; past 16 classes
colours repeat and the legend/tooltip names the class.
"""

from __future__ import annotations

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


def show_chart(chart: alt.Chart, data: pd.DataFrame, title: str, description: str, key: str | None = None,
               table: bool = True, **kwargs):
    """st.altair_chart with a title, a description (the chart's ARIA label and a caption: the text alternative)
    and, when the chart is the only carrier of its numbers, the numbers in a table under "Numbers as a table".
    Returns what st.altair_chart returns (a selection event when on_select is given)."""
    event = st.altair_chart(chart.properties(title=title, description=description), width="stretch", key=key,
                            **kwargs)
    st.caption(description)
    if table:
        with st.expander(f"{title}: numbers as a table"):
            st.dataframe(data, hide_index=True, width="stretch")
    return event
