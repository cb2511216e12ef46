"""Decoded datasets cached on disk as uint8 tensors, so only the first load decodes images."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import torch

from cnnkit.paths import cache_dir

CACHE_VERSION = "v1"  # bump when the decoded format changes so stale caches are ignored


def fingerprint(parts: Iterable[object]) -> str:
    """A short stable hash of anything that identifies the source (file names, sizes, mtimes)."""
    digest = hashlib.sha1(CACHE_VERSION.encode())
    for part in parts:
        digest.update(repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cache_path(name: str, fp: str) -> Path:
    return cache_dir() / f"{name}-{fp}.pt"


def save_atomic(obj: dict, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: never a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache is readable like any other data file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_cached(path: Path) -> dict | None:
    """The cached tensors, or None when missing or unreadable (then the caller decodes again)."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception:  # a corrupt or foreign file: decode again rather than fail
        return None


def cached(name: str, fp: str, build: Callable[[], dict]) -> dict:
    """Load `name` from the cache, or build it and try to cache it (a read-only disk only costs speed)."""
    path = cache_path(name, fp)
    found = load_cached(path)
    if found is not None:
        return found
    data = build()
    try:
        save_atomic(data, path)
        # Older caches of the same dataset are stale now.
        for old in path.parent.glob(f"{name}-*.pt"):
            if old != path and len(old.stem) == len(name) + 17:
                old.unlink(missing_ok=True)
    except OSError:
        pass
    return data
