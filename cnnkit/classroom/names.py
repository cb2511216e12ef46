"""Names that cannot be borrowed: without a sign-in, the first session that uses a name claims it.

The claim gives that session a secret key (kept in its page link as ?key=, beside ?name=); another session
that uses the name without the key is refused. Claims are kept beside the runs (one checkpoint folder = one
class), holding only each key's SHA-256, so they do not let anyone act as a student. The teacher releases a name
(and the privacy page, when a student's data is erased, calls `release_name`).

Each claim is one small file per identity key of its name in <checkpoint_dir>/names.d/, put there with link(2),
which fails when the file exists: of two sessions claiming one name at the same moment, on one server or on two
servers over shared storage, exactly one wins, and claims take no lock (a department's first pages queued behind
one class-wide lock for each claim, issue 31). Claims of older versions in names.json are still read and
released; new claims are never written there.

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
import os
import secrets
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from cnnkit.classroom.class_state import class_lock
from cnnkit.classroom.identity import identity_key, identity_keys, same_person
from cnnkit.classroom.permissions import NotAllowed, clean_owner_name
from cnnkit.fileio import (DamagedFile, atomic_write_bytes, file_signature, load_json_file, parse_json_bounded,
                           read_text_bounded, signature_settled)
from cnnkit.paths import checkpoint_dir

NAME_TAKEN = "this name is taken: use your own link, or ask the teacher"
NAME_HOLDS_WORK = ("saved work already belongs to this name, but nobody has claimed it: ask the teacher for its "
                   "join link (Class board, Teacher: join links)")
MAX_CLAIMS = 500    # names claimed at once on one server: several classes; a flood of claims stops here
TOO_MANY_CLAIMS = (f"this server already keeps {MAX_CLAIMS} claimed names, the most it keeps: ask the teacher to "
                   "release names nobody uses (Class board, or `python -m cnnkit class release-name NAME`)")
_LOCK = threading.Lock()
MAX_NAMES_BYTES = 16 * 1024 * 1024   # names.json: a claim is ~150 bytes
MAX_CLAIM_BYTES = 4096               # one file of names.d


class NameTaken(NotAllowed):
    """A name another session claimed, used without its key."""


def names_file(root: Optional[Path] = None) -> Path:
    """Claims of older versions (one file for the class, read-modify-written under the class lock)."""
    return (Path(root) if root else checkpoint_dir()) / "names.json"


def claims_dir(root: Optional[Path] = None) -> Path:
    """The claims: one file per identity key of each claimed name."""
    return (Path(root) if root else checkpoint_dir()) / "names.d"


def _claim_file(folder: Path, identity: str) -> Path:
    # hashed: an identity key is any Unicode text, a file name is not
    return folder / f"{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:40]}.json"


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


# Claim files by (file name, inode, mtime, ctime, size): each is written once and never changed (a release removes
# it), so a listing reads only the files it has not seen.
_FILES: dict = {}
_FOLDER: dict = {}   # the last listing of names.d, by the folder's file_signature (used once settled)
_READING = threading.Lock()   # the two caches above, shared by every session's thread (a listing takes ~1 ms)


def _read_claim_files(folder: Path) -> tuple[dict, dict]:
    """(the claims in names.d keyed by the identity key of their names, their _index): of two that are one name
    the oldest. A damaged file grants no key and is skipped; its name stays taken, since no claim can put its
    file there. Read-only: callers copy before changing them."""
    with _READING:
        return _list_claim_files(folder)


def _read_claim_file(path: Path):
    """One file of names.d parsed (anything: checked by the caller); None when damaged, FileNotFoundError when
    gone."""
    try:
        return parse_json_bounded(read_text_bounded(path, MAX_CLAIM_BYTES), path)
    except FileNotFoundError:
        raise
    except (OSError, DamagedFile):
        return None


def _list_claim_files(folder: Path) -> tuple[dict, dict]:
    signature = file_signature([folder])   # a claim or a release changes the folder's mtime
    if signature_settled(signature) and _FOLDER.get("signature") == signature:
        return _FOLDER["claims"], _FOLDER["index"]
    seen: dict = {}
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return {}, {}
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(".json"):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            stamp = (entry.name, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
            if stamp not in _FILES:
                claim = _read_claim_file(Path(entry.path))
                _FILES[stamp] = claim if _usable(claim) and isinstance(claim.get("name"), str) else None
        except FileNotFoundError:   # released this moment
            continue
        seen[stamp] = _FILES[stamp]
    for stamp in [stamp for stamp in _FILES if stamp not in seen]:   # released files: forgotten
        del _FILES[stamp]
    claims: dict = {}
    for claim in sorted((c for c in seen.values() if c is not None), key=_claimed_at):
        claims.setdefault(identity_key(claim["name"]), claim)
    index = _index(claims)   # once per listing: every page view looks its student's name up in it
    _FOLDER.update(signature=signature, claims=claims, index=index)
    return claims, index


def _all_claims_by_identity(root: Optional[Path] = None) -> tuple[dict, dict]:
    """(every claim keyed by identity, its _index): names.d, then names.json of older versions for names not in
    it. Read-only, as _read_claim_files."""
    claims, index = _read_claim_files(claims_dir(root))
    older = _read_claims(names_file(root))
    if not older:   # the usual case: the cached listing as it is
        return claims, index
    claims, index = dict(claims), dict(index)
    for ident, claim in older.items():
        keys = identity_keys(str(claim.get("name") or ident))
        if not any(key in index for key in keys):
            claims[ident] = claim
            for key in keys:
                index.setdefault(key, ident)
    return claims, index


def _link_claim(folder: Path, name: str, key_sha256: str) -> None:
    """Claim `name`: its claim written once to a temporary file, then linked to the file of each of its identity
    keys in a fixed order. link(2) fails when the file exists, atomically, on shared storage too: the first to link
    a key holds it, and a claim that finds one of its keys held takes its links back and is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"name": name, "key_sha256": key_sha256, "claimed": time.time()},
                      separators=(",", ":")).encode()
    handle, temporary = tempfile.mkstemp(prefix=".claim.", suffix=".tmp", dir=folder)
    linked: list[Path] = []
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        for identity in sorted(identity_keys(name)):
            target = _claim_file(folder, identity)
            try:
                os.link(temporary, target)
            except FileExistsError:
                for path in linked:
                    path.unlink(missing_ok=True)
                raise NameTaken(NAME_TAKEN) from None
            linked.append(target)
    finally:
        os.unlink(temporary)


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
    found = _lookup(index, name)
    return found if found in claims else None


def _lookup(index: dict[str, str], name: str) -> Optional[str]:
    """The claim key that `index` (an _index) gives `name`'s person, or None."""
    return next((index[key] for key in identity_keys(name) if key in index), None)


def _same_claims(claims: dict) -> bool:
    cached = _CACHE["claims"]
    return claims is cached or (len(claims) == len(cached) and claims == cached)


def _claimed_at(claim: dict) -> float:
    value = claim.get("claimed", 0.0)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def claimed_names(root: Optional[Path] = None) -> list[dict]:
    """[{"name", "claimed"}] of every claimed name, oldest first (never the key hashes)."""
    rows = [{"name": str(v.get("name", k)), "claimed": _claimed_at(v)}
            for k, v in _all_claims_by_identity(root)[0].items()]
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
    # No lock: every page of every student checks its key here, and a new claim is decided by link(2) (see the
    # module's docstring). A department's servers took one class-wide lock for each, and the first pages of a
    # class queued behind one another (py-spy, issue 31).
    claims, index = _all_claims_by_identity(root)
    claim = claims.get(_lookup(index, cleaned) or ident)
    if isinstance(claim, dict) and claim.get("key_sha256"):
        if key and hmac.compare_digest(_hash(key), str(claim["key_sha256"])):
            return str(claim.get("name") or cleaned), key
        raise NameTaken(NAME_TAKEN)
    if len(claims) >= MAX_CLAIMS:
        raise NotAllowed(TOO_MANY_CLAIMS)
    if not teacher and holds_work(cleaned):
        raise NameTaken(NAME_HOLDS_WORK)
    try:
        # strict: a damaged file of claims read as "no claims" would free every name in it; claiming stops
        # (fails closed) until the teacher fixes or removes it
        older = _read_claims(names_file(root), strict=True)
    except DamagedFile as error:
        raise ValueError(f"the class's claimed names cannot be read ({error}); ask the teacher to fix or "
                         "remove that file") from None
    if _find(older, cleaned) is not None:
        raise NameTaken(NAME_TAKEN)
    key = secrets.token_urlsafe(16)
    _link_claim(claims_dir(root), cleaned, _hash(key))
    return cleaned, key


def key_matches(name: str, key: str, root: Optional[Path] = None) -> bool:
    """Whether `key` is the key of claimed name `name` (False for a free name)."""
    claims, index = _all_claims_by_identity(root)
    claim = claims.get(_lookup(index, name) or "")
    return bool(key) and isinstance(claim, dict) and hmac.compare_digest(_hash(key), str(claim.get("key_sha256")))


def release_name(name: str, root: Optional[Path] = None) -> bool:
    """Free a claimed name (the teacher's button, or erasing a student); True when it was claimed. The name is
    matched by the identity rule, so erasing "anna" releases "Anna"'s claim, as it erases Anna's runs."""
    folder = claims_dir(root)
    claims, index = _read_claim_files(folder)
    found = _lookup(index, name)
    released = False
    if found is not None:
        for identity in identity_keys(str(claims[found]["name"])):
            path = _claim_file(folder, identity)
            try:
                held = _read_claim_file(path)
            except FileNotFoundError:
                continue
            # only this claim's files (a damaged one of its keys goes too: it held this name)
            if held is None or (isinstance(held, dict) and identity_key(str(held.get("name"))) == found):
                path.unlink(missing_ok=True)
                released = True
    if names_file(root).exists():
        with _locked(root) as older:
            found = _find(older, name)
            released = (found is not None and older.pop(found, None) is not None) or released
    return released


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
    where="<checkpoint folder>/names.d/ (names.json from older versions)", kept="until the teacher releases the name or erases the student"))
