"""The training loop's CPU thread count, tuned on real batches (issue 24; the rules are in cnnkit.threads).

At the start of a run the tuner trains a few batches at each candidate thread count (fewest first: the
1-thread batches also measure how busy the rest of the machine is, which caps the candidates), keeps the
fastest, and then watches the images/s of each window of batches: a drop (another program took a core)
or cores coming free start a new round. Nothing is skipped: the timed batches are ordinary training
batches. A user's own count (--threads, CNNKIT_THREADS, OMP_NUM_THREADS) is set once and never tuned;
on a GPU the CPU threads are left as they are.

torch.set_num_threads sets the calling thread's OpenMP team size (and the default for threads that start
later), so each job's training thread tunes its own; a job manager passes its fair share as `cap`.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import torch

from cnnkit import threads as rules

Emit = Callable[..., None]
# A window of batches for the throughput watch: at least this long (short windows are noise).
WINDOW_S = 1.0


class ThreadTuner:
    def __init__(self, device: torch.device, emit: Emit, explicit: Optional[int] = None,
                 cap: Optional[Callable[[], Optional[int]]] = None, environ: Optional[dict] = None):
        self.emit = emit
        self._original = torch.get_num_threads()  # put back when the run ends (see restore)
        self.cores = rules.cpu_count()
        self.cap = cap
        self.enabled = device.type == "cpu"
        self.wait_policy = rules.openmp_wait_in_effect(environ)
        self.choice: Optional[rules.ThreadChoice] = None
        user = rules.explicit_threads(explicit, environ)
        self._plan: list[int] = []          # candidates still to time in this round
        self._rates: dict[int, float] = {}
        self._current: Optional[int] = None
        self._batch_start: Optional[float] = None
        self._warm = False                  # the current candidate's warm-up batch is done
        self._timed: list[tuple[int, float]] = []  # (images, seconds) of the current candidate
        self._reason = "start"
        self._busy: Optional[float] = None
        self._probe: Optional[rules.CpuSample] = None
        self._round_probe: Optional[rules.CpuSample] = None
        self._watch: Optional[rules.RetuneWatch] = None
        self._window = [0, 0.0]             # images, seconds
        self._window_probe: Optional[rules.CpuSample] = None
        self._started = False               # the first round starts with the first batch (data prep keeps all threads)
        if user is not None:  # the user's count, on a GPU too (its CPU work: evaluation, augmentation on the CPU)
            count, source = user
            torch.set_num_threads(count)
            self._choose(rules.ThreadChoice(count, self.cores, source, None, wait_policy=self.wait_policy))
            self.enabled = False
        elif self.enabled and self.cores == 1:
            torch.set_num_threads(1)
            self._choose(rules.ThreadChoice(1, 1, "single core", None, wait_policy=self.wait_policy))
            self.enabled = False

    # --- the loop's two calls --------------------------------------------------------------------------------
    def batch_started(self) -> None:
        if self.enabled:
            if not self._started:
                self._started = True
                self._start_round("start")
            self._batch_start = time.perf_counter()

    def batch_done(self, images: int) -> None:
        if not self.enabled or self._batch_start is None:
            return
        seconds = time.perf_counter() - self._batch_start
        self._batch_start = None
        if self._tuning:
            self._tune_step(images, seconds)
        else:
            self._watch_step(images, seconds)

    def settle(self) -> None:
        """A run too short to time every candidate keeps (and reports) the count it trained at last."""
        if self.choice is None and self._current is not None:
            self._choose(rules.ThreadChoice(self._current, self.cores, "tuned", self._busy, rates=dict(self._rates),
                                            cap=self._cap(), reason=f"{self._reason}: too few batches to compare",
                                            wait_policy=self.wait_policy))

    def restore(self) -> None:
        """The thread count from before the run: torch.set_num_threads also sets the default for threads that
        start later (each page run of the server is a new thread), which must not keep a busy moment's choice."""
        if torch.get_num_threads() != self._original:
            torch.set_num_threads(self._original)

    # --- tuning ------------------------------------------------------------------------------------------------
    @property
    def _tuning(self) -> bool:
        return self._current is not None

    def _start_round(self, reason: str) -> None:
        self._reason = reason
        self._rates = {}
        self._plan = [1]  # first 1 thread: its batches also tell how busy the other cores are
        self._busy = None
        self._round_probe = rules.sample_cpu()  # the whole round: a longer window when one candidate's is too short
        self._next_candidate()

    def _cap(self) -> Optional[int]:
        try:
            return self.cap() if self.cap is not None else None
        except Exception:  # a manager that cannot say: no cap
            return None

    def _next_candidate(self) -> None:
        self._current = self._plan.pop(0)
        torch.set_num_threads(self._current)
        self._warm = False
        self._timed = []
        self._probe = rules.sample_cpu()

    def _tune_step(self, images: int, seconds: float) -> None:
        if not self._warm:  # OpenMP resizes its team on the first parallel region: not a fair sample
            self._warm = True
            self._probe = rules.sample_cpu()
            return
        self._timed.append((images, seconds))
        if len(self._timed) < rules.TUNE_BATCHES:
            return
        probing = self._current == 1 and not self._rates   # the first candidate also measures the other cores
        if probing:
            end = rules.sample_cpu()
            busy = rules.busy_elsewhere(self._probe, end, self.cores) if self._probe and end else None
            if busy is None and self._probe and end and len(self._timed) < rules.MAX_PROBE_BATCHES:
                return  # too short a window to tell how busy the other cores are: one more batch at 1 thread
        rate = sum(i for i, _ in self._timed) / max(sum(s for _, s in self._timed), 1e-9)
        self._rates[self._current] = rate
        if probing:
            self._busy = busy
            free = rules.free_cores(self.cores, self._busy)
            self._plan = [t for t in rules.candidate_threads(free, self._cap()) if t not in self._rates]
        if self._plan:
            self._next_candidate()
            return
        if self._busy is None and self._round_probe:  # fast batches: judge the other cores over the whole round
            end = rules.sample_cpu()
            self._busy = rules.busy_elsewhere(self._round_probe, end, self.cores) if end else None
        best = rules.pick_fastest(self._rates)
        torch.set_num_threads(best)
        self._current = None
        cap = self._cap()
        self._choose(rules.ThreadChoice(best, self.cores, "tuned", self._busy, rates=dict(self._rates), cap=cap,
                                        reason=self._reason, wait_policy=self.wait_policy))
        top = min(self.cores, cap) if cap else self.cores
        self._watch = rules.RetuneWatch(self._rates[best], best, top, time.perf_counter())
        self._window = [0, 0.0]
        self._window_probe = rules.sample_cpu()

    def _choose(self, choice: rules.ThreadChoice) -> None:
        choice.text = rules.describe_choice(choice.threads, choice.cores, choice.busy_elsewhere, choice.source)
        self.choice = choice
        self.emit("threads", threads_text=choice.text, thread_choice=choice.to_dict())

    # --- watching --------------------------------------------------------------------------------------------
    def _watch_step(self, images: int, seconds: float) -> None:
        self._window[0] += images
        self._window[1] += seconds
        if self._window[1] < WINDOW_S or self._watch is None:
            return
        rate = self._window[0] / self._window[1]
        end = rules.sample_cpu()
        busy = rules.busy_elsewhere(self._window_probe, end, self.cores) if self._window_probe and end else None
        self._window = [0, 0.0]
        self._window_probe = end
        reason = self._watch.observe(rate, None if busy is None else rules.free_cores(self.cores, busy),
                                     time.perf_counter())
        if reason:
            self._start_round(reason)
