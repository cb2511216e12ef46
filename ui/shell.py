"""Keeps every page inside app.py's navigation shell."""

from __future__ import annotations

import contextlib
import os
import threading

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


# Page runs at once in this server process (CNNLAB_RENDER_SLOTS; 0 = no limit). Streamlit runs every session's
# script in its own thread: 30 students opening pages together were 30 threads taking turns on one GIL, and a
# training run in the same process (the thread backend) got ~1/30 of the turns between its torch calls (0.31 of
# the CLI's speed while a class loaded its pages). With a few slots the pages render one after another (the first
# ones sooner, the last no later) and the training keeps its turns.
RENDER_SLOTS_ENV = "CNNLAB_RENDER_SLOTS"
RENDER_SLOTS = 2
RENDER_SLOT_WAIT_S = 5.0  # a page waits at most this long for a slot, then runs anyway (a slow page blocks no one)
_render_slots: tuple[int, threading.BoundedSemaphore] | None = None
_render_slots_lock = threading.Lock()


def _slots() -> threading.BoundedSemaphore | None:
    global _render_slots
    try:
        wanted = int(os.environ.get(RENDER_SLOTS_ENV, RENDER_SLOTS))
    except ValueError:
        wanted = RENDER_SLOTS
    if wanted <= 0:
        return None
    with _render_slots_lock:
        if _render_slots is None or _render_slots[0] != wanted:
            _render_slots = (wanted, threading.BoundedSemaphore(wanted))
        return _render_slots[1]


@contextlib.contextmanager
def render_slot(wait_s: float = RENDER_SLOT_WAIT_S):
    """Hold one of the server's page-run slots while the page runs (app.py wraps page.run() in it). Reruns of a
    fragment (a live panel's tick) do not run app.py and take no slot."""
    slots = _slots()
    held = slots.acquire(timeout=wait_s) if slots is not None else False
    try:
        yield
    finally:
        if held:
            slots.release()
