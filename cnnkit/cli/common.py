"""Helpers shared by the CLI command modules: JSON output, progress, and the TrainConfig flags."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from typing import Any, Collection

from cnnkit.fileio import to_jsonable

MAX_INPUT_JSON_BYTES = 16 * 1024 * 1024   # a --config or --spec file: a few KB


def read_json_input(path: Any, what: str = "JSON file") -> Any:
    """A JSON file given on the command line (--config, --spec), read bounded; ValueError saying what is wrong
    (missing, a folder, a pipe or device, too big, not UTF-8, not JSON), never an OSError traceback."""
    from pathlib import Path

    from cnnkit.fileio import load_json_file

    try:
        return load_json_file(Path(path), max_bytes=MAX_INPUT_JSON_BYTES)
    except FileNotFoundError:
        raise ValueError(f"no file {path}; give the path of a {what}") from None


def print_json(obj: Any) -> None:
    """One JSON object on one stdout line (the contract of every --json command)."""
    sys.stdout.write(json.dumps(to_jsonable(obj)) + "\n")
    sys.stdout.flush()


def progress(message: str) -> None:
    """Progress goes to stderr so stdout stays machine-readable."""
    print(message, file=sys.stderr, flush=True)


# --- TrainConfig flags (train and transfer) -----------------------------------------------------------

# TrainConfig fields with flags of their own rather than one flag each: the model (train's
# --preset/--spec, transfer's --source/--strategy/...) and augment (one flag per AugmentConfig field).
OWN_FLAGS = ("model", "augment")
AUGMENT_DEST_PREFIX = "aug_"
_ADDED = "config_flag_fields"  # the Namespace attribute listing the fields add_config_flags gave flags


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def optional_number(kind: type):
    """An argparse type: int or float, or none / native / empty for None (e.g. --image-size native)."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str):
        if text.lower() in ("none", "native", ""):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} or native/none, got {text!r}") from None

    return parse


def _flag_type(name: str, hint: Any):
    if hint is bool:
        return _bool
    if hint in (int, float, str):
        return hint
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) == 1 and args[0] in (int, float) and type(None) in typing.get_args(hint):
        return optional_number(args[0])
    raise TypeError(f"TrainConfig.{name}: no CLI flag type for {hint}; add one in cnnkit.cli.common._flag_type "
                    "or give the field metadata user_facing=False")


def config_flag_fields() -> list[dataclasses.Field]:
    """The TrainConfig fields that get one flag each (user-facing, not in OWN_FLAGS)."""
    from cnnkit.train import TrainConfig

    return [f for f in dataclasses.fields(TrainConfig)
            if f.name not in OWN_FLAGS and f.metadata.get("user_facing", True)]


def add_config_flags(parser: argparse.ArgumentParser, defaults=None, skip: Collection[str] = (),
                     required: Collection[str] = ()) -> None:
    """One flag per user-facing TrainConfig field (type from its annotation; help, choices and flag name
    from its metadata), and an "augmentation" group with one flag per AugmentConfig field.

    Flags default to None so only the flags given override the base config_from_flags starts from
    (a --config file, the command's defaults); the help shows `defaults`' values (TrainConfig()).
    `skip`: fields the command sets itself; `required`: fields that must be given."""
    from cnnkit.data import AugmentConfig
    from cnnkit.train import TrainConfig

    defaults = defaults if defaults is not None else TrainConfig()
    hints = typing.get_type_hints(TrainConfig)
    added = []
    for field in config_flag_fields():
        if field.name in skip:
            continue
        about = field.metadata.get("help")
        kwargs: dict[str, Any] = {"dest": field.name, "default": None, "type": _flag_type(field.name, hints[field.name])}
        if field.name in required:
            kwargs.update(required=True, help=about)
        else:
            default = getattr(defaults, field.name)
            shown = "''" if default == "" else default
            kwargs["help"] = f"{about} (default: {shown})" if about else f"default: {shown}"
        if field.metadata.get("choices"):
            kwargs["choices"] = field.metadata["choices"]
        parser.add_argument(field.metadata.get("flag") or "--" + field.name.replace("_", "-"), **kwargs)
        added.append(field.name)
    group = parser.add_argument_group("augmentation")
    augment_hints = typing.get_type_hints(AugmentConfig)
    for field in dataclasses.fields(AugmentConfig):
        flag, dest = "--" + field.name.replace("_", "-"), AUGMENT_DEST_PREFIX + field.name
        if augment_hints[field.name] is bool:
            group.add_argument(flag, dest=dest, action="store_true", default=None, help=f"switch {field.name} on")
        else:
            group.add_argument(flag, dest=dest, type=_flag_type(field.name, augment_hints[field.name]), default=None,
                               help="default: 0 (off)")
    parser.set_defaults(**{_ADDED: tuple(added)})


def config_from_flags(args: argparse.Namespace, base: dict | None = None):
    """The TrainConfig of `base` (TrainConfig fields) with every flag add_config_flags added and the
    command line gave; augmentation flags are merged into base's augment. Not validated."""
    from cnnkit.data import AugmentConfig
    from cnnkit.train import TrainConfig

    data = dict(base or {})
    for name in getattr(args, _ADDED, ()):
        value = getattr(args, name, None)
        if value is not None:
            data[name] = value
    augment = data.get("augment") or {}
    if not isinstance(augment, dict):  # TrainConfig.from_dict says what is wrong with it
        return TrainConfig.from_dict(data)
    augment = dict(augment)
    for field in dataclasses.fields(AugmentConfig):
        value = getattr(args, AUGMENT_DEST_PREFIX + field.name, None)
        if value is not None:
            augment[field.name] = value
    data["augment"] = augment
    return TrainConfig.from_dict(data)


# --- topics shared by several modules (e.g. `class ...`) ------------------------------------------------

def topic_subparsers(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    """The subcommands of topic `name` (`python -m cnnkit NAME SUBCOMMAND`), created by the first module that
    asks and shared by the others, so two modules can each add their own subcommands to one topic."""
    parser = subparsers.choices.get(name)
    if parser is None:
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(func=lambda _args, _parser=parser: _parser.print_help() or 2)
    for action in parser._actions:  # argparse keeps a parser's subcommands as one action
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")
