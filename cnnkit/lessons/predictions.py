"""Predict first: before a lesson's results are shown, each student records a guess (which arm wins, by how many
points). One small JSON file per lesson, checkpoint_dir()/lesson_predictions/<lesson_id>.json, written atomically;
one guess per owner per lesson (a new one replaces the old). predictions_of / erase_predictions serve the privacy
tools (everything one person typed, and forgetting it). Owners are matched by THE identity rule
(cnnkit.classroom.identity) and may be typed names or signed-in e-mail addresses; a guest has no name to keep a
guess under, so the page keeps a guest's guess in that browser session only (every guest their own)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Optional

from cnnkit.classroom.class_state import class_lock
from cnnkit.classroom.identity import same_person
from cnnkit.classroom.permissions import GUEST, TEACHER_OWNER, clean_identity
from cnnkit.fileio import DamagedFile, load_json_file, read_json, value_matches, write_json
from cnnkit.lessons.loader import ID_RE
from cnnkit.paths import checkpoint_dir

FOLDER = "lesson_predictions"
MAX_PREDICTIONS = 2000           # per lesson: more than the names a server claims (names.MAX_CLAIMS), every one guessing
GUEST_PREDICTION = ("type your name in the sidebar first: a guess is kept under your name (a guest's guess "
                    "stays in this browser tab only)")
MAX_MARGIN = 100.0               # points of accuracy
MAX_FILE_BYTES = 4 * 1024 * 1024  # one lesson's predictions: 2,000 rows of ~120 bytes, many times over


def predictions_dir() -> Path:
    return checkpoint_dir() / FOLDER


def _file(lesson_id: str) -> Path:
    if not isinstance(lesson_id, str) or not ID_RE.match(lesson_id):
        raise ValueError(f"not a lesson id: {str(lesson_id)[:64]!r}")
    return predictions_dir() / f"{lesson_id}.json"


def _owner(owner: str) -> str:
    if owner in (None, GUEST) or owner == TEACHER_OWNER:
        return owner or GUEST
    return clean_identity(owner)


def _read(path: Path, strict: bool = False) -> list[dict]:
    """The rows of one lesson's file that are whole predictions. A damaged file reads as none; `strict` (before
    a write) raises a ValueError naming it instead, so a write never replaces the other students' guesses."""
    if strict:
        try:
            data = load_json_file(path, {}, max_bytes=MAX_FILE_BYTES)
        except DamagedFile as error:
            raise ValueError(f"the predictions of this lesson cannot be read ({error}); ask the teacher to fix or "
                             "remove that file") from None
    else:
        data = read_json(path, {}, max_bytes=MAX_FILE_BYTES)
    rows = data.get("predictions", []) if isinstance(data, dict) else []
    return [r for r in rows if isinstance(r, dict) and isinstance(r.get("owner"), str)
            and isinstance(r.get("arm_id"), str) and value_matches(r.get("margin_points"), float)
            and value_matches(r.get("created", 0.0), float)][:MAX_PREDICTIONS]


def record_prediction(lesson_id: str, owner: str, arm_id: str, margin_points: float,
                      arm_ids: Optional[list[str]] = None) -> dict:
    """Record `owner`'s guess: arm `arm_id` wins by `margin_points` points of test accuracy (0-100). With `arm_ids`
    (the lesson's arms) the arm is checked against them. Returns the stored row; ValueError saying what to change."""
    path = _file(lesson_id)
    owner = _owner(owner)
    if owner == GUEST:
        raise ValueError(GUEST_PREDICTION)
    if not isinstance(arm_id, str) or not ID_RE.match(arm_id):
        raise ValueError(f"not an arm id: {str(arm_id)[:64]!r}")
    if arm_ids is not None and arm_id not in arm_ids:
        raise ValueError(f"lesson {lesson_id} has no arm {arm_id!r}; choose one of {', '.join(arm_ids)}")
    try:
        margin = float(margin_points)
    except (TypeError, ValueError):
        raise ValueError(f"the margin is a number of points, e.g. 2.5 (got {str(margin_points)[:20]!r})") from None
    if not math.isfinite(margin) or not 0 <= margin <= MAX_MARGIN:
        raise ValueError(f"the margin is between 0 and {MAX_MARGIN:g} points (got {margin_points})")
    row = {"owner": owner, "arm_id": arm_id, "margin_points": round(margin, 2), "created": time.time()}
    with class_lock("predictions"):  # one writer across the class's servers (and this process's threads)
        rows = [r for r in _read(path, strict=True) if not same_person(r["owner"], owner)]
        if len(rows) >= MAX_PREDICTIONS:
            raise ValueError(f"lesson {lesson_id} already keeps {MAX_PREDICTIONS} predictions, the most one lesson "
                             "keeps, so yours was not recorded: ask the teacher to erase old ones (Class board, "
                             "Privacy), or skip to the results")
        rows.append(row)
        write_json(path, {"lesson_id": lesson_id, "predictions": rows})
    return row


def predictions(lesson_id: str) -> list[dict]:
    """Every owner's guess for the lesson, oldest first: {owner, arm_id, margin_points, created}."""
    return sorted(_read(_file(lesson_id)), key=lambda r: r.get("created", 0))


def predictions_of(owner: str) -> list[dict]:
    """Every guess `owner` recorded (the identity rule), over all lessons: {lesson_id, owner, arm_id,
    margin_points, created}. Any owner string is matched, none refused: this serves the privacy tools."""
    folder = predictions_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        out += [{"lesson_id": path.stem, **r} for r in _read(path) if same_person(r["owner"], owner)]
    return out


def erase_predictions(owner: str, lesson_id: Optional[str] = None) -> int:
    """Forget `owner`'s guesses (the identity rule; in one lesson, or all); returns how many were erased."""
    folder = predictions_dir()
    paths = [_file(lesson_id)] if lesson_id else (sorted(folder.glob("*.json")) if folder.is_dir() else [])
    erased = 0
    with class_lock("predictions"):  # one writer across the class's servers (and this process's threads)
        for path in paths:
            rows = _read(path, strict=True)
            kept = [r for r in rows if not same_person(r["owner"], owner)]
            if len(kept) != len(rows):
                erased += len(rows) - len(kept)
                write_json(path, {"lesson_id": path.stem, "predictions": kept})
    return erased


def prediction_outcomes(lesson_id: str, result) -> list[dict]:
    """Each guess against a result: the actual winner (highest mean test accuracy) and margin over the runner-up,
    whether the guess picked it and how far its margin was off (for the teacher to discuss)."""
    means = [(a.mean("test_accuracy"), a.arm_id) for a in result.arms if a.mean("test_accuracy") is not None]
    means.sort(reverse=True)
    if not means:
        return []
    winner = means[0][1]
    margin = means[0][0] - means[1][0] if len(means) > 1 else 0.0
    return [{**r, "winner": winner, "actual_margin": round(margin, 2), "right_arm": r["arm_id"] == winner,
             "margin_error": round(r["margin_points"] - margin, 2) if r["arm_id"] == winner else None}
            for r in predictions(lesson_id)]


# A student's predictions are student data: listed, exported and erased with the rest of theirs (issue 25).
from cnnkit.classroom.student_data import owner_records_kind, register_student_data  # noqa: E402

def _everyones() -> list[tuple[str, dict]]:
    """(owner, guess) of every named owner's guess over all lessons (the teacher's list of students)."""
    folder = predictions_dir()
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [(r["owner"], {"lesson_id": path.stem, **r}) for path in paths for r in _read(path) if r["owner"]]


def _describe(guess: dict) -> str:
    return (f"lesson {guess.get('lesson_id', '?')}: guessed {guess.get('arm_id', '?')} wins by "
            f"{guess.get('margin_points', '?')} points")


register_student_data(owner_records_kind(
    "predictions", predictions_of, erase_predictions, all_records=_everyones, describe=_describe,
    what="Lesson predictions: which arm a student guessed would win a lesson, and by how many points",
    where="the checkpoint folder's lesson_predictions/<lesson>.json", kept="until the teacher erases the student"))
