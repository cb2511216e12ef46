"""`python -m cnnkit presets|summary`: the model presets and per-layer summaries from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnkit.cli.common import print_json


def _parse_shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise ValueError(f"--input-shape should be C,H,W like 3,32,32 (got {text!r})") from None
    if len(parts) != 3:
        raise ValueError(f"--input-shape should have 3 numbers C,H,W like 3,32,32 (got {text!r})")
    return parts  # type: ignore[return-value]


def load_spec(source: str):
    """A preset name or the path of a spec JSON file."""
    from cnnkit.models import PRESETS, ModelSpec, get_preset

    if source in PRESETS:
        return get_preset(source)
    path = Path(source)
    if path.suffix.lower() == ".json" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"no spec file at {path}")
        return ModelSpec.from_json(path.read_text(encoding="utf-8"))
    raise ValueError(f"{source!r} is neither a preset nor a spec .json file; presets: {', '.join(PRESETS)}")


def cmd_presets(args: argparse.Namespace) -> int:
    from cnnkit.models import list_presets

    presets = list_presets()
    if args.json:
        print_json(presets)
        return 0
    print(f"{'name':<14} {'input':<9} {'classes':>7} {'params':>11}  description")
    for p in presets:
        shape = "x".join(map(str, p["input_shape"]))
        print(f"{p['name']:<14} {shape:<9} {p['num_classes']:>7} {p['params']:>11,}  {p['description']}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from cnnkit.models import adapt_spec, format_summary, summarize

    spec = load_spec(args.spec)
    if args.input_shape or args.num_classes is not None:  # --num-classes 0 must reach the check
        spec = adapt_spec(spec, _parse_shape(args.input_shape) if args.input_shape else None, args.num_classes)
    summary = summarize(spec)
    if args.json:
        print_json(summary)
    else:
        print(format_summary(summary))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("presets", help="list the model presets with their parameter counts")
    p.add_argument("--json", action="store_true", help="one JSON list on stdout")
    p.set_defaults(func=cmd_presets)

    s = subparsers.add_parser("summary", help="per-layer table of a preset or a spec JSON file")
    s.add_argument("spec", metavar="NAME|spec.json", help="a preset name or a spec JSON file")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    s.add_argument("--input-shape", metavar="C,H,W", help="run the architecture at another input shape")
    s.add_argument("--num-classes", type=int, metavar="N", help="number of classes (the last Linear's outputs)")
    s.set_defaults(func=cmd_summary)
