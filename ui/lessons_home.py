"""Home's "The course" block: the lessons whose results ship with the install, each a link to the Lessons page
(a teacher's first screen is the course, not an empty form). pages/home.py calls render_course_section()."""

from __future__ import annotations

import streamlit as st

from ui.links import in_navigation
from ui.text import escape_markdown

LESSONS_PAGE = "pages/lessons.py"


@st.cache_resource(ttl=60, show_spinner=False)  # one copy per server, shared by every session: never changed
def shipped_lessons() -> list[dict]:
    """{id, title, topic, modes, question, label, caption} of every lesson with shipped results, by topic (read
    once a minute: the shipped files change only with the install); label and caption are the link's text, escaped
    once here (escaping ~40 texts cost every session's Home a few ms)."""
    from cnnkit import lessons

    out = []
    for lesson in [x for members in lessons.lessons_by_topic().values() for x in members]:
        modes = [mode for mode in ("full", "quick") if lessons.shipped_result(lesson.id, mode) is not None]
        if modes:
            out.append({"id": lesson.id, "title": lesson.title, "topic": lesson.topic, "modes": modes,
                        "question": lesson.question, "label": escape_markdown(f"{lesson.title} ({lesson.topic})"),
                        "caption": escape_markdown(f"{lesson.question} · results: {', '.join(modes)}")})
    return out


def render_course_section() -> None:
    """The course's lessons with shipped results, grouped by topic; nothing when none ship."""
    try:
        shipped = shipped_lessons()
    except (OSError, ValueError) as exc:  # a damaged install: Home still opens
        st.caption(f"The course's lessons cannot be listed: {exc}")
        return
    if not shipped or not in_navigation(LESSONS_PAGE):  # a class config may hide the Lessons page
        return
    st.subheader("The course")
    st.caption("The course's lab experiments with our results beside the report's, ready to open: ask the class to "
               "predict, then run one live in quick mode.")
    cols = st.columns(2)
    for index, item in enumerate(shipped):
        with cols[index % 2]:
            st.page_link(LESSONS_PAGE, label=item["label"], query_params={"lesson": item["id"]}, icon="🎓")
            st.caption(item["caption"])
    st.page_link(LESSONS_PAGE, label="All lessons", icon="📚")


def pinned_lesson_link(lesson_id: str) -> None:
    """A lesson the teacher pinned (cnnkit.classroom pins of kind "lesson"), as a link to it on the Lessons page."""
    from cnnkit import lessons

    try:
        title = lessons.get_lesson(lesson_id).title
        if not in_navigation(LESSONS_PAGE):
            raise KeyError(lesson_id)
    except KeyError:
        st.caption(escape_markdown(f"📌 Lesson {lesson_id}: no longer in the course or the class's lesson files"))
        return
    st.page_link(LESSONS_PAGE, label=escape_markdown(f"Lesson: {title}"), query_params={"lesson": lesson_id},
                 icon="📌")


__all__ = ["pinned_lesson_link", "render_course_section", "shipped_lessons"]
