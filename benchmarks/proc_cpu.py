"""CPU seconds of a running process from /proc (Linux), for the benchmarks that count a training's workers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


def process_cpu_seconds_of(pid: int) -> Optional[float]:
    """user + system CPU seconds process `pid` has used so far, from /proc/<pid>/stat; None where it cannot be
    read (ended, or no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])   # utime, stime: the stat file's fields 14 and 15
    except (OSError, ValueError, IndexError):
        return None
    return ticks / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
