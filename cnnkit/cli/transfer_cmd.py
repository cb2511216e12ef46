"""CLI subcommands (filled in by the transfer-learning issue)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this topic's subcommands; none yet."""
