"""Time left in a training run, from measured throughput: the live ETA of the training loop.

Why not "steps left × the average step so far": the first steps of a run are slow (memory allocation,
kernel selection, oneDNN/cuDNN autotuning, lazy CUDA init, the CPU's caches and clocks) and would make
the first ETA of a run far too long (5 min 26 s for a run that took 3 min 20 s). And steps are not all a run
does: every epoch ends with a validation pass and a checkpoint commit, and the run with a test evaluation.

So the estimator
- ignores the first WARMUP_STEPS steps of the run and anything before WARMUP_SECONDS (the ETA is None,
  "estimating…", until a measurement after warm-up exists);
- measures seconds per training step over the steps since the warm-up ended (and restarts the
  measurement at each epoch, so a slowdown shows within an epoch);
- measures the per-epoch overhead (validation, commit) once an epoch has ended; before that it assumes
  a forward-only pass over the validation images at eval_cost_ratio() of a training step's per-image cost
  (a third for a network that trains whole, up to 1 for a frozen backbone);
- adds the final test evaluation at the measured validation cost per image (before: the same ratio).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

# Steps of the run that are never measured: enough for allocations and autotuning to settle.
WARMUP_STEPS = 3
# ...and at least this long after the first step started (many tiny steps can finish in the warm-up).
WARMUP_SECONDS = 0.5
# At least this many measured steps before a first ETA is given (one step's time is noisy).
MIN_MEASURED_STEPS = 2
# A forward pass in eval mode costs about a third of a training step (forward + backward ≈ 3 forwards)...
EVAL_COST_RATIO = 0.35


def eval_cost_ratio(trainable_params: int, frozen_params: int) -> float:
    """...but a frozen backbone has no backward pass: its training step is mostly a forward. The ratio goes from
    EVAL_COST_RATIO (all trainable) to 1 (all frozen) with the frozen share of the parameters."""
    total = trainable_params + frozen_params
    frozen_share = frozen_params / total if total else 0.0
    return EVAL_COST_RATIO + (1 - EVAL_COST_RATIO) * frozen_share
# The end of a run besides the test pass: metrics, ROC curves, writing the results (measured 0.3-0.4 s for
# Digits on a loaded 2-core machine; the same constant as cnnkit.train.estimate.FINISH_SECONDS).
FINISH_SECONDS = 0.4


@dataclass
class EtaEstimator:
    """Follows one run: call step() after each training step, epoch_done() after each epoch."""

    total_steps: int
    steps_per_epoch: int
    batch_size: int
    val_images: int = 0
    test_images: int = 0
    epochs_done_before: int = 0  # a resumed run: epochs committed before this session (their overhead is paid)
    eval_cost_ratio: float = EVAL_COST_RATIO  # eval forward / training step, per image, until validation is timed
    clock: Callable[[], float] = time.perf_counter
    _start: Optional[float] = None
    _steps_seen: int = 0
    _window_start: Optional[float] = None  # when the measured stretch began (after warm-up)
    _window_steps: int = 0
    _seconds_per_step: Optional[float] = None
    _epoch_overheads: list[float] = field(default_factory=list)
    _train_seconds_this_epoch: float = 0.0

    def begin_epoch(self) -> None:
        """A new epoch: its steps are measured afresh (after the validation gap, not across it)."""
        if self._window_start is not None:
            self._window_start, self._window_steps = None, 0

    def step(self) -> None:
        """One training step has just finished."""
        now = self.clock()
        if self._start is None:
            self._start = now  # the first step ended: everything until here is warm-up
        self._steps_seen += 1
        warm = self._steps_seen > WARMUP_STEPS and now - self._start >= WARMUP_SECONDS
        if not warm:
            return
        if self._window_start is None:
            self._window_start, self._window_steps = now, 0
            return
        self._window_steps += 1
        if self._window_steps >= MIN_MEASURED_STEPS:
            self._seconds_per_step = (now - self._window_start) / self._window_steps

    def epoch_done(self, epoch_seconds: float, train_seconds: float) -> None:
        """An epoch took epoch_seconds in all, train_seconds of them training steps: the rest is its overhead."""
        self._epoch_overheads.append(max(0.0, epoch_seconds - train_seconds))

    @property
    def seconds_per_step(self) -> Optional[float]:
        return self._seconds_per_step

    def eta(self, steps_done: int) -> Optional[float]:
        """Seconds left after steps_done of total_steps; None while still warming up ("estimating…")."""
        if self._seconds_per_step is None:
            return None
        per_step = self._seconds_per_step
        steps_left = max(0, self.total_steps - steps_done)
        epochs_total = -(-self.total_steps // max(1, self.steps_per_epoch))
        epochs_ended = self.epochs_done_before + len(self._epoch_overheads)
        # the epoch in progress still has its validation to do: every epoch not ended yet pays one overhead
        epochs_left = max(0, epochs_total - epochs_ended)
        per_image_eval = self.eval_cost_ratio * per_step / max(1, self.batch_size)
        if self._epoch_overheads:
            overhead = sorted(self._epoch_overheads)[len(self._epoch_overheads) // 2]  # the median: robust
            if self.val_images:  # a timed validation pass: the test pass costs the same per image
                per_image_eval = overhead / self.val_images
        else:
            overhead = self.val_images * per_image_eval
        return steps_left * per_step + epochs_left * overhead + self.test_images * per_image_eval + FINISH_SECONDS
