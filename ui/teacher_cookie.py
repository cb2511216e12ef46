"""The teacher cookie, set by the server so page scripts cannot read it (HttpOnly).

Streamlit pages cannot answer an HTTP request themselves, so server.py (`app = st.App("app.py", routes=ROUTES)`,
started with `streamlit run server.py`) mounts COOKIE_PATH beside the app. After the teacher password opens a
teacher session, the page sends the browser to COOKIE_PATH?code=<one-time code>&next=<this page>; the route
redeems the code (cnnkit.classroom.class_state.teacher_guard().redeem: once, within a minute), answers with
`Set-Cookie: cnnlab_teacher=<token>; HttpOnly; SameSite=Strict; Path=/` and sends the browser back. With
?clear=1 it removes the cookie (leaving teacher mode). `streamlit run app.py` still works without the route:
then the page sets the cookie with a script (readable by page scripts, as before issue 29).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cnnkit.classroom.class_state import teacher_guard
from cnnkit.classroom.teacher import SESSION_S

COOKIE = "cnnlab_teacher"
COOKIE_PATH = "/_cnnlab/teacher-cookie"
MOUNTED = {"route": False}   # set by server.py when it mounts the route (same process as the pages)


def safe_next(target: str) -> str:
    """Where to send the browser back: a path on this server only (never another host)."""
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def teacher_cookie(request):
    """GET COOKIE_PATH?code=…&next=…: set the HttpOnly teacher cookie for a redeemed code; ?clear=1 removes it."""
    from starlette.responses import PlainTextResponse, RedirectResponse

    target = safe_next(request.query_params.get("next", "/"))
    secure = request.url.scheme == "https"
    if request.query_params.get("clear"):
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
        return response
    token = teacher_guard().redeem(request.query_params.get("code"))
    if token is None:
        return PlainTextResponse("This teacher link is used up or too old: type the teacher password again.",
                                 status_code=403)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, max_age=int(SESSION_S), path="/", httponly=True, samesite="strict",
                        secure=secure)
    response.headers["Cache-Control"] = "no-store"
    return response


def routes() -> list:
    """The routes server.py mounts (it then sets MOUNTED["route"], so the pages use them)."""
    from starlette.routing import Route

    return [Route(COOKIE_PATH, teacher_cookie, methods=["GET"])]
