"""The class state every app server of a class shares, behind one small interface (issue 31).

Claimed names, pins and lesson predictions are small files beside the runs (the checkpoint folder: shared
storage when a class has several servers); teacher sessions and the wrong-password count live in memory. What a
second server needs is (1) one writer at a time for each read-modify-write of a class file, on every server,
and (2) the teacher guard's state in one place. So this module offers:

- `class_lock(name)`: a context manager held around a read-modify-write of class file `name` ("names", "pins",
  "predictions"). Always: a lock for this process's threads and flock on <checkpoint_dir>/.locks/<name>.lock
  (every process on this machine, e.g. the CLI); with a shared store, also the store's lease (every server of
  the class, on any machine, where flock over network storage is not to be trusted).
- `teacher_guard()`: the teacher-password guard: this process's `teacher.GUARD`, or with a shared store one
  whose state (open sessions, wrong tries, the wait before the next try) is kept in the store, so a teacher
  signed in on one server is the teacher on every server and a guesser gets the free tries once per class.

The shared store is the class queue's actor in the Ray cluster (cnnkit.jobs.shared), which registers a factory
here when cnnkit.jobs is imported (a higher layer fills in a lower layer's hook). With one server (no
CNNKIT_SHARED_QUEUE) nothing changes: files with flock, the in-process guard.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Protocol

from cnnkit.paths import checkpoint_dir

# Set to a class's name to share its state between app servers (the same variable names the shared job queue).
SHARED_ENV = "CNNKIT_SHARED_QUEUE"
LEASE_S = 30.0           # a server that dies holding a lease loses it after this long
WAIT_S = 30.0            # how long to wait for a lease before saying the class state is busy


class ClassStore(Protocol):
    """Where a class's shared state lives (cnnkit.jobs.shared.RayClassStore)."""

    def acquire(self, name: str, holder: str, lease_s: float) -> bool: ...
    def release(self, name: str, holder: str) -> None: ...
    def get(self, key: str) -> Any: ...
    def put(self, key: str, value: Any) -> None: ...


_FACTORY: Optional[Callable[[], Optional[ClassStore]]] = None
_STORE: Optional[ClassStore] = None
_STORE_LOCK = threading.RLock()
_THREAD_LOCKS: dict[str, threading.Lock] = {}


def register_class_store_factory(factory: Callable[[], Optional[ClassStore]]) -> None:
    """How to reach the shared store when CNNKIT_SHARED_QUEUE is set (cnnkit.jobs registers it)."""
    global _FACTORY
    _FACTORY = factory


def set_class_store(store: Optional[ClassStore]) -> None:
    """Use `store` (None: none) from now on; tests and the shared queue's client call it."""
    global _STORE
    with _STORE_LOCK:
        _STORE = store


def class_store() -> Optional[ClassStore]:
    """The shared store, or None for a class of one server. With CNNKIT_SHARED_QUEUE set and no way to reach a
    store it refuses (RuntimeError) rather than let this server keep a state of its own."""
    global _STORE
    with _STORE_LOCK:
        if _STORE is not None or not os.environ.get(SHARED_ENV):
            return _STORE
        if _FACTORY is None:
            raise RuntimeError(f"{SHARED_ENV} is set but the shared class state is not reachable: import cnnkit.jobs "
                               "first (it connects to the class queue in the Ray cluster)")
        _STORE = _FACTORY()
        return _STORE


def _holder() -> str:
    """This server (one process): its threads take turns under the thread lock, so the lease is the process's."""
    return f"{os.uname().nodename}:{os.getpid()}"


# Per lock name, this process's hold on the store's lease. A class's first pages each claim a name: 20 claims in a
# burst on one server were 20 acquire/release round trips to the class queue, one at a time. While more of this
# server's threads wait for the same lock, the lease is kept for them (at most KEEP_HOLDS in a row, and only
# within half a lease), so a burst costs one round trip and the other servers still get their turns.
KEEP_HOLDS = 16
GIVE_WAY_S = 0.1  # after KEEP_HOLDS, this server waits this long before asking again: other servers poll every 0.02 s


class _LeaseHold:
    def __init__(self):
        self.waiting = 0          # this process's threads waiting for the lock
        self.until = 0.0          # monotonic time until which the lease is ours without asking (0: not held)
        self.holds = 0            # holds since the lease was taken
        self.gave_way_at = -1e9   # when it was last given up after KEEP_HOLDS: the next take waits GIVE_WAY_S


_HOLDS: dict[str, _LeaseHold] = {}


@contextmanager
def class_lock(name: str, root: Optional[Path] = None) -> Iterator[None]:
    """Hold class file `name`'s lock (see the module's docstring) for one read-modify-write. Taken in one order
    everywhere: this process's thread lock, the store's lease, then flock (a server waiting for the lease holds
    no flock that the lease's holder needs next)."""
    with _STORE_LOCK:
        thread_lock = _THREAD_LOCKS.setdefault(name, threading.Lock())
        hold = _HOLDS.setdefault(name, _LeaseHold())
        hold.waiting += 1
    folder = (Path(root) if root else checkpoint_dir()) / ".locks"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        thread_lock.acquire()
    finally:
        with _STORE_LOCK:
            hold.waiting -= 1
    try:
        store = class_store()
        holder = _holder()
        if store is not None and time.monotonic() >= hold.until:  # not ours now: take it (or renew it)
            time.sleep(max(0.0, hold.gave_way_at + GIVE_WAY_S - time.monotonic()))  # another server's turn
            deadline = time.monotonic() + WAIT_S
            while not store.acquire(name, holder, LEASE_S):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the class's {name} are busy on another server; try again in a moment")
                time.sleep(0.02)
            hold.until, hold.holds = time.monotonic() + LEASE_S / 2, 0
        try:
            hold.holds += 1
            with open(folder / f"{name}.lock", "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
        finally:
            if store is not None:
                with _STORE_LOCK:
                    keep = hold.waiting > 0 and hold.holds < KEEP_HOLDS and time.monotonic() < hold.until
                if not keep:
                    if hold.holds >= KEEP_HOLDS:
                        hold.gave_way_at = time.monotonic()
                    hold.until = 0.0
                    store.release(name, holder)
    finally:
        thread_lock.release()


# --- the teacher guard ---------------------------------------------------------------------------------------
_GUARD_KEY = "teacher_guard"
_NOT_STATE = ("_lock", "_clock", "_store")


_INSIDE = threading.local()   # within one guard call, on this thread


def _shared_guard_class():
    from cnnkit.classroom.teacher import TeacherGuard

    class SharedTeacherGuard(TeacherGuard):
        """TeacherGuard whose state lives in the class store: each call loads it, runs the one-server logic
        unchanged, and saves it, under the "teacher" class lock. Wall-clock time (servers share no monotonic
        clock)."""

        def __init__(self, store: ClassStore):
            super().__init__(clock=time.time)
            self._store = store

        def _state(self) -> dict:
            return {k: v for k, v in vars(self).items() if k not in _NOT_STATE}

        def _call(self, method, *args, write: bool = True, **kwargs):
            if getattr(_INSIDE, "call", False):       # handoff() asks is_session(): the state is loaded already
                return method(*args, **kwargs)
            with class_lock("teacher"):
                saved = self._store.get(_GUARD_KEY)
                if isinstance(saved, dict):
                    vars(self).update(saved)
                _INSIDE.call = True
                try:
                    return method(*args, **kwargs)
                finally:
                    _INSIDE.call = False
                    if write:
                        self._store.put(_GUARD_KEY, self._state())

        def sign_in(self, typed: str, password_sha256: str, client: str = "") -> str:
            return self._call(super().sign_in, typed, password_sha256, client=client)

        def handoff(self, token: str) -> str:
            return self._call(super().handoff, token)

        def redeem(self, code: Optional[str]) -> Optional[str]:
            return self._call(super().redeem, code) if code else None

        def is_session(self, token: Optional[str]) -> bool:
            if not token:
                return False
            return self._call(super().is_session, token, write=False)

        def sign_out(self, token: Optional[str]) -> None:
            if token:
                self._call(super().sign_out, token)

    return SharedTeacherGuard


_SHARED_GUARDS: dict[int, Any] = {}


def teacher_guard():
    """The teacher guard every page uses: the process's own, or the class's shared one."""
    from cnnkit.classroom.teacher import GUARD

    store = class_store()
    if store is None:
        return GUARD
    with _STORE_LOCK:
        if id(store) not in _SHARED_GUARDS:
            _SHARED_GUARDS[id(store)] = _shared_guard_class()(store)
        return _SHARED_GUARDS[id(store)]


__all__ = ["ClassStore", "SHARED_ENV", "class_lock", "class_store", "register_class_store_factory",
           "set_class_store", "teacher_guard"]
