"""Who is using this browser session: the owner of what it trains, and whether it is the teacher.

The owner is the signed-in user when Streamlit's OIDC login is configured (`[auth]` in
.streamlit/secrets.toml: st.login / st.user), otherwise the name the student typed once, kept in the
URL's query string (?name=…) so a reload keeps it. Nobody named: the guest (""), who may train unless
cnnlab.toml says `require_names = true`. The rules themselves live in cnnkit.classroom.
"""

from __future__ import annotations

import streamlit as st

from cnnkit.classroom import GUEST, clean_owner_name, is_teacher_password, load_classroom_config
from cnnkit.classroom.config import ClassroomConfig
from cnnkit.classroom.permissions import is_teacher_user

NAME_PARAM = "name"
OWNER = "cnnlab_owner"      # session state: the owner name (mirrors ?name=)
TEACHER = "cnnlab_teacher"  # session state: teacher mode unlocked


def class_config() -> ClassroomConfig:
    """The class config (cnnlab.toml), read on every run (a small file: the teacher's edits apply at once);
    a broken file means no limits, said once per session."""
    try:
        return load_classroom_config()
    except ValueError as exc:
        if not st.session_state.get("cnnlab_config_error_shown"):
            st.session_state["cnnlab_config_error_shown"] = True
            st.warning(f"The class config is ignored: {exc}")
        return ClassroomConfig()


def _signed_in_user() -> dict:
    """st.user's claims when OIDC login is configured and the user signed in; {} otherwise."""
    try:
        user = st.user.to_dict()
    except Exception:  # no script context or an older auth setup: treat as not signed in
        return {}
    return user if user.get("is_logged_in") else {}


def login_configured() -> bool:
    try:
        return "is_logged_in" in st.user.to_dict()
    except Exception:
        return False


def current_owner() -> str:
    """The owner of this session's runs and jobs ("" = a guest)."""
    user = _signed_in_user()
    if user:
        return str(user.get("email") or user.get("name") or user.get("sub") or GUEST)
    if OWNER not in st.session_state:
        typed = st.query_params.get(NAME_PARAM, "")
        try:
            st.session_state[OWNER] = clean_owner_name(typed) if typed else GUEST
        except ValueError:
            st.session_state[OWNER] = GUEST
    elif st.session_state[OWNER] and st.query_params.get(NAME_PARAM) != st.session_state[OWNER]:
        st.query_params[NAME_PARAM] = st.session_state[OWNER]  # page switches drop the query string
    return st.session_state[OWNER]


def is_teacher() -> bool:
    if st.session_state.get(TEACHER):
        return True
    config = class_config()
    return is_teacher_user(_signed_in_user().get("groups"), config.teacher_group)


def may_train() -> tuple[bool, str]:
    """Whether this session may start runs now, and why not."""
    if class_config().require_names and not current_owner():
        return False, "Type your name in the sidebar first: this class keeps everyone's runs apart by name."
    return True, ""


def _set_name() -> None:
    typed = st.session_state.get("cnnlab_name_input", "")
    try:
        name = clean_owner_name(typed)
    except ValueError as exc:
        st.session_state["cnnlab_name_error"] = str(exc)
        return
    st.session_state[OWNER] = name
    st.query_params[NAME_PARAM] = name


def _unlock_teacher() -> None:
    if is_teacher_password(st.session_state.get("cnnlab_teacher_pw", ""), class_config().teacher_password):
        st.session_state[TEACHER] = True
    else:
        st.session_state["cnnlab_teacher_error"] = "That is not the teacher password."


def render_identity() -> None:
    """The sidebar's 'who am I': sign-in or a name box, and the teacher unlock."""
    config = class_config()
    user = _signed_in_user()
    if user:
        st.markdown(f"**Signed in as** {current_owner()}")
        if st.button("Log out", key="cnnlab_logout"):
            st.logout()
    else:
        owner = current_owner()
        if login_configured() and st.button("Log in", key="cnnlab_login"):
            st.login()
        if owner:
            st.markdown(f"**You are** {owner}")
        st.text_input("Your name" if not owner else "Change your name", key="cnnlab_name_input",
                      on_change=_set_name, placeholder="e.g. Anna",
                      help="Your runs are saved under this name; it stays in the page address, so a reload keeps it.")
        if "cnnlab_name_error" in st.session_state:
            st.error(st.session_state.pop("cnnlab_name_error"))
    if is_teacher():
        st.success("Teacher mode")
        if st.session_state.get(TEACHER) and st.button("Leave teacher mode", key="cnnlab_teacher_off"):
            st.session_state[TEACHER] = False
            st.rerun()
    elif config.teacher_password:
        with st.expander("Teacher"):
            st.text_input("Teacher password", type="password", key="cnnlab_teacher_pw", on_change=_unlock_teacher)
            if "cnnlab_teacher_error" in st.session_state:
                st.error(st.session_state.pop("cnnlab_teacher_error"))
    if config.limits_text():
        st.caption(config.limits_text())


def identity_params() -> dict[str, str]:
    """The query parameters that carry this session's identity into a link it opens (a new tab starts a new
    session and knows only its URL): {"name": <typed name>} while a typed name is in use, {} for a guest or a
    signed-in user (their sign-in is the browser's own). ui/links.py adds these to every in-app link.
    (Helper C's identity work replaces this body with name + secret key at merge.)"""
    if _signed_in_user():
        return {}
    owner = current_owner()
    return {NAME_PARAM: owner} if owner else {}
