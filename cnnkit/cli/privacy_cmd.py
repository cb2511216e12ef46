"""`class export-student`, `class erase-student`, `class retention`: a student's data from the shell.

The CLI is run by the server's operator, so it acts as the teacher (cnnkit.classroom.student_data)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnkit.cli.common import print_json, progress, topic_subparsers


def _kinds() -> None:
    import cnnkit.labs  # noqa: F401  registers runs, datasets and labs (cnnkit.labs imports store and data)
    import cnnkit.lessons  # noqa: F401  registers lesson predictions


def register(subparsers: argparse._SubParsersAction) -> None:
    topic = topic_subparsers(subparsers, "class", "the class: students' data, export, erase, retention")

    export = topic.add_parser("export-student", help="everything stored of one student as one zip",
                              description="Writes a zip of the student's runs, labs, datasets and records, with "
                                          "student.json saying what each is.")
    export.add_argument("name", help="the student's name (the owner of their runs)")
    export.add_argument("--out", type=Path, help="the zip to write (default: <name>-data.zip in this folder)")
    export.add_argument("--json", action="store_true", help="one JSON line on stdout")
    export.set_defaults(func=export_command)

    erase = topic.add_parser("erase-student", help="remove everything stored of one student (lists it without --yes)",
                             description="Without --yes: lists what would be removed and removes nothing.")
    erase.add_argument("name", help="the student's name (the owner of their runs)")
    erase.add_argument("--yes", action="store_true", help="really remove it")
    erase.add_argument("--json", action="store_true", help="one JSON line on stdout")
    erase.set_defaults(func=erase_command)

    keep = topic.add_parser("retention", help="remove runs and uploads older than cnnlab.toml's "
                                              "[privacy] retention_days")
    keep.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    keep.add_argument("--days", type=int, help="use this many days instead of cnnlab.toml's setting")
    keep.add_argument("--json", action="store_true", help="one JSON line on stdout")
    keep.set_defaults(func=retention_command)


def export_command(args: argparse.Namespace) -> int:
    from cnnkit.classroom.student_data import export_file_name, export_student

    _kinds()
    out = args.out or Path(export_file_name(args.name))
    _, manifest = export_student(args.name, out, teacher=True)
    summary = {"owner": manifest["owner"], "out": str(out), "counts": manifest["counts"], "files": manifest["files"]}
    if args.json:
        print_json(summary)
    else:
        counts = ", ".join(f"{n} {kind}" for kind, n in manifest["counts"].items()) or "nothing stored"
        print(f"{out}: {args.name}'s data ({counts}; {manifest['files']} files)")
    return 0


def _print_lines(title: str, lines: list[str]) -> None:
    print(title)
    for line in lines:
        print(f"  {line}")


def erase_command(args: argparse.Namespace) -> int:
    from cnnkit.classroom.student_data import erase_student

    _kinds()
    result = erase_student(args.name, teacher=True, dry_run=not args.yes)
    if args.json:
        print_json(result)
    elif not result["removed"]:
        print(f"nothing is stored of {args.name}")
    elif result["dry_run"]:
        _print_lines(f"would remove {len(result['removed'])} item(s) of {args.name} (nothing removed; "
                     "add --yes to remove them):", result["removed"])
    else:
        _print_lines(f"removed {len(result['removed'])} item(s) of {args.name}:", result["removed"])
    for error in result["errors"]:
        progress(f"could not remove: {error}")
    return 1 if result["errors"] else 0


def retention_command(args: argparse.Namespace) -> int:
    from cnnkit.classroom import load_classroom_config
    from cnnkit.classroom.student_data import retention

    _kinds()
    days = args.days if args.days is not None else load_classroom_config().retention_days
    if days is not None and days < 1:
        raise ValueError(f"--days must be at least 1, not {days}")
    result = retention(days, dry_run=args.dry_run)
    if args.json:
        print_json(result)
    elif not days:
        print("no retention set: runs and uploads are kept until deleted "
              "(set [privacy] retention_days in cnnlab.toml, or pass --days)")
    else:
        verb = "would remove" if args.dry_run else "removed"
        _print_lines(f"{verb} {len(result['removed'])} item(s) older than {days} days:", result["removed"])
        if result["kept"]:
            _print_lines("kept:", result["kept"])
    for error in result["errors"]:
        progress(f"could not remove: {error}")
    return 1 if result["errors"] else 0
