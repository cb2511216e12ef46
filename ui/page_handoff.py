"""Opening another page with settings loaded, from a button (the Lessons page's "open this arm in …").

    hand_off("pages/gradcam_viewer.py", {"gc_model": "run:/…/run-123"}, note="Lesson bn, arm Base CNN")

stores the values and switches page; the target page's first call, ensure_app_shell(), writes them into
st.session_state before any widget is drawn (the way a page loads settings itself), so its widgets open on
them. A training form is loaded with ui.train_settings.load_training_settings (train_settings=(prefix, config)).
The caller validates the values against the target's options; the target shows `note` once as plain text."""

from __future__ import annotations

from typing import Any, Optional

import streamlit as st

HANDOFF = "cnnlab_handoff"     # session state: {"page", "values", "train_settings", "note"} for the next page run
NOTE = "cnnlab_handoff_note"   # session state: the note the target page shows


def hand_off(page: str, values: dict[str, Any], note: str = "",
             train_settings: Optional[tuple[str, dict]] = None) -> None:
    """Store `values` (widget key -> value) for `page` and switch to it."""
    st.session_state[HANDOFF] = {"page": page, "values": dict(values), "note": note,
                                 "train_settings": train_settings}
    st.switch_page(page)


def apply_handoff() -> None:
    """Called by ensure_app_shell on every page run: the first run after hand_off writes its values."""
    pending = st.session_state.pop(HANDOFF, None)
    if not pending:
        return
    if pending.get("train_settings"):
        from cnnkit.train import TrainConfig
        from ui.train_settings import load_training_settings

        prefix, config = pending["train_settings"]
        try:
            load_training_settings(prefix, TrainConfig.from_dict(config))
        except (TypeError, ValueError) as exc:
            st.session_state[NOTE] = f"Those settings cannot be loaded: {exc}"
            return
    for key, value in pending.get("values", {}).items():
        st.session_state[key] = value
    if pending.get("note"):
        st.session_state[NOTE] = pending["note"]


def show_handoff_note() -> None:
    """The note of the settings just loaded (once), as plain text."""
    note = st.session_state.pop(NOTE, None)
    if note:
        from ui.text import escape_markdown

        st.info(escape_markdown(note))


__all__ = ["apply_handoff", "hand_off", "show_handoff_note"]
