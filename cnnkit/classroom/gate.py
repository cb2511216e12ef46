"""The one gate: every action that spends compute or changes a run or a dataset asks here first.

Called by the job manager (every job it queues, keyed by the job's `kind` in its meta, and every stop), by the
store (delete), by the importers (run zip, dataset zip) and by pins, so a page that forgets to ask cannot let
anything through; pages may call `allowed()` to grey out a button, never as the only check.

Rules, in order:
1. The class config must be readable (a broken cnnlab.toml refuses everything: it fails closed).
2. With `require_names = true`, a nameless guest may do none of these (the teacher may).
3. Pinning is the teacher's.
4. An action on something owned (resume, stop, delete, overwrite an import) is its owner's or the teacher's.
5. Anything that trains (every job kind: train, transfer, lab, sweep, lesson, resume, and kinds added later)
   is within the class limits, for every training config it carries. The teacher, who sets them, is exempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from cnnkit.classroom.config import ClassroomConfig, check_run_allowed, load_classroom_config
from cnnkit.classroom.identity import same_person
from cnnkit.classroom.permissions import GUEST, NotAllowed, owner_label

# Actions that change something but train nothing; every other action (any job kind) spends compute.
CHANGE_ACTIONS = ("stop", "delete", "import", "pin")
JOB_KINDS = ("train", "transfer", "lab", "sweep", "lesson", "resume")
ACTIONS = JOB_KINDS + CHANGE_ACTIONS
NAME_FIRST = "Type your name in the sidebar first: this class keeps everyone's runs apart by name."
_VERBS = {"stop": "stop", "delete": "delete", "resume": "resume", "import": "replace"}
_NOT_GIVEN = object()


@dataclass(frozen=True)
class Actor:
    """Who asks: an owner name ("" = a guest) and whether they are the teacher."""

    owner: str = GUEST
    teacher: bool = False


def as_actor(who: Any, teacher: bool = False) -> Actor:
    return who if isinstance(who, Actor) else Actor(str(who or GUEST), bool(teacher))


def _trainings(training: Any) -> list:
    if training is None:
        return []
    if isinstance(training, (list, tuple)):
        return list(training)
    return [training]


def check(action: str, actor: Actor, config: Optional[ClassroomConfig] = None, *, training: Any = None,
          target_owner: Any = _NOT_GIVEN, what: str = "") -> None:
    """Raise NotAllowed / OverLimit / ConfigError (all ValueError, each a message saying what to do) unless
    `actor` may do `action` now. `training`: the TrainConfig(s) (or dicts) a job would train; `target_owner`:
    the owner of the run, job or dataset acted on (None: owned by nobody, so only the teacher); `what` names
    it in the message ("run r1")."""
    config = load_classroom_config() if config is None else config
    if config.require_names and not actor.owner and not actor.teacher:
        raise NotAllowed(NAME_FIRST)
    if action == "pin" and not actor.teacher:
        raise NotAllowed("only the teacher can pin to or unpin from the Home page")
    if target_owner is not _NOT_GIVEN and not actor.teacher and (target_owner is None or not same_person(target_owner, actor.owner)):
        holder = "the teacher" if target_owner is None else owner_label(target_owner)
        raise NotAllowed(f"{what or 'this'} belongs to {holder}: only they or the teacher can "
                         f"{_VERBS.get(action, action)} it")
    if action not in CHANGE_ACTIONS and not actor.teacher:
        for one in _trainings(training):
            check_run_allowed(one, config)


def allowed(action: str, actor: Actor, config: Optional[ClassroomConfig] = None, **kwargs: Any) -> tuple[bool, str]:
    """(may it, why not) for a page greying out a button; the real check happens again where it acts."""
    try:
        check(action, actor, config, **kwargs)
    except ValueError as exc:
        return False, str(exc)
    return True, ""


def job_trainings(meta: dict) -> Iterable:
    """The training configs a job's meta declares: meta["config"] and meta["configs"]."""
    return _trainings(meta.get("config")) + _trainings(meta.get("configs"))
