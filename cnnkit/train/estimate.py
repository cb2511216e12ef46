"""How long a training run will take, measured before it starts.

The estimate times the run's own network with its own batch size, optimiser, loss, augmentation and
precision on the run's device: WARMUP_STEPS steps first (allocations, kernel selection and autotuning
make the first steps of a process several times slower; an estimate from them was 13× too long on a fresh
server), then steps until MEASURE_SECONDS have passed; the median step is scaled to the run's steps.
Validation and the final test are timed as forward passes at the evaluator's batch size (eval_batch_size:
500 images at 32 px, fewer for larger images).

What it leaves out: loading the dataset (the first time, a download or a generation) and the run folder's
commits (milliseconds). `estimate_training` answers for any TrainConfig (transfer dicts included);
`estimate_runs` sums several (a lab, a lesson's arms).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import torch

from cnnkit.device import resolve_device
from cnnkit.formatting import format_seconds
from cnnkit.train.config import TrainConfig

WARMUP_STEPS = 3       # untimed steps first: the slow start of a process is not the run's pace
MEASURE_SECONDS = 1.0  # then time steps for about this long (at least MIN_STEPS, at most MAX_STEPS)
MIN_STEPS, MAX_STEPS = 3, 30
EVAL_BATCH = 500       # cnnkit.evaluate.predict's batch size (validation and test)
# Fixed costs the probe does not see: each epoch's atomic commit (state.pt with fsync; 0.02-0.1 s measured
# for small nets) and the end of a run (test metrics with scikit-learn, ROC per class, writing results:
# 0.3-0.4 s measured for Digits on a loaded 2-core machine). cnnkit.train.eta adds the same.
EPOCH_COMMIT_SECONDS = 0.05
FINISH_SECONDS = 0.4


@dataclass
class StepCost:
    """One network's measured pace on one device."""

    seconds_per_step: float        # one training step at the run's batch size
    eval_seconds_per_image: float  # a forward pass in eval mode, per image
    device: str
    input_shape: tuple[int, int, int]


@dataclass
class TrainEstimate:
    """What a run will cost: per epoch, in all, and as one line."""

    epochs: int
    steps_per_epoch: int
    train_images: int
    val_images: int
    test_images: int
    seconds_per_step: float
    eval_seconds_per_image: float
    device: str

    @property
    def seconds_per_epoch(self) -> float:
        return (self.steps_per_epoch * self.seconds_per_step + self.val_images * self.eval_seconds_per_image
                + EPOCH_COMMIT_SECONDS)

    @property
    def total_seconds(self) -> float:
        return self.epochs * self.seconds_per_epoch + self.test_images * self.eval_seconds_per_image + FINISH_SECONDS

    def describe(self) -> str:
        return (f"about {format_seconds(self.total_seconds)} ({format_seconds(self.seconds_per_epoch)} per epoch, "
                f"{self.epochs} epoch(s) on {self.device}; loading the data not included)")

    def to_dict(self) -> dict:
        return asdict(self) | {"seconds_per_epoch": self.seconds_per_epoch, "total_seconds": self.total_seconds,
                               "text": self.describe()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_step_cost(config: TrainConfig, data_shape: tuple[int, int, int], num_classes: int,
                      device: Optional[str] = None, measure_seconds: float = MEASURE_SECONDS) -> StepCost:
    """Time the config's network on random images of data_shape (C, H, W): training steps as the trainer runs
    them (augmentation, normalisation, autocast, loss, backward, optimiser step) and eval forward passes."""
    from cnnkit.data import AugmentConfig, Normaliser
    from cnnkit.evaluate import autocast_context, eval_batch_size
    from cnnkit.models import build_bundle
    from cnnkit.train.loop import autocast_dtype_for
    from cnnkit.train.optim import build_optimizer, loss_function
    from cnnkit.train.pipeline import augment

    torch_device = resolve_device(device or config.device)
    channels, height, _width = (int(v) for v in data_shape)
    size = int(config.image_size or height)
    bundle = build_bundle(config.model, (channels, size, size), num_classes, config,
                          image_size_given=config.image_size is not None)
    shape = tuple(int(v) for v in bundle.input_shape)
    if config.train_resolution and not config.restore_size:
        shape = (shape[0], int(config.train_resolution), int(config.train_resolution))
    model = bundle.model.to(torch_device).to(memory_format=torch.channels_last)
    groups = bundle.param_groups(config.lr) if bundle.param_groups else [{"params": list(model.parameters())}]
    optimizer = build_optimizer(groups, config)
    criterion = loss_function(config, num_classes)
    amp_dtype = autocast_dtype_for(config.precision, torch_device)
    generator = torch.Generator(device=torch_device).manual_seed(0) if torch_device.type == "cuda" else \
        torch.Generator().manual_seed(0)
    normalise = Normaliser([0.5] * shape[0], [0.25] * shape[0], torch_device)
    aug = AugmentConfig.from_dict(config.augment)
    batch = max(1, int(config.batch_size))
    x_uint8 = torch.randint(0, 256, (batch, *shape), dtype=torch.uint8).to(torch_device)
    y = torch.randint(0, num_classes, (batch,)).to(torch_device)

    def train_step() -> None:
        model.train()
        x = normalise(augment(x_uint8, aug, generator))
        with autocast_context(torch_device, amp_dtype):
            loss = criterion(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    # one evaluation batch as cnnkit.evaluate.predict makes it (its size per image size: eval_batch_size)
    eval_x = torch.randint(0, 256, (eval_batch_size(shape[1], shape[2], EVAL_BATCH), *shape),
                           dtype=torch.uint8).to(torch_device)

    @torch.no_grad()
    def eval_pass() -> None:
        model.eval()
        with autocast_context(torch_device, amp_dtype):
            model(normalise(eval_x))

    try:
        train_seconds = _median_seconds(train_step, torch_device, measure_seconds)
        eval_seconds = _median_seconds(eval_pass, torch_device, measure_seconds / 3, min_steps=2, max_steps=5,
                                       warmup=1)
    except RuntimeError as error:
        raise ValueError(f"the network cannot be timed on {torch_device} ({str(error).splitlines()[0]})") from None
    finally:
        optimizer.zero_grad(set_to_none=True)
    return StepCost(seconds_per_step=train_seconds, eval_seconds_per_image=eval_seconds / len(eval_x),
                    device=str(torch_device), input_shape=shape)


def _median_seconds(fn: Callable[[], None], device: torch.device, budget: float, min_steps: int = MIN_STEPS,
                    max_steps: int = MAX_STEPS, warmup: int = WARMUP_STEPS) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < max_steps and (len(times) < min_steps or time.perf_counter() - started < budget):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def split_sizes(num_train: int, val_fraction: float, train_subset: int = 0) -> tuple[int, int]:
    """(training, validation) images per epoch, as the trainer splits: validation from the whole
    training split, then the subset of the rest."""
    n_val = int(round(num_train * val_fraction))
    n_train = num_train - n_val
    if train_subset:
        n_train = min(n_train, train_subset)
    return n_train, n_val


# The reference network for thread_speedup: report 002's base CNN on CIFAR-10-sized images, the course's typical
# run. Measured on the 2-core box, 2 threads against 1, a training step of the course's networks ran 1.57-1.92×
# faster (cnn3 at 32 px 1.92, at 16 px 1.57; cnn5 1.79; lenet_like 1.59; cnn4_gap at 48 px 1.81; mlp 1.59).
SPEEDUP_REFERENCE = {"dataset": "cifar10", "model": "cnn3", "batch_size": 64, "optimizer": "adam"}
SPEEDUP_MEASURE_SECONDS = 0.4
SPEEDUP_KEPT_S = 600.0   # timed again after this long: a figure timed in a burst of students' runs does not stay
_speedups: dict[tuple[int, int], tuple[float, float]] = {}   # (threads, base) -> (monotonic time, factor)
_speedups_lock = threading.Lock()
_clock = time.monotonic   # (tests move it on)


def thread_speedup(threads: int, base: int) -> float:
    """How many times faster a CPU training step runs on `threads` threads than on `base` threads, timed on this
    machine (the reference network above, a few steps at each count, about 1-3 s; kept SPEEDUP_KEPT_S per pair).
    A measured pace carries over to another thread count by this factor: a lesson's shipped results trained on one
    thread, a teacher's 2-core laptop trains on two. Never more than linear (more threads: at most threads / base
    times faster; fewer: at least threads / base as fast); a busy machine may make more threads slower (down to
    0.2)."""
    threads, base = max(1, int(threads)), max(1, int(base))
    if threads == base:
        return 1.0
    with _speedups_lock:   # one timing at a time: two at once would time each other
        kept = _speedups.get((threads, base))
        if kept is not None and _clock() - kept[0] < SPEEDUP_KEPT_S:
            return kept[1]
        factor = _time_speedup(threads, base)
        _speedups[(threads, base)] = (_clock(), factor)
        return factor


def _time_speedup(threads: int, base: int) -> float:
    config = TrainConfig(**SPEEDUP_REFERENCE)
    original = torch.get_num_threads()
    seconds = {}
    try:
        for count in (base, threads):
            torch.set_num_threads(count)
            seconds[count] = measure_step_cost(config, (3, 32, 32), 10, "cpu",
                                               measure_seconds=SPEEDUP_MEASURE_SECONDS).seconds_per_step
    finally:
        torch.set_num_threads(original)
    low, high = (0.2, threads / base) if threads > base else (threads / base, 5.0)
    return min(max(seconds[base] / seconds[threads], low), high)


def estimate_training(config: TrainConfig, info=None, device: Optional[str] = None,
                      measure: Optional[Callable[..., StepCost]] = None) -> TrainEstimate:
    """The time `config` will train for on `device` (default: its own). info: the dataset's DatasetInfo (looked
    up when not given); measure: measure_step_cost or a cached wrapper of it (same arguments)."""
    config.validate()
    if info is None:
        from cnnkit.data import dataset_info

        info = dataset_info(config.dataset)
    if not info.available:
        raise ValueError(f"dataset {config.dataset} is not available: {info.reason}")
    n_train, n_val = split_sizes(info.num_train, config.val_fraction, config.train_subset)
    cost = (measure or measure_step_cost)(config, (int(info.channels), int(info.height), int(info.width)),
                                          len(info.classes), device)
    steps = -(-n_train // config.batch_size)
    return TrainEstimate(epochs=config.epochs, steps_per_epoch=steps, train_images=n_train, val_images=n_val,
                         test_images=int(info.num_test), seconds_per_step=cost.seconds_per_step,
                         eval_seconds_per_image=cost.eval_seconds_per_image, device=cost.device)


def estimate_runs(configs: list[TrainConfig], info=None, device: Optional[str] = None,
                  measure: Optional[Callable[..., StepCost]] = None) -> float:
    """Seconds for several runs one after another (a lab's or a lesson's arms): the sum of their estimates."""
    return sum(estimate_training(c, info, device, measure).total_seconds for c in configs)
