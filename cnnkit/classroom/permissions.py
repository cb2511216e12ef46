"""Who may do what: a student deletes and cancels only their own runs and jobs; the teacher any.

Owners are names: the signed-in user's (OIDC) or the name a student typed; GUEST ("") is the owner when
nobody gave a name (single-user use: everything is the guest's, so nothing changes for one person)."""

from __future__ import annotations

import hmac
import re
from typing import Any

from cnnkit.classroom.identity import same_person
from cnnkit.formatting import clean_text

GUEST = ""
# The owner of runs made with `python -m cnnkit` (whoever has a shell on the server): not the web's guest, so a
# nameless web visitor cannot delete or resume them. Typed names start with a letter or digit, so none is this.
CLI_OWNER = "(command line)"
# The owner of runs the teacher makes in teacher mode without a name of their own: like CLI_OWNER, not a name
# anyone can type, so the teacher's runs say "the teacher's" and no visitor can claim them.
TEACHER_OWNER = "(teacher)"
MAX_NAME_LENGTH = 40
STOPPED_BY_USER = "stopped by the user"         # how the training loop words a stop (it does not know who)
STOPPED_BY_TEACHER = "stopped by the teacher"   # a job's message when the teacher stopped a student's job
MAX_EMAIL_LENGTH = 254


class NotAllowed(ValueError):
    """Someone asked for something only the owner or the teacher may do."""


def clean_owner_name(name: str) -> str:
    """A typed name as an owner: NFC, no control or bidi characters, spaces trimmed and collapsed; letters,
    digits, spaces and . ' - _ only, starting with a letter or digit, at most MAX_NAME_LENGTH characters.
    Raises ValueError saying what to change."""
    cleaned = clean_text(name)
    if not cleaned:
        raise ValueError("type a name (letters or digits), e.g. your first name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise ValueError(f"a name has at most {MAX_NAME_LENGTH} characters; type a shorter one")
    if not re.fullmatch(r"[^\W_][\w .'-]*", cleaned):
        raise ValueError("a name holds letters, digits, spaces and . ' - _ only, and starts with a letter or digit")
    return cleaned


def is_email(name: str) -> bool:
    """A signed-in identity's form: one @, something on both sides, a dot in the domain, no spaces."""
    return isinstance(name, str) and bool(re.fullmatch(r"[^\s@]+@[^\s@]+\.[^\s@]+", name))


def clean_identity(name: str) -> str:
    """An owner the privacy tools and predictions accept: a typed name (clean_owner_name) or a signed-in
    identity's e-mail address (anna@school.example), at most MAX_EMAIL_LENGTH characters. Raises ValueError
    saying what to change."""
    cleaned = clean_text(name)
    if "@" in cleaned:
        if len(cleaned) > MAX_EMAIL_LENGTH or not is_email(cleaned):
            raise ValueError("a signed-in student is named by their e-mail address, e.g. anna@school.example")
        return cleaned
    return clean_owner_name(cleaned)


def owner_label(owner: str, guest: str = "a guest") -> str:
    """An owner as a listing shows it: "the teacher" (runs made in teacher mode), `guest` for the guest, or the
    name (the command line's owner as it is)."""
    if owner == TEACHER_OWNER:
        return "the teacher"
    return owner or guest


def owner_of(thing: Any) -> str:
    """A run record's or job snapshot's owner ("" = guest): its `owner` attribute or meta["owner"]."""
    owner = getattr(thing, "owner", None)
    if owner is None:
        owner = (getattr(thing, "meta", None) or {}).get("owner", GUEST)
    return owner or GUEST


def may_delete(record: Any, who: str, teacher: bool = False) -> bool:
    """A saved run may be deleted by its owner or the teacher (whether nothing writes it is the store's check)."""
    return teacher or same_person(owner_of(record), who or GUEST)


def may_cancel(snapshot: Any, who: str, teacher: bool = False) -> bool:
    """A job may be cancelled by whoever submitted it or the teacher."""
    return teacher or same_person(owner_of(snapshot), who or GUEST)


_name = owner_label


def check_may_delete(record: Any, who: str, teacher: bool = False) -> None:
    if not may_delete(record, who, teacher):
        raise NotAllowed(f"run {getattr(record, 'run_id', '?')} belongs to {_name(owner_of(record))}: "
                         "only they or the teacher can delete it")


def check_may_cancel(snapshot: Any, who: str, teacher: bool = False) -> None:
    if not may_cancel(snapshot, who, teacher):
        raise NotAllowed(f"{getattr(snapshot, 'label', 'this job')} belongs to {_name(owner_of(snapshot))}: "
                         "only they or the teacher can stop it")


def is_teacher_password(typed: str, password_sha256: str) -> bool:
    """The typed password hashes to the configured hash (never when none is configured). Rate limiting is
    cnnkit.classroom.teacher's job."""
    from cnnkit.classroom.config import hash_password

    return bool(password_sha256) and bool(typed) and hmac.compare_digest(hash_password(typed),
                                                                          str(password_sha256).lower())


def is_teacher_user(groups: Any, teacher_group: str) -> bool:
    """An OIDC user is teacher when the configured group is among the groups claim."""
    if not teacher_group or not groups:
        return False
    if isinstance(groups, str):
        groups = [groups]
    return teacher_group in list(groups)
