"""Names that cannot be borrowed: without a sign-in, the first session that uses a name claims it.

The claim gives that session a secret key (kept in its page link as ?key=, beside ?name=); another session
that uses the name without the key is refused. Claims are kept in one small file beside the runs
(<checkpoint_dir>/names.json, one checkpoint folder = one class), holding only each key's SHA-256, so the
file does not let anyone act as a student. The teacher releases a name (and the privacy page, when a
student's data is erased, calls `release_name`).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import secrets
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from cnnkit.classroom.permissions import NotAllowed, clean_owner_name, name_key
from cnnkit.fileio import DamagedFile, load_json_file, read_json, value_matches, write_json
from cnnkit.paths import checkpoint_dir

NAME_TAKEN = "this name is taken: use your own link, or ask the teacher"
_LOCK = threading.Lock()
MAX_NAMES_BYTES = 16 * 1024 * 1024   # names.json: a claim is ~150 bytes


class NameTaken(NotAllowed):
    """A name another session claimed, used without its key."""


def names_file(root: Optional[Path] = None) -> Path:
    return (Path(root) if root else checkpoint_dir()) / "names.json"


def _hash(key: str) -> str:
    return hashlib.sha256(str(key).encode("utf-8")).hexdigest()


@contextmanager
def _locked(root: Optional[Path]) -> Iterator[dict]:
    """The claims, read and written under a lock (threads of the app and other processes, e.g. the CLI)."""
    path = names_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK, open(path.with_name(".names.lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # strict: a damaged file read as "no claims" would free every name, and the write below would
            # replace it; claiming stops (fails closed) until the teacher fixes or removes it
            data = load_json_file(path, {}, max_bytes=MAX_NAMES_BYTES)
        except DamagedFile as error:
            raise ValueError(f"the class's claimed names cannot be read ({error}); ask the teacher to fix or "
                             "remove that file") from None
        claims = data if isinstance(data, dict) else {}
        before = dict(claims)
        yield claims
        if claims != before:
            write_json(path, claims)


def claimed_names(root: Optional[Path] = None) -> list[dict]:
    """[{"name", "claimed"}] of every claimed name, oldest first (never the key hashes)."""
    data = read_json(names_file(root), {}, max_bytes=MAX_NAMES_BYTES)
    rows = [{"name": v.get("name", k), "claimed": v.get("claimed", 0.0)} for k, v in
            (data.items() if isinstance(data, dict) else []) if isinstance(v, dict)
            and isinstance(v.get("name", k), str) and value_matches(v.get("claimed", 0.0), float)]
    return sorted(rows, key=lambda r: r["claimed"])


def use_name(name: str, key: str = "", root: Optional[Path] = None) -> tuple[str, str]:
    """(the cleaned name, its key) for a session using `name` with `key` ("" = none): a free name is claimed
    and a new key returned; a claimed name with its key is accepted; without it NameTaken; a bad name
    ValueError saying what to change."""
    cleaned = clean_owner_name(name)
    with _locked(root) as claims:
        claim = claims.get(name_key(cleaned))
        if isinstance(claim, dict) and claim.get("key_sha256"):
            if key and hmac.compare_digest(_hash(key), str(claim["key_sha256"])):
                return str(claim.get("name") or cleaned), key
            raise NameTaken(NAME_TAKEN)
        key = secrets.token_urlsafe(16)
        claims[name_key(cleaned)] = {"name": cleaned, "key_sha256": _hash(key), "claimed": time.time()}
        return cleaned, key


def key_matches(name: str, key: str, root: Optional[Path] = None) -> bool:
    """Whether `key` is the key of claimed name `name` (False for a free name)."""
    data = read_json(names_file(root), {}, max_bytes=MAX_NAMES_BYTES)
    claim = data.get(name_key(name)) if isinstance(data, dict) else None
    return bool(key) and isinstance(claim, dict) and hmac.compare_digest(_hash(key), str(claim.get("key_sha256")))


def release_name(name: str, root: Optional[Path] = None) -> bool:
    """Free a claimed name (the teacher's button, or erasing a student); True when it was claimed."""
    with _locked(root) as claims:
        return claims.pop(name_key(name), None) is not None


def _claims_of(owner: str) -> list[dict]:
    return [row for row in claimed_names() if name_key(row["name"]) == name_key(owner)]


# A claimed name is student data: listed, exported and released with the rest of a student's (issue 25).
from cnnkit.classroom.student_data import owner_records_kind, register_student_data  # noqa: E402

register_student_data(owner_records_kind(
    "name", _claims_of, release_name, what="The name a student claimed (its join key is kept only as a SHA-256)",
    where="<checkpoint folder>/names.json", kept="until the teacher releases the name or erases the student"))
