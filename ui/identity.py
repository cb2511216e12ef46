"""Who is using this browser session: the owner of what it trains, and whether it is the teacher.

The owner is the signed-in user when Streamlit's OIDC login is configured (`[auth]` in
.streamlit/secrets.toml: st.login / st.user): the strong path. Otherwise a student types a name, which
is claimed (cnnkit.classroom.names): the first session that uses a name gets a secret key, kept in the
page's link next to it (?name=Anna&key=…) so a reload and page switches keep it; another session using
the name without the key is refused. Nobody named: the guest (""), who may train unless cnnlab.toml says
`require_names = true`.

Teacher mode: the password (hashed, rate-limited: cnnkit.classroom.teacher) opens a teacher session whose
token the browser keeps in a cookie, never in a link, so a reload keeps teacher mode and a shared link
never carries it. The rules themselves live in cnnkit.classroom; this module only says who asks.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlencode, urlsplit

import streamlit as st

from cnnkit.classroom import (GUEST, NAME_TAKEN, Actor, ConfigError, clean_owner_name, load_classroom_config,
                              use_name)
import cnnkit.jobs  # noqa: F401  (registers the shared class state's store: cnnkit.classroom.class_state)
from cnnkit.classroom.class_state import teacher_guard
from cnnkit.classroom.config import ClassroomConfig
from cnnkit.classroom.permissions import TEACHER_OWNER, is_teacher_user
from cnnkit.classroom.teacher import SESSION_S
from ui.teacher_cookie import COOKIE_PATH, MOUNTED
from ui.text import plain

NAME_PARAM = "name"
KEY_PARAM = "key"
OWNER = "cnnlab_owner"            # session state: the owner name (mirrors ?name=)
OWNER_KEY = "cnnlab_owner_key"    # session state: the claimed name's key (mirrors ?key=)
TEACHER = "cnnlab_teacher"        # session state: this session's teacher token
TEACHER_COOKIE = "cnnlab_teacher"
_COOKIE_TODO = "cnnlab_teacher_cookie"  # session state: a cookie to set ("" = clear) on the next render


def class_config() -> ClassroomConfig:
    """The class config (cnnlab.toml), read on every run (a small file: the teacher's edits apply at once).
    A wrong file stops the page with its error: the app never runs without the limits the teacher set."""
    try:
        return load_classroom_config()
    except ConfigError as exc:
        st.error(f"CNN Lab's class config is wrong, so nothing runs until it is fixed: {exc}")
        st.stop()
        raise  # st.stop() raises; never reached


# Whether secrets.toml has an [auth] section, asked of Streamlit at most every LOGIN_CHECK_S per server. Without a
# secrets file every st.user read opens the secrets paths again under Streamlit's one secrets lock: three reads per
# page run, and a class's first renders queued on that lock (a fifth of their wall time with 30 students).
LOGIN_CHECK_S = 30.0
_login_checked: list = [float("-inf"), False]  # [when (monotonic), configured]


def login_configured() -> bool:
    now = time.monotonic()
    if now - _login_checked[0] > LOGIN_CHECK_S:
        try:
            configured = "is_logged_in" in st.user.to_dict()
        except Exception:  # no script context or an older auth setup: no login
            configured = False
        _login_checked[:] = [now, configured]
    return bool(_login_checked[1])


def _signed_in_user() -> dict:
    """st.user's claims when OIDC login is configured and the user signed in; {} otherwise."""
    if not login_configured():
        return {}
    try:
        user = st.user.to_dict()
    except Exception:  # no script context or an older auth setup: treat as not signed in
        return {}
    return user if user.get("is_logged_in") else {}


def _claim(typed: str, key: str) -> None:
    """Use name `typed` with `key` for this session: claimed or refused (the reason kept for the sidebar)."""
    try:
        name, key = use_name(typed, key)
    except ValueError as exc:  # NameTaken, or a name that is not one
        st.session_state["cnnlab_name_error"] = str(exc)
        for param in (NAME_PARAM, KEY_PARAM):
            st.query_params.pop(param, None)
        st.session_state.setdefault(OWNER, GUEST)
        return
    st.session_state[OWNER], st.session_state[OWNER_KEY] = name, key
    st.query_params[NAME_PARAM], st.query_params[KEY_PARAM] = name, key


def current_owner() -> str:
    """The owner of this session's runs and jobs ("" = a guest)."""
    user = _signed_in_user()
    if user:
        return str(user.get("email") or user.get("name") or user.get("sub") or GUEST)
    if OWNER not in st.session_state:
        typed = st.query_params.get(NAME_PARAM, "")
        if typed:
            _claim(typed, st.query_params.get(KEY_PARAM, ""))
        st.session_state.setdefault(OWNER, GUEST)
    elif st.session_state[OWNER] and st.query_params.get(KEY_PARAM) != st.session_state.get(OWNER_KEY):
        # page switches drop the query string: put the name and its key back so a reload keeps them
        st.query_params[NAME_PARAM] = st.session_state[OWNER]
        st.query_params[KEY_PARAM] = st.session_state.get(OWNER_KEY, "")
    if not st.session_state[OWNER] and is_teacher():
        return TEACHER_OWNER  # the teacher's runs are the teacher's, not a guest's (issue 29)
    return st.session_state[OWNER]


def identity_params() -> dict[str, str]:
    """The query parameters that carry this session's student identity (name and its key) for a link to
    another page; {} for a guest or a signed-in user. Never anything of the teacher's."""
    if _signed_in_user():
        return {}
    owner = current_owner()
    if not owner or not st.session_state.get(OWNER_KEY):
        return {}
    return {NAME_PARAM: owner, KEY_PARAM: st.session_state[OWNER_KEY]}


def _cookie_token() -> str:
    try:
        return str(st.context.cookies.get(TEACHER_COOKIE) or "")
    except Exception:  # no request context (tests)
        return ""


def is_teacher() -> bool:
    token = st.session_state.get(TEACHER)
    if token and teacher_guard().is_session(token):
        return True
    cookie = _cookie_token()
    if cookie and cookie != token and teacher_guard().is_session(cookie):
        st.session_state[TEACHER] = cookie  # a reload: the browser brought the teacher session back
        return True
    return is_teacher_user(_signed_in_user().get("groups"), class_config().teacher_group)


def actor() -> Actor:
    """Who this session is, as the class gate takes it."""
    return Actor(current_owner(), is_teacher())


def may_train() -> tuple[bool, str]:
    """Whether this session may start runs now, and why not (for greying out; the gate checks again)."""
    from cnnkit.classroom.gate import allowed

    return allowed("train", actor(), class_config())


def _set_name() -> None:
    typed = st.session_state.get("cnnlab_name_input", "")
    try:
        name = clean_owner_name(typed)
    except ValueError as exc:
        st.session_state["cnnlab_name_error"] = str(exc)
        return
    if name == st.session_state.get(OWNER):
        return
    _claim(name, "")


def _browser_session() -> str:
    """A random id of this browser session: wrong teacher passwords are counted per session (and server-wide),
    so students guessing in their tabs do not lock the teacher out of theirs."""
    if "cnnlab_client" not in st.session_state:
        st.session_state["cnnlab_client"] = secrets.token_hex(8)
    return st.session_state["cnnlab_client"]


def _unlock_teacher() -> None:
    try:
        token = teacher_guard().sign_in(st.session_state.get("cnnlab_teacher_pw", ""),
                                        class_config().teacher_password_sha256, client=_browser_session())
    except ValueError as exc:  # wrong, or too many tries
        st.session_state["cnnlab_teacher_error"] = str(exc)
    else:
        st.session_state[TEACHER] = token
        st.session_state[_COOKIE_TODO] = token
    st.session_state["cnnlab_teacher_pw"] = ""  # the password does not stay in the session


def _leave_teacher() -> None:
    teacher_guard().sign_out(st.session_state.pop(TEACHER, None))
    teacher_guard().sign_out(_cookie_token())
    st.session_state[_COOKIE_TODO] = ""


def _write_cookie() -> None:
    """Set or clear the teacher cookie in the browser. Under server.py the server sets it, HttpOnly (the page
    sends the browser through ui.teacher_cookie's route with a one-time code); under `streamlit run app.py` a
    script in the page sets it. The token never enters a link."""
    if _COOKIE_TODO not in st.session_state:
        return
    token = st.session_state.pop(_COOKIE_TODO)
    if MOUNTED["route"]:
        query = urlencode({"code": teacher_guard().handoff(token)} if token else {"clear": "1"})
        back = urlencode({"next": _this_page()})
        st.html(f"<script>window.location.replace({json.dumps(f'{COOKIE_PATH}?{query}&{back}')});</script>",
                unsafe_allow_javascript=True)
        return
    age = int(SESSION_S) if token else 0
    st.html(f"<script>document.cookie = {json.dumps(TEACHER_COOKIE)} + '=' + {json.dumps(token)} + "
            f"'; path=/; max-age={age}; SameSite=Strict';</script>", unsafe_allow_javascript=True)


def _this_page() -> str:
    """This page's path and query string (name and key), for the way back from the cookie route."""
    try:
        path = urlsplit(st.context.url or "/").path or "/"
    except Exception:
        path = "/"
    params = {k: v for k, v in st.query_params.to_dict().items()}
    return path + (f"?{urlencode(params)}" if params else "")


def render_identity() -> None:
    """The sidebar's 'who am I': sign-in or a name box, and the teacher unlock."""
    config = class_config()
    user = _signed_in_user()
    if user:
        st.markdown(f"**Signed in as** {plain(current_owner())}")
        if st.button("Log out", key="cnnlab_logout"):
            st.logout()
    else:
        owner = current_owner()
        if login_configured() and st.button("Log in", key="cnnlab_login"):
            st.login()
        if owner:
            st.markdown(f"**You are** {plain(owner)}")
            st.caption("Keep this page's link (bookmark it): it holds your name's key. Another browser needs "
                       "the same link.")
        st.text_input("Your name" if not owner else "Change your name", key="cnnlab_name_input",
                      on_change=_set_name, placeholder="e.g. Anna",
                      help="Your runs are saved under this name; the first to use a name keeps it, with a key in "
                           "the page address, so a reload keeps it.")
        if "cnnlab_name_error" in st.session_state:
            st.error(st.session_state.pop("cnnlab_name_error"))
    _write_cookie()
    if is_teacher():
        st.success("Teacher mode")
        if st.session_state.get(TEACHER) and st.button("Leave teacher mode", key="cnnlab_teacher_off",
                                                       on_click=_leave_teacher):
            st.rerun()
    elif config.has_teacher_password:
        with st.expander("Teacher"):
            st.text_input("Teacher password", type="password", key="cnnlab_teacher_pw", on_change=_unlock_teacher)
            if "cnnlab_teacher_error" in st.session_state:
                st.error(st.session_state.pop("cnnlab_teacher_error"))
    if config.limits_text():
        st.caption(config.limits_text())


__all__ = ["NAME_PARAM", "KEY_PARAM", "NAME_TAKEN", "actor", "class_config", "current_owner", "identity_params",
           "is_teacher", "may_train", "render_identity"]
