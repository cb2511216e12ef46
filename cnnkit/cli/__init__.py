"""`python -m cnnkit ...`: everything the pages do, headless.

Each topic registers its subcommands from its own module, so adding a command never
touches another topic's file.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that define `register(subparsers)`; each adds its own subcommands.
COMMAND_MODULES = [
    "cnnkit.cli.data_cmd",
    "cnnkit.cli.model_cmd",
    "cnnkit.cli.train_cmd",
    "cnnkit.cli.explain_cmd",
    "cnnkit.cli.lab_cmd",
    "cnnkit.cli.transfer_cmd",
    "cnnkit.cli.inspect_cmd",
    "cnnkit.cli.export_cmd",
    "cnnkit.cli.privacy_cmd",
    "cnnkit.cli.class_cmd",
    "cnnkit.cli.lesson_cmd",
]


def build_parser(prog: str = "python -m cnnkit") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="CNN Lab from the command line.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def topic_names() -> list[str]:
    """The CLI's topics (train, lessons, ...), as `--help` lists them."""
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)


def main(argv: list[str] | None = None, prog: str = "python -m cnnkit") -> int:
    """`python -m cnnkit ...`; `cnn-lab TOPIC ...` calls it too, with its own name in the usage lines."""
    import cnnkit.transfer  # noqa: F401  registers the "transfer" model kind, so its runs load and train here

    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        # Bad input gets one clear line, not a traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A place the commands' own checks did not foresee (a disk filling up, a folder removed meanwhile).
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}; check that the place exists and can be written", file=sys.stderr)
        return 1
