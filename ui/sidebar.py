"""The sidebar every page shows: who you are (ui/identity.py), the device in use and the folders in use."""

from __future__ import annotations

import streamlit as st

from cnnkit.device import DeviceInfo, describe_device
from cnnkit.paths import checkpoint_dir, data_dir
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
        st.caption(f"Data: `{data_dir()}`  \nCheckpoints: `{checkpoint_dir()}`")
