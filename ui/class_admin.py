"""The teacher's class panel (on the Class board): join links with QR codes, claimed names, running jobs.

Join links: the teacher types the class's names; each free name is claimed for its student at once and its
link (?name=…&key=…) shown with a QR code to print or project. The key is shown only now (the server keeps
its hash only). A claimed name can be released (e.g. a student lost the link; the next session to use it
claims it again). Any single running job can be stopped. The job manager and the name claims check the
teacher again; this panel only shows for teacher sessions."""

from __future__ import annotations

import io
from urllib.parse import urlencode, urlsplit, urlunsplit

import segno
import streamlit as st

from cnnkit.classroom import claimed_names, release_name, use_name
from cnnkit.classroom.permissions import owner_label
from cnnkit.jobs import get_job_manager
from ui.identity import KEY_PARAM, NAME_PARAM, current_owner, is_teacher
from ui.text import plain

LINKS = "ca_links"  # session state: [(name, link)] made in this session (their keys are not kept elsewhere)


JOIN_TARGET = "ca_target"  # session state: where the join links land ("" = Home, else a lesson id)
LESSONS_PAGE = "pages/lessons.py"


def app_base_url() -> str:
    """This app's address without a page or query string: Home, where a join link lands unless it names a lesson."""
    try:
        url = st.context.url or ""
    except Exception:
        url = ""
    if not url:
        return "http://localhost:8501/"
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


def join_link(name: str, key: str, lesson_id: str = "") -> str:
    """The student's link: Home, or with `lesson_id` that lesson on the Lessons page (the class starts there)."""
    from ui.links import page_url_path

    if lesson_id:
        return (app_base_url() + page_url_path(LESSONS_PAGE) + "?"
                + urlencode({"lesson": lesson_id, NAME_PARAM: name, KEY_PARAM: key}))
    return app_base_url() + "?" + urlencode({NAME_PARAM: name, KEY_PARAM: key})


def qr_png(text: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=4, border=2)
    return buffer.getvalue()


def _make_links() -> None:
    links, problems = [], []
    for line in st.session_state.get("ca_names", "").splitlines():
        if not line.strip():
            continue
        try:
            name, key = use_name(line, "", teacher=is_teacher())  # the teacher's links claim names with saved work
        except ValueError as exc:  # taken already, or not a name
            problems.append(f"{plain(line, 60)}: {plain(exc)}")
        else:
            links.append((name, join_link(name, key, st.session_state.get(JOIN_TARGET) or "")))
    st.session_state[LINKS] = links
    st.session_state["ca_problems"] = problems


def _lesson_titles() -> dict[str, str]:
    """"" (Home) and every lesson id -> what the choice shows."""
    from cnnkit import lessons

    try:
        listed = lessons.list_lessons()
    except (OSError, ValueError):   # a damaged course: the links still land on Home
        listed = []
    return {"": "Home", **{lesson.id: f"Lesson: {lesson.title}" for lesson in listed}}


def render_join_links() -> None:
    st.text_area("The class's names, one per line", key="ca_names", placeholder="Anna\nBen\nCleo")
    titles = _lesson_titles()
    st.selectbox("The links open", list(titles), format_func=titles.get, key=JOIN_TARGET,
                 help="Home, or a lesson: the class starts on it, each student under their own name.")
    st.button("Make join links", key="ca_make", on_click=_make_links,
              help="Each name is kept for its student: only the link's holder can use it.")
    for problem in st.session_state.pop("ca_problems", []):
        st.warning(problem + " (release it below to make a new link)")
    links = st.session_state.get(LINKS, [])
    if links:
        st.caption("Print or project these now: a link's key is shown only once.")
    columns = st.columns(4)
    for index, (name, link) in enumerate(links):
        with columns[index % 4]:
            st.text(name)
            st.image(qr_png(link), width=160)
            st.code(link, language=None)


def render_claimed_names() -> None:
    names = claimed_names()
    if not names:
        st.caption("No names claimed yet.")
    for index, row in enumerate(names):
        left, right = st.columns([3, 1])
        left.text(row["name"])
        if right.button("Release", key=f"ca_release_{index}", help="Frees the name: the next one to use it keeps it."):
            if is_teacher():
                release_name(row["name"])
                st.rerun()


def render_running_jobs() -> None:
    manager = get_job_manager()
    active = manager.active()
    if not active:
        st.caption("Nothing is training or queued.")
    for snap in active:
        left, right = st.columns([3, 1])
        left.text(f"{owner_label(snap.owner, 'guest')} · {snap.label} · {snap.status}")
        if right.button("Stop", key=f"ca_stop_{snap.job_id}"):
            try:
                manager.cancel(snap.job_id, by=current_owner(), teacher=is_teacher())  # the gate checks again
            except (ValueError, KeyError) as exc:
                st.error(str(exc))
            else:
                st.toast("Stopping…")


def render_class_admin() -> None:
    """The panel, for teacher sessions only."""
    if not is_teacher():
        return
    with st.expander("Teacher: join links, names, running jobs"):
        st.subheader("Join links", anchor=False)
        render_join_links()
        st.subheader("Claimed names", anchor=False)
        render_claimed_names()
        st.subheader("Running jobs", anchor=False)
        render_running_jobs()
