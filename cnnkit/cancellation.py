"""Cancellation as an exception type, shared by every layer that can be stopped (training, labs, jobs).

A base module (no cnnkit imports) so the training loop, the labs and the job manager can all raise and
catch the same type: the job manager ends a job that raises `Cancelled` as "cancelled", not "failed".
"""

from __future__ import annotations

import threading
from typing import Optional


class Cancelled(Exception):
    """Work stopped because its cancel event was set. The message (optional) says where it stopped."""


def raise_if_cancelled(cancel_event: Optional[threading.Event], message: str = "",
                       error: type[Cancelled] = Cancelled) -> None:
    """Raise `error(message)` (a Cancelled) when `cancel_event` is set; a None event never cancels."""
    if cancel_event is not None and cancel_event.is_set():
        raise error(message)


__all__ = ["Cancelled", "raise_if_cancelled"]
