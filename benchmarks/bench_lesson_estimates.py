"""A lesson's time estimate against the clock, as an offline install meets it: each lesson runs once in a process
and a home folder of its own (no finished run of another lesson to reuse), with a data folder holding no dataset
(so CIFAR-10 and Fashion-MNIST are the shipped subsets), and the estimate printed before it is compared with its
time. The data folder's decoded-image cache is shared and filled first (an install decodes a dataset once, on its
first run); --cold gives each lesson an empty one, as on the very first run.

Usage:
  .venv/bin/python benchmarks/bench_lesson_estimates.py [--mode quick] [--only '002-*'] [--threads N]
                                                       [--first-seed 100] [--cold] [--json]

--threads sets CNNKIT_THREADS for the runs (default: unset, so the runs tune their thread count and the estimate
carries the shipped results' 1-thread pace to this machine's cores, as the Lessons page does). Error % =
(estimate − actual) / actual × 100 (positive: the estimate was too long). Run it on a quiet machine: a busy one
slows the runs, not the estimates.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_estimates import error_pct  # noqa: E402  (the same error % as the training estimates' benchmark)
from cnnkit.lessons import list_lessons  # noqa: E402


def warm_cache(data: Path, lesson_ids: list[str], mode: str) -> None:
    """Decode every dataset the lessons train on into data/.cache, in a process of its own (not timed)."""
    code = ("import sys\nfrom cnnkit.data import load_dataset\nfrom cnnkit.lessons import get_lesson\n"
            "names = {arm.train_settings(sys.argv[1]).get('dataset') for i in sys.argv[2:] "
            "for arm in get_lesson(i).arms}\n"
            "for name in sorted(n for n in names if n):\n    load_dataset(name)\n")
    env = {**os.environ, "CNNKIT_DATA_DIR": str(data), "CNNKIT_OFFLINE": "1"}
    env.pop("CNNKIT_CACHE_DIR", None)
    subprocess.run([sys.executable, "-c", code, mode, *lesson_ids], env=env, cwd=ROOT, check=True)


def run_one(lesson_id: str, mode: str, first_seed: int, threads: int | None, data: Path | None) -> dict:
    """One lesson in a fresh home, through bench_lessons.py: its estimate and its time."""
    with tempfile.TemporaryDirectory(prefix="cnnlab-estimate-") as home:
        env = {**os.environ, "CNNKIT_HOME": home, "CNNKIT_DATA_DIR": str(data or Path(home) / "data"),
               "CNNKIT_OFFLINE": "1"}
        env.pop("CNNKIT_CHECKPOINT_DIR", None)
        env.pop("CNNKIT_CACHE_DIR", None)
        if threads:
            env["CNNKIT_THREADS"] = str(threads)
        else:
            env.pop("CNNKIT_THREADS", None)
        command = [sys.executable, str(ROOT / "benchmarks" / "bench_lessons.py"), f"--{mode}", "--seeds", "1",
                   "--first-seed", str(first_seed), "--only", lesson_id, "--device", "cpu",
                   "--out", str(Path(home) / "out"), "--json"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"id": lesson_id, "status": "failed", "message": done.stderr.strip().splitlines()[-1:]}
    entry = json.loads(lines[-1])["lessons"][0]
    return {"id": lesson_id, "status": entry["status"], "estimate_s": entry.get("estimate_s"),
            "actual_s": entry["seconds"], "error_pct": error_pct(entry.get("estimate_s"), entry["seconds"]),
            "device": entry.get("device_label") or entry.get("device")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("quick", "full"), default="quick")
    parser.add_argument("--only", default="", help="lesson ids or patterns, comma-separated (default: the course)")
    parser.add_argument("--threads", type=int, default=None, help="CNNKIT_THREADS for the runs (default: tuned)")
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--cold", action="store_true", help="no decoded-image cache: each lesson's first run")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON line at the end")
    args = parser.parse_args(argv)
    from fnmatch import fnmatch

    patterns = [p.strip() for p in args.only.split(",") if p.strip()]
    ids = [lesson.id for lesson in list_lessons() if lesson.source == "course"
           and (not patterns or any(fnmatch(lesson.id, p) for p in patterns))]
    shared = None if args.cold else Path(tempfile.mkdtemp(prefix="cnnlab-estimate-data-"))
    rows = []
    try:
        if shared is not None:
            warm_cache(shared, ids, args.mode)
        print("| lesson | estimate | actual | error | device |\n|---|---:|---:|---:|---|", flush=True)
        for lesson_id in ids:
            row = run_one(lesson_id, args.mode, args.first_seed, args.threads, shared)
            rows.append(row)
            if row["status"] == "failed":
                print(f"| {lesson_id} | - | - | failed: {row['message']} | |", flush=True)
                continue
            print(f"| {lesson_id} | {row['estimate_s']:.1f} s | {row['actual_s']:.1f} s | {row['error_pct']:+.0f} % "
                  f"| {row['device']} |", flush=True)
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)
    errors = [abs(r["error_pct"]) for r in rows if r.get("error_pct") is not None]
    within = sum(e <= 30 for e in errors)
    print(f"within ±30 %: {within} of {len(errors)}", flush=True)
    if args.json:
        print(json.dumps({"mode": args.mode, "threads": args.threads, "cold": args.cold, "rows": rows,
                          "within_30": within}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
