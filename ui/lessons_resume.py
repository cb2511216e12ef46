"""A lesson's run that stopped before its end (the app or the machine restarted): the lesson page's offer to go on
with it (cnnkit.lessons.stopped_groups, go_on_with_group) instead of training its finished runs again."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from cnnkit import lessons
from ui.text import escape_markdown


def offer_going_on(lesson, owner: str, teacher: bool, on_going_on: Callable[[str], None]) -> None:
    """Say that a run of `lesson` stopped, with "Go on with it" (its owner or the teacher: the gate decides). Once it
    goes on, `on_going_on(group)` lets the page follow the group, and the page is drawn again."""
    stopped = next(iter(lessons.stopped_groups(lesson.id)), None)
    if stopped is None:
        return
    finished = sum(1 for entry in stopped.plan if lessons.planned_run_finished(entry))
    st.info(escape_markdown(
        f"A {stopped.mode}-mode run of this lesson stopped before its end ({finished} of {len(stopped.plan)} runs "
        "finished): the app or the machine restarted. Going on trains only what it had not finished; a stopped run "
        "goes on after its last finished epoch."))
    if not st.button("Go on with it", key=f"ls_resume_{lesson.id}"):
        return
    try:
        lessons.go_on_with_group(stopped.group, by=owner, teacher=teacher)
    except (ValueError, KeyError) as exc:
        st.error(escape_markdown(exc.args[0] if exc.args else exc))
        return
    on_going_on(stopped.group)
    st.rerun()  # drawn again as a run that goes on, without this offer
