"""Runs the course's lessons and writes ours against the report's figures, as Markdown and JSON, with the time
each lesson took and the device.

It runs each lesson through the engine the CLI uses (cnnkit.lessons.run_lesson: one job group per lesson through
the job manager), one lesson after another.

    .venv/bin/python benchmarks/bench_lessons.py --quick --plan                      # what would run, estimates
    .venv/bin/python benchmarks/bench_lessons.py --quick --only 002-q4-batchnorm     # one lesson, quick mode
    CNNKIT_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_lessons.py --full --only '002-*' \
        --device cuda --seeds 1 --save-shipped                                         # the 002 lessons, shipped
    .venv/bin/python benchmarks/bench_lessons.py --quick --save-shipped --json         # every lesson, quick
    .venv/bin/python benchmarks/bench_lessons.py --quick --seeds 3 --first-seed 100 --json
                                    # the agreement table: does quick mode reproduce the report's direction, on
                                    # seeds no one tuned on (offsets 100, 101, 102 added to every arm's own seed)

--only takes lesson ids or shell patterns, comma-separated. The table goes to --out (default
<checkpoint dir>/bench_lessons/lessons-<mode>.md and .json). --save-shipped also writes each finished lesson's
result to assets/lesson_results/<id>-<mode>/lab.json (what a fresh install shows) and merges its rows into
assets/lesson_results/<mode>.md and <mode>.json (which lessons ship results, in which mode, on which device).
Runs go to the checkpoint directory (CNNKIT_CHECKPOINT_DIR; ./checkpoints by default).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))   # proc_cpu, beside this file

import cnnkit.transfer  # noqa: E402,F401  registers the "transfer" model kind (transfer arms)
from cnnkit.cli.lesson_cmd import comparison_json, seed_offsets  # noqa: E402
from cnnkit.fileio import read_json, write_json  # noqa: E402
from cnnkit.formatting import format_seconds  # noqa: E402
from cnnkit.jobs import get_job_manager  # noqa: E402
from cnnkit.labs.saved import load_lab  # noqa: E402
from cnnkit.lessons import estimate_lesson_seconds, list_lessons, run_lesson, ship_result  # noqa: E402
from cnnkit.lessons.runner import runs_seconds  # noqa: E402
from cnnkit.paths import checkpoint_dir, lesson_results_dir  # noqa: E402
from proc_cpu import process_cpu_seconds_of  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process and its children (user + system): with one thread, about the wall time the same
    work takes on a quiet machine, whatever else the machine is doing now. The trainings run in warm worker
    processes that live on between lessons, and getrusage counts a child only once it has ended and been waited
    for, so the live ones are read from /proc (Linux; elsewhere they are left out)."""
    import multiprocessing
    import resource

    own, live = resource.getrusage(resource.RUSAGE_SELF), 0.0
    for child in multiprocessing.active_children():   # also reaps the ended ones: getrusage counts them below
        live += process_cpu_seconds_of(child.pid) or 0.0
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime + live


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def select(patterns: Optional[str]) -> list:
    lessons = list_lessons()
    if not patterns:
        return lessons
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [lesson for lesson in lessons if any(fnmatch.fnmatchcase(lesson.id, p) for p in wanted)]
    unknown = [p for p in wanted if not any(fnmatch.fnmatchcase(lesson.id, p) for lesson in lessons)]
    if unknown:
        raise SystemExit(f"no lesson matches {', '.join(unknown)}; lessons: {', '.join(l.id for l in lessons)}")
    return chosen


def _cell(metric: dict, key: str) -> tuple[str, str, str]:
    """(ours 'mean ± std (n)', report, difference) as text; accuracy in percent, F1 as 0-1."""
    ours, reported = metric["ours"], metric["reported"]
    digits = 2 if key == "test_accuracy" else 4
    if ours["mean"] is None:
        text = "-"
    else:
        text = f"{ours['mean']:.{digits}f}" + (f" ± {ours['std']:.{digits}f}" if ours["std"] is not None else "")
        text += f" (n={ours['n']})"
    report = "-" if reported is None else f"{reported:.{digits}f}"
    diff = "-" if ours["mean"] is None or reported is None else f"{ours['mean'] - reported:+.{digits}f}"
    return text, report, diff


def markdown(entries: list[dict], mode: str) -> str:
    label = "quick mode (a subset, fewer epochs: not the report's settings)" if mode == "quick" else \
        "full mode (the report's settings)"
    lines = [f"Lessons, {label}: ours (mean ± std over seeds) against the report's figures. Time: the lesson's "
             "runs' training time, summed (no epoch counted longer than 3 × its run's median: stops left out).", "",
             "| lesson | arm | test acc, ours | report | Δ | macro F1, ours | report | Δ | status | time | device |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for entry in entries:
        if not entry.get("arms"):
            lines.append(f"| {entry['id']} | - | - | - | - | - | - | - | {entry['status']}: "
                         f"{entry.get('message', '')[:120]} | {format_seconds(entry['seconds'])} | {entry['device']} |")
            continue
        for i, arm in enumerate(entry["arms"]):
            acc = _cell(arm["test_accuracy"], "test_accuracy")
            f1 = _cell(arm["macro_f1"], "macro_f1")
            # the runs' own time (runner.runs_seconds), else first start to last end, else this process's
            timing = format_seconds(entry.get("runs_seconds") or entry.get("result_seconds") or entry["seconds"]) \
                if i == 0 else ""
            where = (entry.get("device_label") or entry["device"]) + (
                f", {entry['cpu_instructions']}" if entry.get("cpu_instructions") else "")
            lines.append(f"| {entry['id'] if i == 0 else ''} | {arm['label']} | {acc[0]} | {acc[1]} | {acc[2]} | "
                         f"{f1[0]} | {f1[1]} | {f1[2]} | {arm['status']} | {timing} | {where if i == 0 else ''} |")
    return "\n".join(lines) + "\n"


def agreement_markdown(entries: list[dict], mode: str) -> str:
    """Per lesson and arm: the report's difference from the first arm, ours per seed, mean ± std, how many seeds
    have the report's sign, the verdict (cnnkit.lessons.verdict), and the time of one seed of every arm."""
    lines = [f"Agreement, {mode} mode: arm minus the lesson's first arm, test accuracy points (the report's validation "
             "accuracy where it gives no test figure).", "",
             "| lesson | arm | report Δ | ours Δ per seed | mean ± std | seeds agreeing | verdict | time per seed "
             "(wall; CPU) |",
             "|---|---|---:|---:|---:|---:|---|---:|"]
    counted = reproduced = two_of_three = 0
    for entry in entries:
        verdict = entry.get("verdict") or {}
        seeds = len(entry.get("seeds") or []) or 1
        per_seed = format_seconds(entry["seconds"] / seeds) if entry.get("seconds") else "-"
        if entry.get("cpu_seconds"):
            per_seed += f"; {format_seconds(entry['cpu_seconds'] / seeds)} CPU"
        arms = verdict.get("arms") or []
        if not arms:
            lines.append(f"| {entry['id']} | - | - | - | - | - | {verdict.get('verdict', entry['status'])} | "
                         f"{per_seed} |")
            continue
        for i, arm in enumerate(arms):
            report = "-" if arm["report_diff"] is None else f"{arm['report_diff']:+.2f}" + (
                " (val)" if arm["report_metric"] == "val_accuracy" else "")
            diffs = ", ".join(f"{d:+.2f}" for d in arm["ours_diffs"]) or "-"
            spread = "-" if arm["mean"] is None else f"{arm['mean']:+.2f}" + (
                f" ± {arm['std']:.2f}" if arm["std"] is not None else "")
            agree = f"{arm['agreeing']}/{len(arm['ours_diffs'])}" if arm["counted"] else "-"
            if arm["counted"]:
                counted += 1
                reproduced += arm["verdict"] == "reproduced"
                two_of_three += 3 * arm["agreeing"] >= 2 * len(arm["ours_diffs"]) > 0
            lines.append(f"| {entry['id'] if i == 0 else ''} | {arm['label']} | {report} | {diffs} | {spread} | "
                         f"{agree} | {arm['verdict']} | {per_seed if i == 0 else ''} |")
    lines += ["", f"{reproduced} of {counted} counted differences reproduced (mean beyond the spread, the report's "
                  f"sign); {two_of_three} of {counted} have the report's sign in at least 2 of 3 seeds (or the "
                  "same share)."]
    return "\n".join(lines) + "\n"


def merge_shipped_table(entries: list[dict], mode: str, folder: Path) -> None:
    """assets/lesson_results/<mode>.json and .md: every shipped lesson's row, this run's replacing older ones."""
    path = folder / f"{mode}.json"
    old = read_json(path, {})
    by_id = {e["id"]: e for e in (old.get("lessons", []) if isinstance(old, dict) else []) if isinstance(e, dict)}
    by_id.update({e["id"]: e for e in entries if e.get("shipped")})
    ordered = [by_id[k] for k in sorted(by_id)]
    for entry in ordered:   # the runs' time, from the shipped result itself (rows written before it was kept too)
        try:
            entry["runs_seconds"] = round(runs_seconds(load_lab(folder / f"{entry['id']}-{mode}", kind="lesson")), 1)
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            pass
    write_json(path, {"mode": mode, "lessons": ordered})
    (folder / f"{mode}.md").write_text(markdown(ordered, mode))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--quick", action="store_true", help="quick mode (the default)")
    which.add_argument("--full", action="store_true", help="full mode: the report's settings")
    parser.add_argument("--only", help="lesson ids or patterns, comma-separated (e.g. '002-*,000-p1-baseline')")
    parser.add_argument("--seeds", type=int, default=None, help="repeats per arm (default: 3 on a GPU, 1 on a CPU)")
    parser.add_argument("--first-seed", type=int, default=0, metavar="K",
                        help="seed offsets K ... K+N-1 added to every arm's own seed (default 0)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--subset", type=int, default=None, help="train every arm on this many images")
    parser.add_argument("--save-shipped", action="store_true",
                        help="write each finished result into assets/lesson_results (what a fresh install shows)")
    parser.add_argument("--shipped-dir", type=Path, default=None, help="instead of assets/lesson_results")
    parser.add_argument("--out", type=Path, default=None, help="folder for lessons-<mode>.md and .json")
    parser.add_argument("--resume", action="store_true",
                        help="go on with the lessons an earlier run of this command left unfinished (after the last "
                             "finished epoch of each run), skip lessons whose shipped result has the seeds asked for, "
                             "and reuse finished runs of the same settings")
    parser.add_argument("--redo", action="store_true",
                        help="with --resume: run lessons whose result is shipped too, and replace it (give a new "
                             "checkpoint directory: runs of the same settings in it are reused)")
    parser.add_argument("--commit", action="store_true",
                        help="with --save-shipped: git-commit each lesson's shipped result as soon as it is done")
    parser.add_argument("--plan", action="store_true", help="run nothing: list the lessons with time estimates")
    parser.add_argument("--json", action="store_true", help="print the JSON report as one line on stdout")
    args = parser.parse_args(argv)

    mode = "full" if args.full else "quick"
    lessons = select(args.only)
    manager = get_job_manager()
    device = manager.backend.resolve_device(args.device)
    if args.plan:
        rows = []
        for lesson in lessons:
            estimate = estimate_lesson_seconds(lesson, mode, device, _seeds(lesson.id, mode, args))
            rows.append({"id": lesson.id, "arms": len(lesson.arms), **estimate.to_dict()})
            print(f"{lesson.id:<36} {len(lesson.arms)} arm(s)  {estimate.text}", file=sys.stderr)
        print(json.dumps({"mode": mode, "device": device, "lessons": rows}))
        return 0

    shipped_dir = args.shipped_dir or lesson_results_dir()
    out = args.out or checkpoint_dir() / "bench_lessons"
    entries: list[dict[str, Any]] = []
    started = time.time()
    report: dict[str, Any] = {"mode": mode, "device": device, "lessons": entries}
    _log(f"{len(lessons)} lesson(s) in {mode} mode on {device}; load average {os.getloadavg()[0]:.2f}")
    for number, lesson in enumerate(lessons, 1):
        estimate = estimate_lesson_seconds(lesson, mode, device, _seeds(lesson.id, mode, args))
        _log(f"[{number}/{len(lessons)}] {lesson.id}: {estimate.text}")
        clock, cpu_clock = time.monotonic(), cpu_seconds()
        entry: dict[str, Any] = {"id": lesson.id, "title": lesson.title, "mode": mode, "device": device,
                                 "seconds": 0.0, "status": "failed", "message": "", "arms": [], "shipped": False,
                                 "estimate_s": round(estimate.seconds, 1),
                                 "load_average": round(os.getloadavg()[0], 2)}
        try:
            if args.resume:
                result = run_or_resume(lesson, mode, args, manager, out)
            else:
                offsets = seed_offsets(_seeds(lesson.id, mode, args), args.first_seed, device)
                result = run_lesson(lesson.id, mode, offsets, args.device, args.subset, owner="", manager=manager,
                                    on_event=_events)
        except SkipLesson as skipped:
            entry.update(status="skipped", message=str(skipped))
            _log(f"  {lesson.id} skipped: {skipped}")
        except (ValueError, RuntimeError, FileNotFoundError) as error:
            entry["message"] = str(error)
            _log(f"  {lesson.id} could not run: {error}")
        else:
            payload = comparison_json(lesson, result)
            entry.update(status=result.status, message=result.message, device=result.device,
                         device_label=result.device_label, cpu_instructions=result.cpu_instructions,
                         cpu_count=os.cpu_count(),
                         arms=payload["arms"], seeds=result.seeds, lab_id=result.lab_id, result_seconds=result.seconds,
                         verdict=payload["verdict"], quick_limit=lesson.quick_limit)
            if args.save_shipped and result.status == "done":
                target = ship_result(result, shipped_dir / f"{lesson.id}-{mode}")
                entry["shipped"] = True
                _log(f"  shipped to {target}")
                if args.commit:
                    entry["seconds"] = round(time.monotonic() - clock, 1)   # the table's time column
                    merge_shipped_table(entries + [entry], mode, shipped_dir)
                    commit_shipped(lesson.id, mode, shipped_dir, entry)
        entry["seconds"] = round(time.monotonic() - clock, 1)
        entry["cpu_seconds"] = round(cpu_seconds() - cpu_clock, 1)
        _log(f"  {lesson.id}: {entry['status']} in {format_seconds(entry['seconds'])}")
        entries.append(entry)
        # Written after every lesson, so a long full-mode run keeps what it has if it is stopped.
        report = {"mode": mode, "device": device, "seeds": args.seeds, "first_seed": args.first_seed,
                  "subset": args.subset,
                  "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
                  "seconds": round(time.time() - started, 1), "lessons": entries}
        write_json(out / f"lessons-{mode}.json", report)
        (out / f"lessons-{mode}.md").write_text(markdown(entries, mode) + "\n" + agreement_markdown(entries, mode))
        if args.save_shipped:
            merge_shipped_table(entries, mode, shipped_dir)
    _log(f"table: {out / f'lessons-{mode}.md'}")
    if args.json:
        report["agreement"] = agreement_markdown(entries, mode)
        print(report["agreement"], file=sys.stderr)
        print(json.dumps(report))
    else:
        print(markdown(entries, mode))
        print(agreement_markdown(entries, mode))
    return 0 if all(e["status"] in ("done", "partial", "skipped") for e in entries) else 1


# One seed cannot tell an effect of under 2 points from noise (a full-mode arm's spread over 3 seeds reached 1.02
# points here: 002-Q6's augmented arm, 75.73 ± 1.02): a lesson where the report's difference between an arm and
# the first arm is smaller runs 3 seeds in full mode (small_report_effect), as do the lessons named here. 001's
# split study: the report gives no figures per split, and the two splits differ by well under a point.
SMALL_EFFECT_POINTS = 2.0
NOISY_LESSONS = {"001-q1b-splits"}


def small_report_effect(lesson_id: str) -> bool:
    """Whether some arm of the lesson differs from its first arm by under SMALL_EFFECT_POINTS in the report."""
    from cnnkit.lessons import get_lesson
    from cnnkit.lessons.verdict import arm_verdicts

    try:
        lesson = get_lesson(lesson_id)
    except (KeyError, ValueError):
        return False
    return any(v.report_diff is not None and abs(v.report_diff) < SMALL_EFFECT_POINTS
               for v in arm_verdicts(lesson, None))


def seeds_for(lesson_id: str, asked: Optional[int]) -> int:
    """Seeds per arm: as asked, else 3 for the lessons whose effect is under 2 points (or named noisy), else 1."""
    if asked:
        return asked
    return 3 if lesson_id in NOISY_LESSONS or small_report_effect(lesson_id) else 1


def _seeds(lesson_id: str, mode: str, args: argparse.Namespace) -> Optional[int]:
    """Seeds per arm a run of `lesson_id` makes: full mode (and any resumed run) as seeds_for, else as asked (None:
    the device's default)."""
    return seeds_for(lesson_id, args.seeds) if mode == "full" or args.resume else args.seeds


def _has_shipped(lesson_id: str, mode: str, seeds: int, shipped_dir: Path) -> bool:
    saved = read_json(shipped_dir / f"{lesson_id}-{mode}" / "lab.json", default={})
    return isinstance(saved, dict) and saved.get("status") == "done" and len(saved.get("seeds") or []) >= seeds


def run_or_resume(lesson, mode: str, args: argparse.Namespace, manager, out: Path):
    """One lesson, resumably: its group id is kept in <out>/resume-<mode>.json before anything trains, so the next
    `--resume` goes on with the same group (cnnkit.lessons.resume) instead of starting it again."""
    from cnnkit.lessons import saved_results
    from cnnkit.lessons.resume import resume_group, runner_alive
    from cnnkit.lessons.runner import collect_result, submit_lesson, this_process, wait_for_group

    seeds = _seeds(lesson.id, mode, args)
    shipped_dir = args.shipped_dir or lesson_results_dir()
    if not args.redo and _has_shipped(lesson.id, mode, seeds, shipped_dir):
        raise SkipLesson(f"its {mode} result with {seeds} seed(s) is shipped already")
    state_file = out / f"resume-{mode}.json"
    state = read_json(state_file, default={}) or {}
    group = state.get(lesson.id)
    if group:
        try:
            queued = resume_group(group, manager)
            _log(f"  going on with {group}: {queued} run(s) queued again")
        except (ValueError, FileNotFoundError) as error:
            _log(f"  cannot go on with {group} ({error}); starting again")
            group = None
    if not group:
        elsewhere = [r.runner for r in saved_results(lesson.id, mode) if r.status == "running" and r.runner
                     and r.runner != this_process() and runner_alive(r)]
        if elsewhere:      # another worker of full_lessons.sh has it: two would train the same runs twice
            raise SkipLesson(f"another process ({elsewhere[0]}) is running its {mode} mode")
        offsets = seed_offsets(seeds, args.first_seed, manager.backend.resolve_device(args.device))
        group = submit_lesson(lesson.id, mode, offsets, args.device, "", manager, args.subset, queue=False)
        write_json(state_file, {**state, lesson.id: group})
        queued = resume_group(group, manager)
        _log(f"  started {group}: {queued} run(s) queued (the others reuse finished runs of the same settings)")
    wait_for_group(group, manager, _events)
    return collect_result(lesson.id, group, manager)


class SkipLesson(ValueError):
    """The lesson needs no run (its result is there already)."""


def commit_shipped(lesson_id: str, mode: str, shipped_dir: Path, entry: dict) -> None:
    """git-commit one lesson's shipped result (and the mode's table) in the checkout that holds them."""
    import subprocess

    paths = [str(shipped_dir / f"{lesson_id}-{mode}"), str(shipped_dir / f"{mode}.md"), str(shipped_dir / f"{mode}.json")]
    accs = ", ".join(f"{a['arm_id']} {a['test_accuracy']['ours']['mean']:.2f}" for a in entry.get("arms", [])
                     if a.get("test_accuracy", {}).get("ours", {}).get("mean") is not None)
    message = (f"Lessons: {mode}-mode result shipped for {lesson_id} ({accs}; {entry.get('device_label') or entry['device']}, "
               f"{len(entry.get('seeds') or [])} seed(s), {format_seconds(entry.get('result_seconds') or 0)})")
    try:
        subprocess.run(["git", "add", "--", *paths], cwd=shipped_dir, check=True, capture_output=True)
        subprocess.run(["git", "commit", "-q", "-m", message, "--", *paths], cwd=shipped_dir, check=True,
                       capture_output=True)
        _log(f"  committed: {message}")
    except (OSError, subprocess.CalledProcessError) as error:
        _log(f"  could not commit {lesson_id}'s result: {error}")


def _events(event: dict) -> None:
    if event["kind"] == "job" and event["status"] in ("running", "failed", "cancelled"):
        _log(f"  [{event['status']}] {event['label']}" + (f": {event['error']}" if event.get("error") else ""))
    elif event["kind"] == "epoch":
        row = event["row"]
        val = row.get("val_acc")
        speed = row.get("images_per_s")
        _log(f"    epoch {row.get('epoch')}: train loss {row.get('train_loss', 0):.4f}"
             + (f", val acc {val:.3f}" if val is not None else "") + (f", {speed:,.0f} img/s" if speed else ""))


if __name__ == "__main__":
    sys.exit(main())
