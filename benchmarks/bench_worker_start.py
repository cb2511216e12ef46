"""How long a training worker process takes to start: the wait a lesson's first run pays when the process
backend has no warm worker (cnnkit.lessons.runner.WORKER_START_S, counted in its estimate).

Each try spawns the real worker (cnnkit.jobs.backends.process._serve: a new Python, its thread and OpenMP
settings, `import cnnkit.train`) with a stop already queued, and times start() to its exit. The files it imports
are in the page cache after the first try, as they are for an app server that has imported torch itself.

Usage: .venv/bin/python benchmarks/bench_worker_start.py [--tries 5]
Prints each try and one JSON line (seconds: median, min, max). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnkit.jobs.backends.process import _serve, _start_without_main  # noqa: E402


def one_start() -> float:
    context = multiprocessing.get_context("spawn")
    tasks, events, cancel = context.Queue(), context.Queue(), context.Event()
    tasks.put(None)   # the worker leaves as soon as it is ready to take a job
    process = context.Process(target=_serve, args=(tasks, events, cancel), daemon=True)
    start = time.perf_counter()
    _start_without_main(process)
    process.join(timeout=120)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tries", type=int, default=5)
    args = parser.parse_args(argv)
    one_start()   # not counted: fills the page cache with torch's files
    seconds = []
    for attempt in range(1, max(1, args.tries) + 1):
        seconds.append(one_start())
        print(f"try {attempt}: {seconds[-1]:.2f} s", flush=True)
    print(json.dumps({"tries": len(seconds), "median_s": round(statistics.median(seconds), 2),
                      "min_s": round(min(seconds), 2), "max_s": round(max(seconds), 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
