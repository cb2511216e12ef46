"""Links to pages of this app: absolute URLs (a link pasted in a chat or scanned as a QR code must work
outside the app), built in one place so that an in-app link carries the reader's identity
(ui.identity.identity_params: a new tab is a new session that knows only its URL).

A link the teacher *shares* (copy box, QR code) is for other people: it never carries the teacher's own
identity, or every student who opens it would train as the teacher. Each student keeps their own name
because the page they open it from (Home, a pinned run) builds the link with *their* identity.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from ui.identity import identity_params

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"
HOME_PAGE = "pages/home.py"  # the default page: its URL path is the app's root


def navigation_pages() -> list[tuple[str, str]]:
    """(page file relative to the app, title) of every page in this session's navigation (app.py, filtered by
    the class config), in menu order; Home excluded."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    pages = []
    for info in (ctx.pages_manager.get_pages().values() if ctx else []):
        relative = _app_relative(info.get("script_path", ""))
        if relative and relative.startswith("pages/") and relative != "pages/home.py":
            pages.append((relative, info.get("page_name", Path(relative).stem)))
    return pages


@functools.lru_cache(maxsize=256)  # Path.resolve is a few syscalls; a page asks for every link it draws
def _app_relative(script_path: str) -> str:
    """A page script's path relative to the app's folder ("pages/x.py"); "" outside it."""
    try:
        return Path(script_path).resolve().relative_to(PAGES_DIR.parent).as_posix()
    except ValueError:
        return ""


def in_navigation(page: str) -> bool:
    """Whether `pages/x.py` is in this session's navigation (a class config may hide pages)."""
    return any(p == page for p, _ in navigation_pages())


def page_url_path(page: str) -> str:
    """The URL path Streamlit gives `pages/x.py` in app.py's navigation ("x"); "" for Home."""
    return "" if page == HOME_PAGE else Path(page).stem


def base_from_page_url(url: str, page_paths: list[str]) -> str:
    """The app's root URL from the URL of the page being shown (st.context.url: scheme, host, port, path;
    no query): drops a trailing page path, keeps a reverse proxy's prefix (e.g. /cnnlab)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for page_path in page_paths:
        if page_path and path.endswith("/" + page_path):
            path = path[: -len(page_path) - 1]
            break
    return urlunsplit((parts.scheme, parts.netloc, path + "/", "", ""))


def base_from_headers(headers: dict[str, str], base_path: str = "", port: int = 8501) -> str:
    """Fallback when the browser has not told the server its URL yet: the Host header (behind a proxy,
    X-Forwarded-Host/-Proto), else localhost at the server's port."""
    lower = {k.lower(): v for k, v in headers.items()}
    host = lower.get("x-forwarded-host") or lower.get("host") or f"localhost:{port}"
    scheme = lower.get("x-forwarded-proto") or "http"
    prefix = "/" + base_path.strip("/") if base_path.strip("/") else ""
    return f"{scheme}://{host.split(',')[0].strip()}{prefix}/"


def join_link(base: str, page: str, params: dict[str, str] | None = None) -> str:
    """base (ending in /) + the page's path + ?params (URL-encoded: names with spaces stay intact)."""
    query = urlencode({k: str(v) for k, v in (params or {}).items() if v not in (None, "")})
    return base + page_url_path(page) + (f"?{query}" if query else "")


def app_base_url() -> str:
    """This app's root URL as the user's browser reaches it."""
    page_paths = sorted((p.stem for p in PAGES_DIR.glob("*.py")), key=len, reverse=True)
    try:
        url = st.context.url
    except Exception:  # outside a script run (a test calling the helper bare)
        url = None
    if url:
        return base_from_page_url(url, page_paths)
    try:
        headers = st.context.headers.to_dict()
    except Exception:
        headers = {}
    return base_from_headers(headers, st.get_option("server.baseUrlPath") or "", st.get_option("server.port") or 8501)


def my_link(page: str, params: dict[str, str] | None = None) -> str:
    """An absolute link for this session's user (carries their identity)."""
    return join_link(app_base_url(), page, {**(params or {}), **identity_params()})


def share_link(page: str, params: dict[str, str] | None = None) -> str:
    """An absolute link for other people (no identity of this session)."""
    return join_link(app_base_url(), page, params)


def page_link(page: str, label: str, params: dict[str, str] | None = None, icon: str | None = None,
              help: str | None = None) -> None:
    """st.page_link that keeps this user's name also when opened in a new tab."""
    st.page_link(page, label=label, icon=icon, help=help,
                 query_params={**(params or {}), **identity_params()} or None)


def qr_png(text: str, scale: int = 5) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()


def share_box(page: str, params: dict[str, str] | None = None, what: str = "this page") -> str:
    """The teacher's link to share: the absolute URL in a code box (its copy button copies it) and a QR code
    for phones and the projector. Returns the URL."""
    url = share_link(page, params)
    st.code(url, language=None)
    with st.expander("QR code"):
        st.image(qr_png(url), caption=f"Scan to open {what}", width=180)
    return url
