"""`lessons` and `lesson run|show`: the course's experiments from the shell.

    python -m cnnkit lessons --json                       every lesson: id, title, topic, arms, status, figures
    python -m cnnkit lesson show ID --json                one lesson: settings per arm, report's figures, result
    python -m cnnkit lesson run ID [--quick] [--seeds N] [--first-seed K] [--device cpu] [--subset N] --json
    python -m cnnkit lesson resume ID --json              go on with its run that stopped before its end

`lesson run` prints progress on stderr; its last stdout line is one JSON object with, per arm, ours (mean, std,
per seed) and the report's figure for test accuracy and macro F1 (and the other compared metrics), and the verdict
(cnnkit.lessons.verdict: does ours reproduce the report's direction, arm minus first arm, seed by seed).
"""

from __future__ import annotations

import argparse
from typing import Any

from cnnkit.cli.common import print_json, progress

HEADLINE = ("test_accuracy", "macro_f1")


def register(subparsers: argparse._SubParsersAction) -> None:
    listing = subparsers.add_parser("lessons", help="the course's lessons and a teacher's own, with their status",
                                    description="Lists every lesson (the course's, then the teacher's files in "
                                                "<data dir>/lessons) with its status and the report's figures; "
                                                "broken teacher files are listed with the file and field to fix.")
    listing.add_argument("--json", action="store_true", help="one JSON line on stdout")
    listing.set_defaults(func=lessons_command)

    lesson = subparsers.add_parser("lesson", help="run or show one lesson")
    actions = lesson.add_subparsers(dest="lesson_action", metavar="ACTION")
    run = actions.add_parser("run", help="train every arm of a lesson (over seeds) and compare with the report",
                             description="Queues every arm x seed, waits, and prints ours (mean ± std over seeds) "
                                         "beside the report's figures. Progress on stderr; with --json the last "
                                         "stdout line is one JSON object.")
    run.add_argument("lesson_id", metavar="ID")
    run.add_argument("--quick", action="store_true", help="quick mode: a subset and fewer epochs (CPU classrooms)")
    run.add_argument("--seeds", type=int, default=None, help="repeats per arm (default: 3 on a GPU, 1 on a CPU)")
    run.add_argument("--first-seed", type=int, default=0, metavar="K",
                     help="seed offsets K ... K+N-1, each added to every arm's own seed (default 0); a check on "
                          "seeds no one tuned on uses e.g. 100")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    run.add_argument("--subset", type=int, default=None, help="train every arm on this many images")
    run.add_argument("--owner", default="", help="whose runs these are (a class's name for the student)")
    run.add_argument("--json", action="store_true", help="only the JSON line on stdout (no table)")
    run.set_defaults(func=lesson_run_command)
    resume = actions.add_parser("resume", help="go on with a run of a lesson that stopped before its end",
                                description="Goes on with the newest run of the lesson whose process is gone (a "
                                            "Ctrl-C, an app or machine restart): what finished is kept, a stopped "
                                            "run goes on after its last finished epoch. Output as `lesson run`.")
    resume.add_argument("lesson_id", metavar="ID")
    resume.add_argument("--owner", default="", help="who asks: the run's owner (a class's name for the student)")
    resume.add_argument("--json", action="store_true", help="only the JSON line on stdout (no table)")
    resume.set_defaults(func=lesson_resume_command)
    show = actions.add_parser("show", help="one lesson's settings, the report's figures and its latest result")
    show.add_argument("lesson_id", metavar="ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=lesson_show_command)
    lesson.set_defaults(func=lambda args: lesson.print_help() or 2)


def _lesson(lesson_id: str):
    from cnnkit.lessons import get_lesson

    try:
        return get_lesson(lesson_id)
    except KeyError as error:
        raise ValueError(error.args[0]) from None


def verdict_json(lesson, result) -> dict:
    """A lesson's verdict as JSON, with the result it was judged on (mode, seeds, shipped, lab id)."""
    from cnnkit.lessons import lesson_verdict

    data = lesson_verdict(lesson, result).to_dict()
    data["result"] = None if result is None else {"mode": result.mode, "seeds": result.seeds,
                                                  "shipped": result.shipped, "lab_id": result.lab_id,
                                                  "device_label": result.device_label}
    return data


def lessons_command(args: argparse.Namespace) -> int:
    from cnnkit.lessons import index_verdict, latest_result, lesson_file_errors, lesson_statuses, list_lessons

    lessons = list_lessons()
    statuses = lesson_statuses([lesson.id for lesson in lessons])
    rows = []
    for lesson in lessons:
        # the verdict of the result the page shows first (this install's newest, else the shipped full, then quick),
        # and per mode
        results = {mode: latest_result(lesson.id, mode) for mode in ("quick", "full")}
        latest = latest_result(lesson.id)
        rows.append({**lesson.summary(), "status": statuses[lesson.id], "verdict": verdict_json(lesson, latest),
                     "verdicts": {mode: verdict_json(lesson, r) for mode, r in results.items()},
                     "index": {mode: index_verdict(lesson, r) for mode, r in results.items()}})  # the page's cells
    errors = [e.to_dict() for e in lesson_file_errors()]
    if args.json:
        print_json({"lessons": rows, "errors": errors})
        return 0
    for row in rows:
        print(f"{row['id']:<32} {row['topic']:<24} {row['status']:<16} quick: {row['index']['quick']:<28} "
              f"full: {row['index']['full']:<28} {row['title']}")
    for error in errors:
        print(f"cannot use {error['text']}")
    if not rows:
        progress("no lessons")
    return 0


def _report_figures(lesson) -> dict[str, dict[str, Any]]:
    from cnnkit.lessons import COMPARED_METRICS

    return {arm.id: {m: arm.reported.value(m) for m in COMPARED_METRICS} for arm in lesson.arms}


def comparison_json(lesson, result) -> dict:
    """The `lesson run` JSON: per arm ours (mean, std, per seed) and the report's figure per compared metric."""
    from cnnkit.lessons import COMPARED_METRICS, backbone_note, comparison_rows

    reported = _report_figures(lesson)
    arms = []
    for arm in lesson.arms:
        ours = result.arm(arm.id)
        metrics = {}
        for metric in COMPARED_METRICS:
            summary = (ours.metrics.get(metric) if ours else None) or {}
            metrics[metric] = {"ours": {"mean": summary.get("mean"), "std": summary.get("std"),
                                        "n": summary.get("n", 0), "per_seed": summary.get("per_seed", [])},
                               "reported": reported[arm.id][metric]}
        arms.append({"arm_id": arm.id, "label": arm.label, "status": ours.status if ours else "failed",
                     "seeds": ours.seeds if ours else [], "seconds": ours.seconds if ours else 0.0,
                     **({"backbone": ours.backbone, "backbone_note": backbone_note(lesson, result, arm.id)}
                        if ours and ours.backbone else {}), **metrics})
    verdict = verdict_json(lesson, result)
    verdict.pop("result")
    return {"lesson_id": lesson.id, "title": lesson.title, "mode": result.mode, "quick": result.mode == "quick",
            "device": result.device, "device_label": result.device_label, "cpu_instructions": result.cpu_instructions,
            "data": result.data, "seeds": result.seeds,
            "seconds": result.seconds, "status": result.status,
            "message": result.message, "lab_id": result.lab_id, "shipped": result.shipped, "arms": arms,
            "rows": comparison_rows(lesson, result), "verdict": verdict}


def _fmt(value: Any, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if metric == "test_accuracy" else f"{value:.4f}"


def comparison_table(payload: dict) -> str:
    label = " (quick)" if payload["quick"] else ""
    lines = [f"{payload['title']}{label} on {payload['device']}, {len(payload['seeds'])} seed(s), "
             f"{payload['seconds']:.0f} s",
             f"{'arm':<24} {'test acc (ours)':>18} {'report':>8} {'macro F1 (ours)':>18} {'report':>8}"]
    for arm in payload["arms"]:
        cells = []
        for metric in HEADLINE:
            ours = arm[metric]["ours"]
            text = _fmt(ours["mean"], metric) + (f" ± {_fmt(ours['std'], metric)}" if ours["std"] is not None else "")
            cells += [f"{text:>18}", f"{_fmt(arm[metric]['reported'], metric):>8}"]
        lines.append(f"{arm['label'][:24]:<24} " + " ".join(cells))
    verdict = payload.get("verdict") or {}
    if verdict:
        lines.append(f"verdict: {verdict['text']}")
        lines += [f"  {(arm.get('compared') or arm['label'])[:24]:<24} {arm['text']}"
                  for arm in verdict.get("arms", [])]
    return "\n".join(lines)


def seed_offsets(seeds, first_seed: int, device: str):
    """What run_lesson takes: None (the device's default count) when neither is given, else the offsets
    first_seed ... first_seed + n - 1 (n: --seeds, or the device's default)."""
    from cnnkit.lessons import default_seeds

    if seeds is None and not first_seed:
        return None
    count = default_seeds(device) if seeds is None else seeds
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"--seeds must be 1 or more (got {seeds})")
    if first_seed < 0:
        raise ValueError(f"--first-seed must be 0 or more (got {first_seed})")
    return list(range(first_seed, first_seed + count))


class _Reporter:
    def __call__(self, event: dict) -> None:
        if event["kind"] == "job" and event["status"] in ("running", "failed", "cancelled"):
            extra = f": {event['error']}" if event.get("error") else ""
            progress(f"[{event['status']}] {event['label']}{extra}")
        elif event["kind"] == "epoch":
            row = event["row"]
            val = row.get("val_acc")
            progress(f"  {event['label']} epoch {row.get('epoch')}: train loss {row.get('train_loss', 0):.4f}"
                     + (f", val acc {val:.3f}" if val is not None else ""))


def lesson_run_command(args: argparse.Namespace) -> int:
    from cnnkit.lessons import data_caveats, estimate_lesson_seconds, run_lesson

    lesson = _lesson(args.lesson_id)
    mode = "quick" if args.quick else "full"
    from cnnkit.jobs import get_job_manager

    manager = get_job_manager()
    device = manager.backend.resolve_device(args.device)
    estimate = estimate_lesson_seconds(lesson, mode, device, args.seeds)
    progress(f"lesson {lesson.id} ({mode}) on {device}: {estimate.text}")
    for caveat in data_caveats(lesson, mode):
        progress(f"note: {caveat}")
    result = run_lesson(lesson.id, mode, seed_offsets(args.seeds, args.first_seed, device), args.device, args.subset,
                        args.owner, manager, on_event=_Reporter())
    return _print_result(lesson, result, args.json)


def lesson_resume_command(args: argparse.Namespace) -> int:
    from cnnkit.jobs import get_job_manager
    from cnnkit.lessons import collect_result, go_on_with_group, stopped_groups
    from cnnkit.lessons.runner import wait_for_group

    lesson = _lesson(args.lesson_id)
    manager = get_job_manager()
    stopped = stopped_groups(lesson.id, manager)
    if not stopped:
        raise ValueError(f"no run of lesson {lesson.id} has stopped before its end: nothing to go on with "
                         "(`lesson run` starts one)")
    group = stopped[0].group
    queued = go_on_with_group(group, by=args.owner, manager=manager)
    progress(f"going on with {group} ({stopped[0].mode} mode): {queued} run(s) queued again")
    wait_for_group(group, manager, _Reporter())
    return _print_result(lesson, collect_result(lesson.id, group, manager), args.json)


def _print_result(lesson, result, json_only: bool) -> int:
    """`lesson run`'s output: the table on stderr (unless --json), the JSON line on stdout; exit 0 when it finished."""
    payload = comparison_json(lesson, result)
    if not json_only:
        progress(comparison_table(payload))
    progress(f"{result.status} in {result.seconds:.1f} s; saved as lab {result.lab_id}")
    print_json(payload)
    return 0 if result.status in ("done", "partial") else 1


def lesson_show_command(args: argparse.Namespace) -> int:
    from cnnkit.lessons import latest_result, lesson_status

    lesson = _lesson(args.lesson_id)
    result = latest_result(lesson.id)
    data = {**lesson.to_dict(), "status": lesson_status(lesson.id),
            "configs": {mode: {arm.id: config.to_dict() for arm_id, config in lesson.configs(mode)
                               for arm in [lesson.arm(arm_id)]} for mode in ("full", "quick")},
            "result": comparison_json(lesson, result) if result else None}
    if not args.json:
        progress(f"{lesson.title} ({lesson.section or lesson.id}): {lesson.question}")
        for arm in lesson.arms:
            progress(f"  {arm.id}: {arm.label}" + (f" (differs: {', '.join(arm.differs)})" if arm.differs else ""))
        if result:
            progress(comparison_table(data["result"]))
    print_json(data)
    return 0
