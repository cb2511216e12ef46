"""First render of a page for a new session, once the server is warm: what each student's first page costs.

    .venv/bin/python benchmarks/bench_render.py                       # in-process (AppTest), Home/Training/Lessons
    .venv/bin/python benchmarks/bench_render.py --profile /tmp/prof   # + cProfile of 3 renders per page (text)
    .venv/bin/python benchmarks/bench_render.py --server --burst 30   # a real server: one by one, then 30 at once

In-process: AppTest runs app.py in this process; only the script run is timed (ScriptRunner._run_script: the
thread's CPU time and its wall time), so AppTest's own per-test work (component scan, a new script cache)
is left out; the compiled page scripts are shared as a server shares them. The first session of each page pays
the imports and fills the caches ("cold"); the next --sessions new sessions are what every other student pays
("warm": median CPU ms, the robust figure on a shared machine).

--server: `streamlit run app.py` (bench_classroom's server and protocol client); each page's first render as
request-to-script_finished, one new session after another, and then --burst new sessions asking for the
Training runner at the same moment (no training running): the classroom's first-render p95 without the runs.
Figures are noisy on a shared box: the report carries the load average.

Measured on the shared 2-core dev box (load average 9-10 from other work), main (86719d6) -> this change:
  in-process, warm new session, median CPU ms: Home 68 -> 18, Training runner 39 -> 26, Lessons 85 -> 20
  (an earlier pair at load 3-9: Home 54 -> 25, Training runner 69 -> 41, Lessons 94 -> 25).
  --server --burst 30, the server's CPU ms per session: 66 / 62 -> 35 / 36 (two interleaved pairs); the burst's
  p95 2.4 / 2.6 s -> 1.5 / 2.9 s (decided by the box's other load).
bench_classroom.py --sessions 30 --watchers 10 --browsers 2, main and this change side by side at the same time
(load average 14; each server had 18% of the busy CPU): first render p50 3.7 / p95 8.6 s -> 3.3 / 11.3 s,
training while pages load 0.48 -> 0.46 of the CLI: on this box the class's figures follow the other work on it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("home", "training_runner", "lessons")


def _env(work: Path) -> dict:
    (work / "cnnlab.toml").write_text("")  # no class limits
    return dict(CNNKIT_DATA_DIR=str(work / "data"), CNNKIT_CHECKPOINT_DIR=str(work / "runs"), CNNKIT_OFFLINE="1",
                CNNLAB_CONFIG=str(work / "cnnlab.toml"), CNNKIT_THREADS=os.environ.get("CNNKIT_THREADS", "1"))


def in_process(pages: list[str], sessions: int, profile_dir: Path | None) -> dict:
    import logging

    os.environ.update(_env(Path(tempfile.mkdtemp(prefix="bench-render-"))))
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_cache, script_runner
    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    runs: list[tuple[float, float]] = []
    state: dict = {"profile": None}
    original = script_runner.ScriptRunner._run_script

    def timed(self, rerun_data):
        profile = state["profile"]
        wall, cpu = time.perf_counter(), time.thread_time()
        if profile:
            profile.enable()
        try:
            return original(self, rerun_data)
        finally:
            if profile:
                profile.disable()
            runs.append((time.perf_counter() - wall, time.thread_time() - cpu))

    script_runner.ScriptRunner._run_script = timed
    shared = script_cache.ScriptCache()  # a server compiles each page once for all its sessions
    get_bytecode = script_cache.ScriptCache.get_bytecode
    script_cache.ScriptCache.get_bytecode = lambda self, path: get_bytecode(shared, path)

    def render(page: str, student: str) -> tuple[float, float]:
        PagesManager.uses_pages_directory = None
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
        at.query_params["name"] = student
        if page != "home":
            at.switch_page(f"pages/{page}.py")
        runs.clear()
        at.run()
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception[0].message}")
        return sum(r[0] for r in runs), sum(r[1] for r in runs)  # the shell's first-run rerun included

    report: dict = {"mode": "in-process", "sessions": sessions, "load_avg": round(os.getloadavg()[0], 2)}
    for page in pages:
        cold = render(page, f"{page}-0")
        warm = [render(page, f"{page}-{i + 1}") for i in range(sessions)]
        report[page] = {"cold_ms": round(cold[0] * 1000), "warm_cpu_ms_median": round(statistics.median(
            c for _, c in warm) * 1000, 1), "warm_cpu_ms_min": round(min(c for _, c in warm) * 1000, 1),
            "warm_wall_ms_median": round(statistics.median(w for w, _ in warm) * 1000, 1)}
        if profile_dir:
            state["profile"] = profile = cProfile.Profile()
            for i in range(3):
                render(page, f"{page}-profiled-{i}")
            state["profile"] = None
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text)
            stats.sort_stats("cumulative").print_stats(80)
            stats.sort_stats("tottime").print_stats(30)
            profile_dir.mkdir(parents=True, exist_ok=True)
            (profile_dir / f"{page}.txt").write_text(text.getvalue())
            profile.dump_stats(str(profile_dir / f"{page}.prof"))  # for pstats' print_callers
    report["load_avg_after"] = round(os.getloadavg()[0], 2)
    return report


def on_server(pages: list[str], sessions: int, burst: int) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_classroom import Student, _cpu_jiffies, _pct, _server

    work = Path(tempfile.mkdtemp(prefix="bench-render-"))
    env = dict(os.environ, **_env(work))

    async def first_render(url: str, page: str, name: str) -> float:
        async with Student(url, name, page="" if page == "home" else page) as student:
            return await student.rerun()

    report: dict = {"mode": "server", "sessions": sessions, "burst": burst, "load_avg": round(os.getloadavg()[0], 2)}
    tick = os.sysconf("SC_CLK_TCK")
    with _server(work / "streamlit.log", env) as (url, pid):
        def server_cpu_ms() -> float:  # the server's own CPU time: robust to the machine's other load
            return _cpu_jiffies(pid)[0] * 1000 / tick

        for page in pages:
            cold = asyncio.run(first_render(url, page, f"{page}-0"))
            before = server_cpu_ms()
            warm = [asyncio.run(first_render(url, page, f"{page}-{i + 1}")) for i in range(sessions)]
            report[page] = {"cold_s": round(cold, 2), "warm_s_median": round(statistics.median(warm), 3),
                            "warm_s_min": round(min(warm), 3),
                            "server_cpu_ms_per_session": round((server_cpu_ms() - before) / sessions, 1)}
        if burst:
            async def together() -> list[float]:
                return await asyncio.gather(*[first_render(url, "training_runner", f"b{i}") for i in range(burst)])
            before = server_cpu_ms()
            times = asyncio.run(together())
            report["burst_training_runner"] = {"p50_s": _pct(times, 0.5), "p95_s": _pct(times, 0.95),
                                               "max_s": round(max(times), 2),
                                               "server_cpu_ms_per_session": round((server_cpu_ms() - before) / burst, 1)}
    report["load_avg_after"] = round(os.getloadavg()[0], 2)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default=",".join(PAGES), help="pages/<name>.py, comma separated")
    parser.add_argument("--sessions", type=int, default=7, help="new sessions per page after the first")
    parser.add_argument("--profile", type=Path, default=None, help="folder for cProfile text per page (in-process)")
    parser.add_argument("--server", action="store_true", help="time a real `streamlit run` server instead")
    parser.add_argument("--burst", type=int, default=0, help="--server: then this many sessions at once")
    args = parser.parse_args()
    pages = [p for p in args.pages.split(",") if p]
    report = on_server(pages, args.sessions, args.burst) if args.server else in_process(pages, args.sessions,
                                                                                         args.profile)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
