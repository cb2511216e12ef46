"""The sidebar every page shows: who you are (ui/identity.py), the device in use, and an About with the version and
the folders in use (cnnkit.install)."""

from __future__ import annotations

import streamlit as st

from cnnkit.device import DeviceInfo, describe_device
from cnnkit.install import locations
from ui.identity import render_identity


@st.cache_resource
def device_info() -> DeviceInfo:
    # Asking CUDA for its properties costs time; once per process is enough.
    return describe_device("auto")


def render_sidebar() -> None:
    info = device_info()
    with st.sidebar:
        render_identity()
        st.markdown(f"**Device:** {info.label()}")
        where = locations()
        with st.expander("About CNN Lab"):
            # Where this server keeps things (cnn-lab printed the same at start): a teacher's first question.
            st.caption(f"CNN Lab {where.version}, run from {where.source}.  \n"
                       + "  \n".join(f"{name}: `{value}`" for name, value in where.items()))
