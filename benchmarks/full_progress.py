"""Carries the full-mode benchmark's unfinished work from one machine to the next through this repository.

benchmarks/full_lessons.sh trains for hours; the end of a session ends its workers, and the next session may start
on a fresh machine that has nothing of the old one but this repository. Without this, a lesson longer than one
session (001-Q1: 5 h 24 min of one thread) would start again from its first epoch every session and never land.

    .venv/bin/python benchmarks/full_progress.py save --ckpt ../full-ck      # before a session ends: then commit
    .venv/bin/python benchmarks/full_progress.py restore --ckpt ../full-ck   # full_lessons.sh does this first

`save` copies what `bench_lessons.py --full --resume` needs from the checkpoint directory into
benchmarks/full_progress/ (replacing what was there):
- each worker's resume file (bench_lessons*/resume-full.json: lesson -> its group),
- the labs/ of those groups that are not collected yet (the lessons' results and their resolution labs),
- the runs of those groups, and the finished runs of other groups that their plans reuse: a run in progress as
  its commit point (state.pt) with config.json and run.json (its last.pt, best.pt and history.json are rebuilt
  from state.pt when it goes on); a finished run whole but state.pt, since a later lesson may reuse it (000-P4
  starts from 000-P3's network, 001-Q2's third-conv reuses arc2-adam).
The checkpoint directory's path inside JSON files is saved as a placeholder and laid back as the new one.

`restore` lays back what the checkpoint directory lacks (nothing there is overwritten: it may be newer) and
forgets the process of each restored run that was running and of each lesson result: it ended with the old
machine, and a process of the new one may have the same id (cnnkit.store reads such a run as interrupted: it can
go on).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cnnkit.store import ACTIVE_STATUSES, FINISHED_STATUSES  # noqa: E402

PROGRESS_DIR = Path(__file__).resolve().parent / "full_progress"
PLACEHOLDER = "$CHECKPOINT_DIR"
MANIFEST = "MANIFEST.json"
DERIVED = ("last.pt", "best.pt", "history.json")   # rebuilt from state.pt when a run goes on
SKIPPED = ("train.lock",)


def _group_lab(ckpt: Path, group: str) -> Optional[dict]:
    """The lesson group's saved result (its lab.json), None before it is written."""
    lab_file = ckpt / "labs" / group / "lab.json"
    return json.loads(lab_file.read_text()) if lab_file.is_file() else None


def _groups(ckpt: Path) -> dict[str, str]:
    """group -> lesson, from every worker's resume file, for the groups not collected yet: a collected one (done,
    partial or failed; its lab.json's status is not "running") cannot go on, its lesson is shipped or starts a new
    group, so carrying its runs would only grow the repository (000-P3's and 000-P4's: 22 MB)."""
    groups: dict[str, str] = {}
    for state_file in sorted(ckpt.glob("bench_lessons*/resume-full.json")):
        for lesson_id, group in json.loads(state_file.read_text()).items():
            lab = _group_lab(ckpt, group)
            if lab is None or lab.get("status", "running") == "running":
                groups[group] = lesson_id
    return groups


def _reused_groups(ckpt: Path, groups: dict[str, str]) -> set[str]:
    """The other groups whose finished runs those groups' plans reuse: a plan entry names its run, and a reused
    run's name ends with the group that trained it ("… · seed 0 [lesson-001-q2-third-conv-085134-08bb]"). A lesson
    started again (3 seeds instead of 1) is a new group in the resume file, reusing the old group's runs."""
    reused: set[str] = set()
    for group in groups:
        for entry in (_group_lab(ckpt, group) or {}).get("plan") or []:
            name = str(entry.get("name") or "")
            if name.endswith("]") and "[" in name:
                reused.add(name[name.rindex("[") + 1:-1])
    return reused - set(groups)


def _lab_name(lab_dir: Path) -> str:
    lab = json.loads((lab_dir / "lab.json").read_text())
    return str((lab.get("config") or {}).get("name") or lab.get("group") or lab_dir.name)


def files_to_keep(ckpt: Path) -> list[Path]:
    """The files under `ckpt` (relative to it) that the unfinished lessons need to go on (see the module's text)."""
    resumed = _groups(ckpt)
    groups = set(resumed) | _reused_groups(ckpt, resumed)
    tags = [f"[{group}]" for group in sorted(groups)]
    kept = [path.relative_to(ckpt) for path in sorted(ckpt.glob("bench_lessons*/resume-full.json"))]
    for lab_dir in sorted(p.parent for p in ckpt.glob("labs/*/lab.json")):
        if lab_dir.name in groups or any(tag in _lab_name(lab_dir) for tag in tags):
            kept += [p.relative_to(ckpt) for p in sorted(lab_dir.iterdir()) if p.is_file()]
    for run_dir in sorted(p.parent for p in ckpt.glob("*/run.json")):
        meta = json.loads((run_dir / "run.json").read_text())
        if not any(tag in meta.get("name", "") for tag in tags):
            continue
        in_progress = (run_dir / "state.pt").is_file() and meta.get("status") not in FINISHED_STATUSES
        leave = set(SKIPPED) | (set(DERIVED) if in_progress else {"state.pt"})
        kept += [p.relative_to(ckpt) for p in sorted(run_dir.iterdir()) if p.is_file() and p.name not in leave]
    return kept


def save(ckpt: Path, dest: Path = PROGRESS_DIR) -> dict:
    """Replace `dest` by what `ckpt`'s unfinished lessons need; the manifest it writes (also returned)."""
    ckpt = ckpt.resolve()
    files = files_to_keep(ckpt)
    staging = dest.with_name(dest.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    for relative in files:
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.suffix == ".json":
            target.write_text((ckpt / relative).read_text().replace(str(ckpt), PLACEHOLDER))
        else:
            shutil.copyfile(ckpt / relative, target)   # state.pt is replaced atomically: a copy is one whole commit
    manifest = {"saved": time.strftime("%Y-%m-%d %H:%M:%S"), "lessons": sorted(set(_groups(ckpt).values())),
                "files": len(files), "bytes": sum((staging / f).stat().st_size for f in files)}
    staging.mkdir(parents=True, exist_ok=True)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return manifest


def restore(ckpt: Path, source: Path = PROGRESS_DIR) -> list[str]:
    """Lay back into `ckpt` each run, lab and resume file `source` holds that `ckpt` lacks (one that is there may
    be newer: it is left as it is); the ones laid back, relative to `ckpt`."""
    if not (source / MANIFEST).is_file():
        return []
    ckpt = ckpt.resolve()
    ckpt.mkdir(parents=True, exist_ok=True)
    restored: list[str] = []
    with open(ckpt / ".restore.lock", "w") as lock:   # the workers of full_lessons.sh start together
        fcntl.flock(lock, fcntl.LOCK_EX)
        for unit in _units(source):
            target = ckpt / unit
            if target.exists():
                continue
            staging = target.with_name(target.name + ".restoring")
            shutil.rmtree(staging, ignore_errors=True)
            for path in ([source / unit] if (source / unit).is_file() else sorted((source / unit).rglob("*"))):
                if not path.is_file():
                    continue
                into = staging / path.relative_to(source / unit) if (source / unit).is_dir() else staging
                into.parent.mkdir(parents=True, exist_ok=True)
                if path.suffix == ".json":
                    text = path.read_text().replace(PLACEHOLDER, str(ckpt))
                    into.write_text(_process_forgotten(text) if path.name in ("run.json", "lab.json") else text)
                else:
                    shutil.copyfile(path, into)
            staging.rename(target)
            restored.append(str(unit))
    return restored


def _units(source: Path) -> list[Path]:
    """What restore lays back whole (relative): each resume file, each lab folder, each run folder."""
    units = [p.relative_to(source) for p in sorted(source.glob("bench_lessons*/resume-full.json"))]
    units += [p.relative_to(source) for p in sorted(source.glob("labs/*")) if p.is_dir()]
    units += [p.relative_to(source) for p in sorted(source.iterdir())
              if p.is_dir() and p.name != "labs" and not p.name.startswith("bench_lessons")]
    return units


def _process_forgotten(text: str) -> str:
    """A run's or a lesson result's JSON without the process of the old machine that was running it: the same pid
    (or host:pid) may be another process on the new machine."""
    meta = json.loads(text)
    if meta.get("status") in ACTIVE_STATUSES + ("starting",):   # "starting": a run not begun
        meta["pid"] = None       # cnnkit.store reads an active run whose process is gone as interrupted
    if meta.get("runner"):
        meta["runner"] = ""      # a lesson result: cnnkit.lessons leaves a group of an unknown process alone
    return json.dumps(meta, indent=1)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("save", "restore"))
    parser.add_argument("--ckpt", type=Path, required=True, help="the checkpoint directory full_lessons.sh uses")
    args = parser.parse_args(argv)
    if args.action == "save":
        manifest = save(args.ckpt)
        print(f"saved {manifest['files']} files ({manifest['bytes'] / 1e6:.1f} MB) of {', '.join(manifest['lessons'])} "
              f"to {PROGRESS_DIR}: commit them")
    else:
        restored = restore(args.ckpt)
        print(f"restored {len(restored)} run(s), lab(s) and resume file(s) into {args.ckpt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
