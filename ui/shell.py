"""Keeps every page inside app.py's navigation shell."""

from __future__ import annotations

import streamlit as st

import cnnkit.transfer  # noqa: F401  registers the "transfer" model kind: every page can load transfer runs
from ui.images import install_image_alt_text


def ensure_app_shell() -> None:
    """Call first in every page.

    Streamlit decides once per process whether the app is an old-style `pages/` folder app; it
    settles that only when app.py calls st.navigation. When the very first visitor after a server
    start opens a deep link (/data_explorer), Streamlit runs the page file alone, skipping app.py
    (no sidebar, wrong page list), and stays in that mode for everyone. Switching the flag off and
    rerunning puts the request through app.py, which then shows the same page.

    Only a session's first run is rerun: a rerun drops the widget events of the run it replaces
    (AppTest resets the flag before every run, so later runs there simply go on).
    """
    from streamlit.runtime.pages_manager import PagesManager

    install_image_alt_text()  # every picture gets alt text (its caption): screen readers, axe-core
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if not st.session_state.get("_cnnlab_shell_checked"):
            st.session_state["_cnnlab_shell_checked"] = True
            st.rerun()
    # Settings another page handed over with ui.page_handoff.hand_off (e.g. a lesson's arm): before any widget.
    from ui.page_handoff import apply_handoff, show_handoff_note

    apply_handoff()
    show_handoff_note()
