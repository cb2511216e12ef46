"""What the teacher pinned to the Home page: runs and (later) lessons, kept in pins.json beside the runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from cnnkit.classroom.class_state import class_lock
from cnnkit.classroom.gate import Actor, check
from cnnkit.fileio import read_json, write_json
from cnnkit.paths import checkpoint_dir

PIN_KINDS = ("run", "lesson")
MAX_PINS_BYTES = 4 * 1024 * 1024


def pins_file(root: Optional[Path] = None) -> Path:
    # Beside the run folders (not inside one), so list_runs skips it; one checkpoint folder = one class.
    return (Path(root) if root else checkpoint_dir()) / "pins.json"


def load_pins(root: Optional[Path] = None) -> list[dict]:
    """[{"kind": "run"|"lesson", "id": ..., "note": ...}], oldest first; [] when none or unreadable."""
    data = read_json(pins_file(root), [], max_bytes=MAX_PINS_BYTES)   # damaged: no pins (logged, naming it)
    return [p for p in data if isinstance(p, dict) and p.get("kind") in PIN_KINDS and isinstance(p.get("id"), str)
            and isinstance(p.get("note", ""), str)] if isinstance(data, list) else []


def pin(kind: str, item_id: str, note: str = "", root: Optional[Path] = None, *, teacher: bool = False) -> list[dict]:
    """Pin a run or lesson to Home: the teacher's (the gate refuses anyone else)."""
    check("pin", Actor(teacher=teacher))
    if kind not in PIN_KINDS:
        raise ValueError(f"can pin a {' or a '.join(PIN_KINDS)}, not {kind!r}")
    pins_file(root).parent.mkdir(parents=True, exist_ok=True)
    with class_lock("pins", pins_file(root).parent):  # one writer across the class's servers
        pins = [p for p in load_pins(root) if (p["kind"], p["id"]) != (kind, item_id)]
        pins.append({"kind": kind, "id": item_id, "note": note})
        write_json(pins_file(root), pins)
    return pins


def unpin(kind: str, item_id: str, root: Optional[Path] = None, *, teacher: bool = False) -> list[dict]:
    check("pin", Actor(teacher=teacher))
    pins_file(root).parent.mkdir(parents=True, exist_ok=True)
    with class_lock("pins", pins_file(root).parent):
        pins = [p for p in load_pins(root) if (p["kind"], p["id"]) != (kind, item_id)]
        write_json(pins_file(root), pins)
    return pins
