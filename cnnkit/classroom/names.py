"""Names that cannot be borrowed: without a sign-in, the first session that uses a name claims it.

The claim gives that session a secret key (kept in its page link as ?key=, beside ?name=); another session
that uses the name without the key is refused. Claims are kept in one small file beside the runs
(<checkpoint_dir>/names.json, one checkpoint folder = one class), holding only each key's SHA-256, so the
file does not let anyone act as a student. The teacher releases a name (and the privacy page, when a
student's data is erased, calls `release_name`).

Names are compared by THE identity rule (cnnkit.classroom.identity): "Аnna" (Cyrillic), "Αnna" (Greek) and
"Ａｎｎａ" (fullwidth) are taken when "Anna" is. A name nobody has claimed but that owns saved work (a run made
with `--owner`, a released name) is not handed to the first visitor who types it: only the teacher's join
links claim it (`use_name(..., teacher=True)`). At most MAX_CLAIMS names are claimed at once on one server.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import secrets
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from cnnkit.classroom.class_state import class_lock
from cnnkit.classroom.identity import identity_key, identity_keys, same_person
from cnnkit.classroom.permissions import NotAllowed, clean_owner_name
from cnnkit.fileio import DamagedFile, atomic_write_bytes, file_signature, load_json_file, signature_settled
from cnnkit.paths import checkpoint_dir

NAME_TAKEN = "this name is taken: use your own link, or ask the teacher"
NAME_HOLDS_WORK = ("saved work already belongs to this name, but nobody has claimed it: ask the teacher for its "
                   "join link (Class board, Teacher: join links)")
MAX_CLAIMS = 500    # names claimed at once on one server: several classes; a flood of claims stops here
TOO_MANY_CLAIMS = (f"this server already keeps {MAX_CLAIMS} claimed names, the most it keeps: ask the teacher to "
                   "release names nobody uses (Class board, or `python -m cnnkit class release-name NAME`)")
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
    # class_lock: one writer across every app server of the class (cnnkit.classroom.class_state); the flock
    # below stays for this machine's processes (e.g. the CLI).
    with class_lock("names", path.parent), _LOCK, open(path.with_name(".names.lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # strict: a damaged file read as "no claims" would free every name, and the write below would
            # replace it; claiming stops (fails closed) until the teacher fixes or removes it
            claims = dict(_read_claims(path, strict=True))
        except DamagedFile as error:
            raise ValueError(f"the class's claimed names cannot be read ({error}); ask the teacher to fix or "
                             "remove that file") from None
        before = dict(claims)
        yield claims
        if claims != before:  # compact: the file is rewritten on every claim (plain strings and numbers only)
            data = json.dumps(claims, separators=(",", ":")).encode()
            atomic_write_bytes(path, lambda handle: handle.write(data))


# The last names.json read, by its (path, inode, size, mtime): a flood of claims past the cap, and every page
# view's key check, do not parse and re-key the same file again. Another process's write changes the signature.
_CACHE: dict = {}


def _read_claims(path: Path, strict: bool = False) -> dict:
    """The claims in `path` keyed by identity (read-only: callers copy before changing it). A damaged file reads
    as no claims, or raises DamagedFile when `strict` (before a write); it is never cached."""
    signature = file_signature([path])
    if signature_settled(signature) and _CACHE.get("signature") == signature:
        return _CACHE["claims"]
    try:
        data = load_json_file(path, {}, max_bytes=MAX_NAMES_BYTES)
    except DamagedFile:
        if strict:
            raise
        return {}
    claims = _by_identity(data)
    # a file written this moment may change again unseen (fileio.signature_settled): read again next time
    _CACHE.update(signature=signature if signature_settled(signature) else None, claims=claims, index=_index(claims))
    return claims


def _index(claims: dict) -> dict[str, str]:
    """Every identity key of every claimed name -> that claim's key in `claims` (the first claim wins)."""
    index: dict[str, str] = {}
    for stored_key, claim in claims.items():
        for key in identity_keys(str(claim.get("name") or stored_key)):
            index.setdefault(key, stored_key)
    return index


def _usable(claim) -> bool:
    """A claim as claims are written: a table with a text name and a number for when (wrong types are skipped)."""
    if not isinstance(claim, dict) or not isinstance(claim.get("name", ""), str):
        return False
    when = claim.get("claimed", 0.0)
    return isinstance(when, (int, float)) and not isinstance(when, bool)


def _by_identity(data) -> dict:
    """The usable claims keyed by identity_key of their names. Files written before the identity rule were keyed by
    the case-folded name: re-keyed here; of two claims that are now one name, the older one stays."""
    if not isinstance(data, dict):
        return {}
    if all(_usable(v) and isinstance(v.get("name"), str) and k == identity_key(v["name"]) for k, v in data.items()):
        return data   # written under the identity rule already (the usual case): nothing to re-key
    claims: dict = {}
    for stored_key, claim in sorted(((k, v) for k, v in data.items() if _usable(v)),
                                    key=lambda kv: _claimed_at(kv[1])):
        name = claim.get("name") or stored_key
        if _find(claims, name) is None:
            claims[identity_key(name)] = claim
    return claims


def _find(claims: dict, name: str) -> Optional[str]:
    """The key (in `claims`) of the claim that is `name`'s person (any identity key in common), or None."""
    index = _CACHE["index"] if _CACHE.get("claims") is not None and _same_claims(claims) else _index(claims)
    found = next((index[key] for key in identity_keys(name) if key in index), None)
    return found if found in claims else None


def _same_claims(claims: dict) -> bool:
    cached = _CACHE["claims"]
    return claims is cached or (len(claims) == len(cached) and claims == cached)


def _claimed_at(claim: dict) -> float:
    value = claim.get("claimed", 0.0)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def claimed_names(root: Optional[Path] = None) -> list[dict]:
    """[{"name", "claimed"}] of every claimed name, oldest first (never the key hashes)."""
    rows = [{"name": str(v.get("name", k)), "claimed": _claimed_at(v)} for k, v in _read_claims(names_file(root)).items()]
    return sorted(rows, key=lambda r: r["claimed"])


def holds_work(name: str) -> bool:
    """Whether anything is stored under `name` (by the identity rule) besides its claim: runs, labs, datasets,
    predictions (every kind registered as student data)."""
    from cnnkit.classroom.student_data import STUDENT_DATA_KINDS, owner_items

    return any(owner_items(kind, name) for kind in list(STUDENT_DATA_KINDS.values()) if kind.kind != "name")


def use_name(name: str, key: str = "", root: Optional[Path] = None, *, teacher: bool = False) -> tuple[str, str]:
    """(the cleaned name, its key) for a session using `name` with `key` ("" = none): a free name is claimed
    and a new key returned; a claimed name with its key is accepted; without it NameTaken (look-alikes
    included). A free name that owns saved work is claimed only by the teacher (`teacher`: the join links);
    anyone else gets NameTaken. NotAllowed past MAX_CLAIMS; a bad name ValueError saying what to change."""
    cleaned = clean_owner_name(name)
    ident = identity_key(cleaned)
    # Checks read the claims without the lock; only a new claim takes it (and checks again under it). Every page
    # of every student checks its key: a department's servers took the class-wide lock through the class queue
    # for each, and a class's first pages queued behind one another (py-spy, issue 31).
    claims = _read_claims(names_file(root))
    claim = claims.get(_find(claims, cleaned) or ident)
    if isinstance(claim, dict) and claim.get("key_sha256"):
        if key and hmac.compare_digest(_hash(key), str(claim["key_sha256"])):
            return str(claim.get("name") or cleaned), key
        raise NameTaken(NAME_TAKEN)
    if len(claims) >= MAX_CLAIMS:
        raise NotAllowed(TOO_MANY_CLAIMS)
    if not teacher and holds_work(cleaned):  # outside the lock: it reads every run
        raise NameTaken(NAME_HOLDS_WORK)
    with _locked(root) as claims:
        if _find(claims, cleaned) is not None:  # claimed meanwhile by another session
            raise NameTaken(NAME_TAKEN)
        if len(claims) >= MAX_CLAIMS:
            raise NotAllowed(TOO_MANY_CLAIMS)
        key = secrets.token_urlsafe(16)
        claims[ident] = {"name": cleaned, "key_sha256": _hash(key), "claimed": time.time()}
        return cleaned, key


def key_matches(name: str, key: str, root: Optional[Path] = None) -> bool:
    """Whether `key` is the key of claimed name `name` (False for a free name)."""
    claims = _read_claims(names_file(root))
    claim = claims.get(_find(claims, name) or "")
    return bool(key) and isinstance(claim, dict) and hmac.compare_digest(_hash(key), str(claim.get("key_sha256")))


def release_name(name: str, root: Optional[Path] = None) -> bool:
    """Free a claimed name (the teacher's button, or erasing a student); True when it was claimed. The name is
    matched by the identity rule, so erasing "anna" releases "Anna"'s claim, as it erases Anna's runs."""
    with _locked(root) as claims:
        found = _find(claims, name)
        return found is not None and claims.pop(found, None) is not None


def _claims_of(owner: str) -> list[dict]:
    return [row for row in claimed_names() if same_person(row["name"], owner)]


def _describe_claim(row: dict) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row["claimed"])) if row.get("claimed") else "?"
    return f"claimed the name {row.get('name', '?')} on {when}"


def _all_claims() -> list[tuple[str, dict]]:
    return [(row["name"], row) for row in claimed_names()]


# A claimed name is student data: listed, exported and released with the rest of a student's (issue 25).
from cnnkit.classroom.student_data import owner_records_kind, register_student_data  # noqa: E402

register_student_data(owner_records_kind(
    "name", _claims_of, release_name, all_records=_all_claims, describe=_describe_claim, what="The name a student claimed (its join key is kept only as a SHA-256)",
    where="<checkpoint folder>/names.json", kept="until the teacher releases the name or erases the student"))
