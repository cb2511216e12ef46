"""Teacher mode: the password check, rate-limited, and teacher sessions that survive a reload.

The password is compared by its SHA-256 (cnnlab.toml holds the hash, or a plain password hashed as it is
read). Wrong guesses are rate-limited per browser session (`client`): after FREE_TRIES wrong ones within
WINDOW_S, that session's next try waits longer (2, 4, 8 ... up to MAX_WAIT_S seconds), so students guessing
in their own tabs never lock the real teacher out of theirs (issue 29). A server-wide ceiling bounds guessing
from many sessions: past SERVER_TRIES wrong guesses within WINDOW_S every session waits the same way.
A right password opens a teacher session: a random token the browser keeps in a cookie (never in a link),
checked here by its hash; it ends when the teacher leaves teacher mode, or after SESSION_S. So that page scripts
cannot read the cookie (HttpOnly), the server sets it in an HTTP response (ui/teacher_cookie.py, mounted by
server.py): the page hands the browser a one-time code (`handoff`, valid HANDOFF_S, used once), which that
response exchanges for the token (`redeem`); the token itself never appears in a link.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Optional

from cnnkit.classroom.permissions import NotAllowed, is_teacher_password

FREE_TRIES = 5
SERVER_TRIES = 100          # wrong guesses within WINDOW_S from all sessions together before everyone waits
WINDOW_S = 300.0
MAX_WAIT_S = 60.0
SESSION_S = 12 * 3600.0
HANDOFF_S = 60.0


class TooManyTries(NotAllowed):
    """Teacher-password guesses came too fast."""


class TeacherGuard:
    """One per server (`GUARD`): wrong-guess bookkeeping and the open teacher sessions (token hashes)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}   # client -> times of its wrong guesses
        self._next_try: dict[str, float] = {}          # client -> when it may try again
        self._server_failures: list[float] = []
        self._server_next_try = 0.0
        self._sessions: dict[str, float] = {}   # token sha256 -> expiry (clock seconds)
        self._handoffs: dict[str, tuple[str, float]] = {}   # code sha256 -> (token, expiry)

    def sign_in(self, typed: str, password_sha256: str, client: str = "") -> str:
        """A new teacher-session token when `typed` is the password; NotAllowed (TooManyTries while guesses
        are rate-limited, for this `client` or for the whole server) otherwise. Nothing in a message repeats
        the password."""
        now = self._clock()
        client = str(client)
        with self._lock:
            if now < self._next_try.get(client, 0.0):
                raise TooManyTries(f"too many wrong tries from this browser: wait "
                                   f"{self._next_try[client] - now:.0f} s and try again")
            if now < self._server_next_try:
                raise TooManyTries(f"too many wrong tries on this server: wait {self._server_next_try - now:.0f} s "
                                   "and try again")
            if not is_teacher_password(typed, password_sha256):
                self._forget_old(now)
                failures = self._failures.setdefault(client, [])
                failures.append(now)
                if len(failures) >= FREE_TRIES:
                    self._next_try[client] = now + min(MAX_WAIT_S, 2.0 ** (len(failures) - FREE_TRIES + 1))
                self._server_failures.append(now)
                if len(self._server_failures) >= SERVER_TRIES:
                    extra = len(self._server_failures) - SERVER_TRIES
                    self._server_next_try = now + min(MAX_WAIT_S, 2.0 ** (extra + 1))
                raise NotAllowed("That is not the teacher password.")
            self._failures.pop(client, None)
            self._next_try.pop(client, None)
            token = secrets.token_urlsafe(24)
            self._sessions[_hash(token)] = now + SESSION_S
            return token

    def _forget_old(self, now: float) -> None:
        """Drop wrong guesses older than WINDOW_S (and the sessions left with none), so the books stay small."""
        self._failures = {c: kept for c, times in self._failures.items()
                          if (kept := [t for t in times if now - t < WINDOW_S])}
        self._next_try = {c: t for c, t in self._next_try.items() if t > now}
        self._server_failures = [t for t in self._server_failures if now - t < WINDOW_S]

    def is_session(self, token: Optional[str]) -> bool:
        if not token:
            return False
        now = self._clock()
        with self._lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v > now}
            return any(hmac.compare_digest(_hash(token), k) for k in self._sessions)

    def handoff(self, token: str) -> str:
        """A one-time code for an open teacher session's token (the cookie route redeems it once, within
        HANDOFF_S); NotAllowed for a token that is not a session."""
        if not self.is_session(token):
            raise NotAllowed("not a teacher session")
        now = self._clock()
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._handoffs = {k: v for k, v in self._handoffs.items() if v[1] > now}
            self._handoffs[_hash(code)] = (token, now + HANDOFF_S)
        return code

    def redeem(self, code: Optional[str]) -> Optional[str]:
        """The token a handoff code stands for (once; None when unknown, used or expired)."""
        if not code:
            return None
        now = self._clock()
        with self._lock:
            token, expiry = self._handoffs.pop(_hash(code), (None, 0.0))
        return token if token and expiry > now and self.is_session(token) else None

    def sign_out(self, token: Optional[str]) -> None:
        if token:
            with self._lock:
                self._sessions.pop(_hash(token), None)


def _hash(token: str) -> str:
    return hashlib.sha256(str(token).encode("utf-8")).hexdigest()


GUARD = TeacherGuard()
