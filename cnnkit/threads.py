"""How many CPU threads a training uses, chosen from what the machine can give it now (issue 24).

A classroom laptop is never idle. PyTorch's default (one OpenMP thread per core, spinning while it waits
for its siblings) is fastest on a quiet machine but collapses when another process holds a core: the
spinning threads wait for a descheduled sibling (measured on 2 cores with one core busy: 2 threads 10-30 %
of the quiet speed, 1 thread 45-60 %). So the trainer times a few real batches at each candidate thread
count (never more than the cores free now), keeps the fastest, and times again when throughput drops.

This module is the pure part (no torch): reading how busy the machine is, the candidates, picking the
fastest, the fair share between concurrent jobs, when to re-tune, and the user's explicit settings.
cnnkit.train.loop drives it with real batches.

OpenMP's wait policy (libgomp, which PyTorch's Linux wheels bundle: OMP_WAIT_POLICY, GOMP_SPINCOUNT) is
read once, when the OpenMP runtime loads with torch; `set_openmp_wait_env()` sets it for a process that has
not imported torch yet and does nothing later. cnnkit/__init__.py calls it: every way into the engine (the
CLI, the server's pages, which Streamlit may run without app.py, the process backend's workers) imports
cnnkit before torch.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

# A fixed thread count for every training ("auto" or unset: tuned). --threads sets it for one CLI run.
THREADS_ENV = "CNNKIT_THREADS"
# OpenMP's wait policy for processes cnnkit starts (CLI, workers): "auto" (the default: GOMP_SPINCOUNT below),
# "passive", "active" or "default" (leave OpenMP's own).
WAIT_ENV = "CNNKIT_OMP_WAIT"
# libgomp spins this many times before sleeping (its default is 300,000, PASSIVE is 0). A short spin keeps the
# quiet speed (a sibling thread is back within microseconds) but stops a waiting thread from burning the core
# a descheduled sibling needs. Measured on the 2-core box, default run on Shapes, 2 threads (img/s):
# quiet: default spin 2732, 10000 2843, 1000 2726, PASSIVE 2149 (-21 %); one core busy: 290, 284, 383, 388.
# The thread count is the lever (1 thread with one core busy: 1230-1830); the short spin only softens the
# seconds before a re-tune. benchmarks/bench_busy.py measures the whole.
AUTO_SPINCOUNT = "1000"
USER_OMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")

# Tuning: batches per candidate (after one warm-up batch that lets OpenMP resize its team).
TUNE_BATCHES = 3
# /proc/stat counts in ticks of 10 ms per core: over 0.05 s a core held elsewhere read anywhere from 0.5 to 1.3
# cores (a spinner once read 0.49: the tuner took 2 threads beside it). Over 0.25 s the error is under 0.1 core,
# so the 1-thread probe times more batches (at most MAX_PROBE_BATCHES) until its window is that long.
MIN_BUSY_WINDOW_S = 0.25
MAX_PROBE_BATCHES = 200
# Two candidates within this share of each other count as a tie: the fewer threads win (they leave a core free).
TIE_TOLERANCE = 0.02
# Re-tune when the img/s of two consecutive windows fall below this share of the rate the choice was made at.
DROP_RATIO = 0.7
DROP_WINDOWS = 2
# ... or when cores came free since (a run that chose fewer threads than cores), at most this often.
RECHECK_S = 30.0
# Never re-tune more often than this (a re-tune costs a few batches at a slower setting).
MIN_RETUNE_GAP_S = 10.0


def cpu_count() -> int:
    """Cores this process may run on (its affinity mask, e.g. a container's share), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def explicit_threads(cli_threads: Optional[int] = None, environ: Optional[dict] = None) -> Optional[tuple[int, str]]:
    """The user's own thread count and where it came from, or None (tune). --threads beats CNNKIT_THREADS
    beats OMP_NUM_THREADS; a bad value is an error that names the setting to change."""
    environ = os.environ if environ is None else environ
    if cli_threads is not None:
        if cli_threads < 1:
            raise ValueError(f"--threads must be at least 1 (got {cli_threads}); leave it out to choose automatically")
        return cli_threads, "--threads"
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        raw = (environ.get(name) or "").strip()
        if not raw or (name == THREADS_ENV and raw.lower() == "auto"):
            continue
        try:
            value = int(raw.split(",")[0])  # OMP_NUM_THREADS may list nested levels: "4,2"
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a thread count; set a whole number or unset it") from None
        if value < 1:
            raise ValueError(f"{name}={raw!r}: the thread count must be at least 1")
        return value, name
    return None


def set_openmp_wait_env(environ: Optional[dict] = None, torch_loaded: Optional[bool] = None) -> str:
    """Set OpenMP's wait policy for this process before torch loads OpenMP; what it did, in words.
    The user's own OMP_WAIT_POLICY / GOMP_SPINCOUNT always stay; once torch is imported nothing changes."""
    environ = os.environ if environ is None else environ
    torch_loaded = "torch" in sys.modules if torch_loaded is None else torch_loaded
    user = [f"{name}={environ[name]}" for name in USER_OMP_VARS if environ.get(name)]
    if user:
        return "user: " + ", ".join(user)
    if torch_loaded:
        return "unchanged: OpenMP already started"
    mode = (environ.get(WAIT_ENV) or "auto").strip().lower()
    if mode == "auto":
        environ["GOMP_SPINCOUNT"] = AUTO_SPINCOUNT
        return f"short spin (GOMP_SPINCOUNT={AUTO_SPINCOUNT})"
    if mode in ("passive", "active"):
        environ["OMP_WAIT_POLICY"] = mode.upper()
        return f"OMP_WAIT_POLICY={mode.upper()}"
    if mode == "default":
        return "OpenMP default"
    raise ValueError(f"{WAIT_ENV}={mode!r}: use auto, passive, active or default")


def openmp_wait_in_effect(environ: Optional[dict] = None) -> str:
    """The wait policy this process's OpenMP started with (from its environment), for the run record."""
    environ = os.environ if environ is None else environ
    parts = [f"{name}={environ[name]}" for name in USER_OMP_VARS if environ.get(name)]
    return ", ".join(parts) or "OpenMP default (spinning)"


# --- pages before trainings --------------------------------------------------------------------------------------

# How much a job thread of the app steps back from the page renders of the same process (Linux nice steps, 0-19;
# 0: no step). A job thread is batch work: a student waiting for a page is not. Nice 10 weighs ~1/10 of a page's
# thread when both want a core, and nothing when the core is idle, so a quiet server trains at full speed.
JOB_NICE_ENV = "CNNKIT_JOB_NICE"
DEFAULT_JOB_NICE = 10


def job_nice(environ: Optional[dict] = None) -> int:
    """The step CNNKIT_JOB_NICE asks for (default 10); a bad value is an error naming the setting."""
    environ = os.environ if environ is None else environ
    raw = (environ.get(JOB_NICE_ENV) or "").strip()
    if not raw:
        return DEFAULT_JOB_NICE
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{JOB_NICE_ENV}={raw!r} is not a whole number; set 0 (no step) to 19, or unset it") from None
    if not 0 <= value <= 19:
        raise ValueError(f"{JOB_NICE_ENV}={raw!r}: set 0 (no step) to 19")
    return value


_stepped_back = threading.local()  # a thread steps back once: a Ray or process worker's thread runs job after job


def step_back_this_thread(step: Optional[int] = None) -> Optional[int]:
    """Lower the calling thread's CPU priority by `step` (default: job_nice()), once per thread; the threads it
    starts afterwards (torch's OpenMP team, made by the first parallel op of this thread) inherit it. Linux only,
    where a nice value belongs to one thread; elsewhere (and when the system refuses) nothing changes. Returns the
    thread's nice value now, or None when unchanged."""
    step = job_nice() if step is None else step
    if step <= 0 or not sys.platform.startswith("linux") or getattr(_stepped_back, "done", False):
        return None
    thread_id = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(19, now + step))
        _stepped_back.done = True
        return os.getpriority(os.PRIO_PROCESS, thread_id)
    except OSError:
        return None


# --- how busy is the machine ---------------------------------------------------------------------------------

@dataclass
class CpuSample:
    """Busy CPU seconds of the whole machine and of this process at one moment (wall clock)."""

    wall: float
    machine_busy_s: float
    own_busy_s: float


def _clock_ticks() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def read_machine_busy_s(stat_text: Optional[str] = None) -> Optional[float]:
    """Seconds all cores have been busy since boot, from /proc/stat's first line (all but idle and iowait);
    None where there is no /proc/stat."""
    try:
        text = stat_text if stat_text is not None else open("/proc/stat").read()
    except OSError:
        return None
    first = text.splitlines()[0].split()
    if not first or first[0] != "cpu":
        return None
    ticks = [int(x) for x in first[1:]] + [0] * 8
    # user nice system [idle iowait] irq softirq steal (a hypervisor's other guests: taken from us too);
    # guest time is already counted inside user and nice
    busy = sum(ticks[0:3]) + sum(ticks[5:8])
    return busy / _clock_ticks()


def sample_cpu() -> Optional[CpuSample]:
    busy = read_machine_busy_s()
    if busy is None:
        return None
    times = os.times()
    return CpuSample(time.perf_counter(), busy, times.user + times.system)


def busy_elsewhere(start: CpuSample, end: CpuSample, cores: int) -> Optional[float]:
    """Cores busy with other processes between two samples: the machine's busy time minus this process's,
    per wall second, clamped to 0..cores. None when the window is too short to tell."""
    wall = end.wall - start.wall
    if wall < MIN_BUSY_WINDOW_S:
        return None
    others = (end.machine_busy_s - start.machine_busy_s) - (end.own_busy_s - start.own_busy_s)
    return min(float(cores), max(0.0, others / wall))


def free_cores(cores: int, busy: Optional[float]) -> int:
    """Whole cores free for us: a core more than half busy elsewhere is taken. At least 1."""
    if busy is None:
        return cores
    return max(1, min(cores, cores - int(busy + 0.5)))


# --- the choice ------------------------------------------------------------------------------------------------

def candidate_threads(free: int, cap: Optional[int] = None) -> list[int]:
    """Thread counts worth timing, fewest first: 1, then halvings up to the free cores (at most 4 candidates):
    2 free -> [1, 2]; 8 -> [1, 2, 4, 8]; 16 -> [2, 4, 8, 16]. `cap`: the job's fair share."""
    top = max(1, min(free, cap) if cap else free)
    counts = [top]
    while counts[-1] > 1 and len(counts) < 4:
        counts.append(max(1, counts[-1] // 2))
    return sorted(set(counts))


def pick_fastest(rates: dict[int, float], tolerance: float = TIE_TOLERANCE) -> int:
    """The thread count with the highest images/s; within `tolerance` of it, the fewest threads."""
    if not rates:
        raise ValueError("no timings to choose from")
    best = max(rates.values())
    return min(t for t, rate in rates.items() if rate >= best * (1 - tolerance))


def fair_share(cores: int, jobs: int, index: int = 0) -> int:
    """Threads for the `index`-th of `jobs` trainings running at once on `cores` (the first ones get the
    remainder): 2 cores, 2 jobs -> 1 each; 2 cores, 3 jobs -> 1 each (never below one). The server's own
    work is not reserved for ahead of time: when it is busy, the timed batches see it and choose fewer."""
    jobs = max(1, jobs)
    base, extra = divmod(max(1, cores), jobs)
    return max(1, base + (1 if index < extra else 0))


def describe_choice(threads: int, cores: int, busy: Optional[float], source: str) -> str:
    """The choice in words for progress lines, snapshots and the run record: "2 threads; 1 core busy elsewhere"."""
    noun = "thread" if threads == 1 else "threads"
    text = f"{threads} {noun}"
    if source not in ("tuned", "single core"):
        return f"{text} (set by {source})"
    if busy is None:
        return text
    taken = min(cores, int(busy + 0.5))  # all of them may be busy (we still get a share of one)
    if taken <= 0:
        return f"{text}; {cores} cores free" if cores > 1 else text
    return f"{text}; {taken} core{'s' if taken > 1 else ''} busy elsewhere"


@dataclass
class ThreadChoice:
    """One choice of the thread count (JSON-serialisable: it goes into progress events and the run record)."""

    threads: int
    cores: int
    source: str                      # "tuned", "single core", "--threads", "CNNKIT_THREADS", "OMP_NUM_THREADS"
    busy_elsewhere: Optional[float]  # cores busy with other work when it was chosen (None: unknown)
    rates: dict[int, float] = field(default_factory=dict)  # images/s per timed thread count
    cap: Optional[int] = None        # the job's fair share, when it had one
    reason: str = "start"            # start | throughput drop | cores freed
    wait_policy: str = ""
    text: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["rates"] = {str(k): round(v, 1) for k, v in self.rates.items()}
        return data


# --- when to re-tune -------------------------------------------------------------------------------------------

class RetuneWatch:
    """Decides, from the images/s of successive windows of batches, when the choice should be timed again:
    the rate dropped well below the rate it was made at (another program took a core), or, for a run that
    chose fewer threads than its share, cores came free. Pure: the caller passes rates, busy cores and times."""

    def __init__(self, chosen_rate: float, threads: int, top: int, now: float,
                 drop_ratio: float = DROP_RATIO, windows: int = DROP_WINDOWS,
                 recheck_s: float = RECHECK_S, min_gap_s: float = MIN_RETUNE_GAP_S):
        self.chosen_rate = chosen_rate
        self.threads = threads
        self.top = top                # the most threads this run could use (free cores at most, its fair share)
        self.since = now
        self.last_check = now
        self.drop_ratio, self.windows, self.recheck_s, self.min_gap_s = drop_ratio, windows, recheck_s, min_gap_s
        self.low = 0

    def observe(self, rate: float, free: Optional[int], now: float) -> Optional[str]:
        """A window's images/s (and the free cores measured over it): "throughput drop", "cores freed" or None."""
        self.low = self.low + 1 if rate < self.drop_ratio * self.chosen_rate else 0
        if now - self.since < self.min_gap_s:
            return None
        if self.low >= self.windows:
            return "throughput drop"
        if (self.threads < self.top and free is not None and free > self.threads
                and now - self.last_check >= self.recheck_s):
            self.last_check = now
            return "cores freed"
        return None
