"""A bounded in-memory cache of loaded models, shared by all users of one app process.

Keyed by (path, modification time), so a retrained run replaces its stale entry. Grad-CAM
puts hooks on a model while it runs; two users explaining with the same model object at the
same time would see each other's hooks. So each entry has its own lock, and a model is only
used inside `with cache.use(key, loader) as model:`, which holds it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator


def cache_key(path: str | os.PathLike, which: str = "") -> tuple[str, int, str]:
    """(resolved path, modification time in ns, variant) for a file or a run folder.

    For a folder, the newest modification time of the files directly inside it counts, so
    writing a new best.pt invalidates the entry.
    """
    resolved = Path(path).resolve()
    if not resolved.exists():
        raise FileNotFoundError(f"no model at {resolved}")
    mtime = resolved.stat().st_mtime_ns
    if resolved.is_dir():
        mtime = max([mtime] + [child.stat().st_mtime_ns for child in resolved.iterdir() if child.is_file()])
    return (str(resolved), mtime, which)


class _Entry:
    __slots__ = ("value", "lock")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.lock = threading.RLock()


class ModelCache:
    """At most max_items models, least recently used evicted first; thread-safe."""

    def __init__(self, max_items: int = 4) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.max_items = max_items
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.RLock()  # guards the dict; held while loading so a model loads once
        self.loads = 0  # how many times a loader ran (tests and the page's status line use it)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    def _entry(self, key: Hashable, loader: Callable[[], Any]) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
            # Older versions of the same path (other mtime) are stale: drop them.
            if isinstance(key, tuple) and key:
                for old in [k for k in self._entries if isinstance(k, tuple) and k and k[0] == key[0]
                            and k[2:] == key[2:]]:
                    del self._entries[old]
            entry = _Entry(loader())
            self.loads += 1
            self._entries[key] = entry
            while len(self._entries) > self.max_items:
                self._entries.popitem(last=False)
            return entry

    def get(self, key: Hashable, loader: Callable[[], Any]) -> Any:
        """The cached value, loading it with loader() the first time (does not take the use lock)."""
        return self._entry(key, loader).value

    @contextmanager
    def use(self, key: Hashable, loader: Callable[[], Any]) -> Iterator[Any]:
        """The model, held exclusively for the duration of the with-block (hooks never overlap)."""
        entry = self._entry(key, loader)
        with entry.lock:
            yield entry.value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
