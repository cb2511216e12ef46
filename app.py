"""CNN Lab: the entry point. `streamlit run app.py`."""

import streamlit as st

from ui.identity import class_config
from ui.privacy import retention_at_start
from ui.sidebar import render_sidebar

st.set_page_config(page_title="CNN Lab", page_icon="🧠", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/data_explorer.py", title="Data explorer", icon="🖼️"),
    st.Page("pages/architecture_builder.py", title="Architecture builder", icon="🧱"),
    st.Page("pages/training_runner.py", title="Training runner", icon="🏋️"),
    st.Page("pages/class_board.py", title="Class board", icon="🏆"),
    st.Page("pages/resolution_lab.py", title="Resolution lab", icon="🔍"),
    st.Page("pages/transfer_learning.py", title="Transfer learning", icon="🔁"),
    st.Page("pages/gradcam_viewer.py", title="Grad-CAM viewer", icon="🔥"),
    st.Page("pages/inside_network.py", title="Inside the network", icon="🔬"),
    st.Page("pages/lessons.py", title="Lessons", icon="🎓"),
]

# The class config (cnnlab.toml) may show only some pages; Home always.
config = class_config()
retention_at_start()  # cnnlab.toml's [privacy] retention_days, once per server process
page = st.navigation([p for p in PAGES if config.shows_page(p.title)])
render_sidebar()
page.run()
