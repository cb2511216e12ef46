"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from cnnkit.fileio import to_jsonable


def print_json(obj: Any) -> None:
    """One JSON object on one stdout line (the contract of every --json command)."""
    sys.stdout.write(json.dumps(to_jsonable(obj)) + "\n")
    sys.stdout.flush()


def progress(message: str) -> None:
    """Progress goes to stderr so stdout stays machine-readable."""
    print(message, file=sys.stderr, flush=True)
