"""The Lessons page's pieces before the results: the index by topic, one lesson's question and notes, its arms'
settings side by side, and Predict first. Lesson text comes from files (a teacher's too): shown as plain text."""

from __future__ import annotations

from typing import Optional, Sequence

import pandas as pd
import streamlit as st

from cnnkit import lessons
from cnnkit.classroom.identity import same_person
from cnnkit.train.compare import format_setting
from ui.text import escape_markdown

STATUS_LABELS = {"not run": "not run", "running": "running…", "stopped": "stopped: go on from its page",
                 "results": "your results", "shipped results": "shipped results"}
DIFFERS = "differs"


def lesson_label(lesson) -> str:
    where = f" · report {lesson.section or lesson.report}" if (lesson.section or lesson.report) else ""
    mine = " · a lesson file of this class" if lesson.source == "teacher" else ""
    return f"{lesson.title}{where}{mine}"


def render_index(all_lessons: Sequence, statuses: dict[str, str], page: str,
                 verdicts: Optional[dict[str, dict[str, str]]] = None) -> None:
    """The course at a glance (one table: status and the verdict per mode), then every lesson grouped by topic (in
    the course's topic order), each a link with its status."""
    by_topic = lessons.lessons_by_topic(list(all_lessons))
    verdicts = verdicts or {}
    st.dataframe([{"topic": topic, "lesson": lesson.title, "report": lesson.section or lesson.report,
                   "status": STATUS_LABELS.get(statuses.get(lesson.id, "not run"), ""),
                   **{f"verdict ({mode})": verdicts.get(lesson.id, {}).get(mode, lessons.verdict.NOT_RUN)
                      for mode in lessons.MODES}}
                  for topic, members in by_topic.items() for lesson in members],
                 hide_index=True, width="stretch",
                 column_config={"report": st.column_config.TextColumn(width="small")})   # room for the verdicts
    st.caption("Verdict: does our result show the report's direction, each arm against the first? reproduced, not "
               "reproduced, or within noise (our seeds' spread is larger than the difference); \"1 seed\": no spread "
               "to judge noise by. A one-arm lesson has nothing to compare: its full-mode cell gives our test accuracy "
               "and the report's (same settings).")
    for topic, members in by_topic.items():
        st.header(topic.capitalize())  # h2 under the page title (axe: heading order)
        for lesson in members:
            cols = st.columns([5, 1])
            with cols[0]:
                st.page_link(page, label=escape_markdown(lesson_label(lesson)), query_params={"lesson": lesson.id})
                st.caption(escape_markdown(lesson.question))
            status = statuses.get(lesson.id, "not run")
            cols[1].caption(STATUS_LABELS.get(status, status))


def render_header(lesson) -> None:
    st.header(escape_markdown(lesson.title))
    st.markdown("**The question:** " + escape_markdown(lesson.question))
    facts = [f"Topic: {lesson.topic}"]
    if lesson.report:
        facts.append(f"report {lesson.report}" + (f", section {lesson.section}" if lesson.section else ""))
    if lesson.source == "teacher":
        facts.append("a lesson file of this class")
    st.caption(escape_markdown(" · ".join(facts)))


def render_notes(lesson) -> None:
    """What we filled in, where the report contradicts itself, and what runs instead of the original."""
    for title, items, show in (("Where the report is inconsistent", lesson.inconsistencies, st.warning),
                               ("Substitutes (the original is not available offline)", lesson.substitutes, st.info),
                               ("Values the report does not give, and what we use", lesson.filled_in, st.info)):
        if items:
            show(f"**{title}**\n\n" + "\n".join(f"- {escape_markdown(item)}" for item in items))


def settings_table(lesson, mode: str) -> pd.DataFrame:
    """One row per setting, one column per arm (the settings `mode` trains with), and a column that says
    in words whether the arms differ there. Settings that differ come first."""
    arms = lesson.arms
    per_arm = []
    for arm in arms:
        settings = dict(arm.train_settings(mode))
        if arm.kind == "resolution_lab":
            lab = arm.config if mode == "full" else {**arm.config, **{k: v for k, v in arm.quick.items()
                                                                     if k in ("resolutions", "mode", "native_size")}}
            for name in ("resolutions", "mode", "native_size"):
                if name in lab:
                    settings[f"lab: {name}"] = lab[name]
        per_arm.append(settings)
    names = list(dict.fromkeys(name for settings in per_arm for name in settings if name not in ("name", "device")))
    rows = []
    for name in names:
        shown = [format_setting(s.get(name, "—")) for s in per_arm]
        rows.append({"setting": name, **{_column(arm, arms): value for arm, value in zip(arms, shown)},
                     DIFFERS: "yes" if len(set(shown)) > 1 else ""})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(DIFFERS, ascending=False, kind="stable").reset_index(drop=True)


def _column(arm, arms) -> str:
    labels = [a.label for a in arms]
    return arm.label if labels.count(arm.label) == 1 else f"{arm.label} ({arm.id})"


def render_arms(lesson, mode: str) -> None:
    st.subheader("The arms")
    labels = {arm.id: arm.label for arm in lesson.arms}
    for arm in lesson.arms:
        if arm.description:
            st.caption(escape_markdown(f"{arm.label}: {arm.description}"))
        if arm.start_from:
            st.caption(escape_markdown(f"{arm.label} starts from the trained network of “{labels[arm.start_from]}” "
                                       "(its run of the same seed; this arm's run waits for it)."))
    frame = settings_table(lesson, mode)
    if frame.empty:
        return
    # Colour and a word: rows where the arms differ are shaded and say "yes" in the last column.
    styled = frame.style.apply(
        lambda row: ["background-color: #fff3bf; font-weight: 600" if row[DIFFERS] else "" for _ in row], axis=1)
    st.dataframe(styled, hide_index=True, width="stretch")
    st.caption(f"Settings of {mode} mode; the shaded rows (differs = yes) are what this lesson changes.")
    if lesson.defaulted:
        taken = ", ".join(f"{name} {format_setting(value)}" for name, value in lesson.defaulted.items())
        st.caption(escape_markdown(f"Not set in the lesson's file, so the lessons' defaults: {taken} (see "
                                   "docs/lessons.md); set them in the file's [defaults] to change them."))


# --- Predict first -------------------------------------------------------------------------------
def render_class_guesses(lesson) -> None:
    """For the teacher, before and after the run: every guess of the class with its margin (not only a count)."""
    guesses = lessons.predictions(lesson.id)
    if not guesses:
        st.caption("No guesses from the class yet.")
        return
    labels = {arm.id: arm.label for arm in lesson.arms}
    st.caption(f"The class's guesses ({len(guesses)}):")
    st.dataframe(pd.DataFrame([{"student": g.get("owner") or "guest",
                                "guessed arm": labels.get(g.get("arm_id"), g.get("arm_id")),
                                "by (points)": float(g.get("margin_points", 0.0))} for g in guesses]),
                 hide_index=True, width="stretch",
                 column_config={"by (points)": st.column_config.NumberColumn(format="%.1f")})

def revealed_key(lesson_id: str) -> str:
    return f"ls_revealed_{lesson_id}"


def own_prediction(lesson_id: str, owner: str) -> Optional[dict]:
    """This owner's latest recorded guess for the lesson, if any (a guest's are kept per session only)."""
    if not owner:
        return st.session_state.get(f"ls_guess_{lesson_id}")
    mine = [p for p in lessons.predictions(lesson_id) if same_person(p.get("owner"), owner)]
    return mine[-1] if mine else None


def render_predict_first(lesson, owner: str) -> bool:
    """Before the results: record a guess (which arm wins, by how many points of test accuracy) or skip.
    Returns whether the results may be shown now."""
    if st.session_state.get(revealed_key(lesson.id)) or own_prediction(lesson.id, owner):
        return True
    st.subheader("Predict first")
    st.caption("Before you see the results: which arm ends with the higher test accuracy, and by how many "
               "percentage points? Your guess is kept for the class discussion.")
    labels = {arm.id: arm.label for arm in lesson.arms}
    cols = st.columns([2, 1])
    winner = cols[0].radio("Which arm wins?", list(labels), format_func=lambda a: escape_markdown(labels[a]),
                           key=f"ls_pred_arm_{lesson.id}", horizontal=len(labels) <= 3)
    margin = cols[1].number_input("By how many points?", min_value=0.0, max_value=100.0, value=2.0, step=0.5,
                                  key=f"ls_pred_margin_{lesson.id}",
                                  help="Test accuracy of the winner minus the next best arm's, in percentage points.")
    buttons = st.columns(2)
    if buttons[0].button("Record my guess and show the results", type="primary", key=f"ls_pred_save_{lesson.id}"):
        try:
            if owner:  # a guest's guess stays in this tab (every guest their own); a name's is kept for the class
                lessons.record_prediction(lesson.id, owner, winner, float(margin), arm_ids=list(labels))
        except ValueError as exc:
            st.error(escape_markdown(exc))
            return False
        st.session_state[f"ls_guess_{lesson.id}"] = {"owner": owner, "arm_id": winner, "margin_points": float(margin)}
        st.session_state[revealed_key(lesson.id)] = True
        st.rerun()
    if buttons[1].button("Skip: show the results", key=f"ls_pred_skip_{lesson.id}"):
        st.session_state[revealed_key(lesson.id)] = True
        st.rerun()
    return False


__all__ = ["render_arms", "render_class_guesses", "render_header", "render_index", "render_notes", "render_predict_first",
           "settings_table"]
