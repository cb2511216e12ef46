"""What one epoch will cost at an input size, measured before the run.

Upsampling 32 px images to 224 px multiplies the work of a CNN by ~49, so the page shows the
estimate before anyone queues a 2-hour run on a laptop. The estimate times a couple of real
forward/backward steps of the actual network (with the strategy's frozen parts frozen: a frozen
backbone needs no weight gradients) plus forward passes for validation, and scales by the number
of images. The first steps are a warm-up and are not counted (cnnkit.train.estimate does the same for
any run, with the optimiser step included).

`plan_cost` prices a whole transfer run (the page, the CLI and the benchmark all call it): a
two-stage run's head-only epochs at the head's cost, the rest at the unfrozen strategy's.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import torch
from torch import nn

from cnnkit.device import resolve_device
from cnnkit.formatting import format_seconds
from cnnkit.train.estimate import split_sizes  # noqa: F401  (re-exported: one split rule, the trainer's)


@dataclass
class EpochCost:
    """One network's measured cost: per image, and for one epoch of train_images + eval_images."""

    image_size: int
    batch_size: int
    train_images: int
    eval_images: int
    train_seconds_per_image: float
    eval_seconds_per_image: float
    seconds_per_epoch: float
    device: str

    @property
    def images_per_s(self) -> float:
        return 1.0 / self.train_seconds_per_image if self.train_seconds_per_image > 0 else math.inf

    def to_dict(self) -> dict:
        return asdict(self) | {"images_per_s": self.images_per_s}

    def describe(self) -> str:
        return (f"about {format_seconds(self.seconds_per_epoch)} per epoch at {self.image_size}×{self.image_size} px "
                f"({self.images_per_s:.0f} training images/s on {self.device})")


WARMUP_STEPS = 3  # untimed calls first: a fresh process's first steps (allocation, kernel selection) are slow


def _time(fn, repeats: int) -> float:
    for _ in range(WARMUP_STEPS):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]  # the median: one slow outlier (another job's burst) does not count


def estimate_epoch_cost(model: nn.Module, input_shape: tuple[int, int, int], train_images: int,
                        eval_images: int = 0, batch_size: int = 32, device: str = "cpu", repeats: int = 3,
                        probe_batch: int = 64) -> EpochCost:
    """Seconds per epoch for `model` (its requires_grad flags as they are) at `input_shape` (C, H, W).

    Times `repeats` training steps (forward, backward, no optimizer: its cost is small next to a
    CNN's) on a batch of min(batch_size, probe_batch) random images, and as many forward passes, after
    WARMUP_STEPS untimed ones; the median time per image is scaled to train_images and eval_images. The
    probe batch is the run's own up to 64 images: a GPU takes about as long for 8 images as for 64, so a
    small probe batch overstated a GPU run's time several times over. The model is left as it was.
    """
    if train_images < 0 or eval_images < 0:
        raise ValueError("image counts must be 0 or more")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1 (got {batch_size})")
    torch_device = resolve_device(device)
    n = max(1, min(batch_size, probe_batch))
    channels, height, width = (int(v) for v in input_shape)
    generator = torch.Generator().manual_seed(0)
    # channels_last, as the trainer runs it (cnnkit.train.loop): NHWC convs are faster on CPU and GPU
    x = torch.randn(n, channels, height, width, generator=generator).to(torch_device)
    x = x.contiguous(memory_format=torch.channels_last)
    original_device = next(model.parameters()).device
    was_training = model.training
    model.to(torch_device, memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad]

    def sync() -> None:
        if torch_device.type == "cuda":
            torch.cuda.synchronize()

    def train_step() -> None:
        model.train()
        out = model(x)
        if trainable:
            out.float().logsumexp(dim=1).mean().backward()
        sync()

    @torch.no_grad()
    def eval_step() -> None:
        model.eval()
        model(x)
        sync()

    try:
        train_time = _time(train_step, repeats)
        eval_time = _time(eval_step, repeats) if eval_images else 0.0
    except RuntimeError as error:
        raise ValueError(f"the network cannot run at {height}×{width} px ({str(error).splitlines()[0]})") from None
    finally:
        for p in trainable:
            p.grad = None
        model.to(original_device, memory_format=torch.contiguous_format)
        model.train(was_training)
    per_train, per_eval = train_time / n, eval_time / n
    seconds = per_train * train_images + per_eval * eval_images
    return EpochCost(image_size=height, batch_size=batch_size, train_images=train_images, eval_images=eval_images,
                        train_seconds_per_image=per_train, eval_seconds_per_image=per_eval,
                        seconds_per_epoch=seconds, device=str(torch_device))


# ------------------------------------------------------------------------------------ whole runs

# probe(model_dict, data_shape, num_classes, batch_size, device) -> the per-image cost of that network.
# The page passes a cached one; its arguments are the cache key (the device among them).
Probe = Callable[[dict, tuple, int, int, str], EpochCost]


def probe_network(model_dict: dict, data_shape: tuple[int, int, int], num_classes: int, batch_size: int,
                  device: str, repeats: int = 3, probe_batch: int = 64) -> EpochCost:
    """Per-image costs (train_images = eval_images = 1) of a transfer model dict's network."""
    from cnnkit.transfer.builder import build_transfer_bundle

    bundle = build_transfer_bundle(model_dict, tuple(data_shape), num_classes, None)
    return estimate_epoch_cost(bundle.model, bundle.input_shape, 1, 1, batch_size, device, repeats=repeats,
                               probe_batch=probe_batch)


@dataclass
class StageCost:
    """A stretch of epochs that trains the same parameters."""

    strategy: str  # what trains: head, last:N or full
    epochs: int
    seconds_per_epoch: float
    train_seconds_per_image: float
    eval_seconds_per_image: float


@dataclass
class CostEstimate:
    """What a transfer run will cost: per stage (two-stage has two), in total, and as one line of text."""

    image_size: int
    batch_size: int
    train_images: int
    eval_images: int
    epochs: int
    device: str
    stages: list[StageCost] = field(default_factory=list)
    test_images: int = 0  # the final evaluation of the best epoch on the test split

    @property
    def total_seconds(self) -> float:
        """The epochs (training and validation) in all."""
        return sum(stage.seconds_per_epoch * stage.epochs for stage in self.stages)

    @property
    def run_seconds(self) -> float:
        """The whole run: the epochs, then the test split at the last stage's eval cost (at 224 px the test pass
        can take as long as an epoch of a frozen backbone)."""
        test = self.test_images * self.stages[-1].eval_seconds_per_image if self.stages else 0.0
        return self.total_seconds + test

    @property
    def seconds_per_epoch(self) -> float:
        """The mean over the run's epochs (what a finished run's measured s/epoch compares with)."""
        return self.total_seconds / self.epochs if self.epochs else 0.0

    def per_epoch_text(self) -> str:
        """"12.3 s", or for two stages "4.1 s → 12.3 s"."""
        return " → ".join(format_seconds(stage.seconds_per_epoch) for stage in self.stages)

    def describe(self) -> str:
        size = f"{self.image_size}×{self.image_size} px"
        if len(self.stages) == 1:
            stage = self.stages[0]
            rate = 1.0 / stage.train_seconds_per_image if stage.train_seconds_per_image > 0 else math.inf
            return (f"about {format_seconds(stage.seconds_per_epoch)} per epoch at {size}, "
                    f"{format_seconds(self.total_seconds)} for {self.epochs} epoch(s) "
                    f"({rate:.0f} training images/s on {self.device})")
        parts = ", then ".join(f"{format_seconds(s.seconds_per_epoch)} per epoch for {s.epochs} epoch(s) of {s.strategy}"
                               for s in self.stages)
        return f"about {parts} at {size}: {format_seconds(self.total_seconds)} in all on {self.device}"

    def to_dict(self) -> dict:
        return asdict(self) | {"total_seconds": self.total_seconds, "run_seconds": self.run_seconds,
                               "seconds_per_epoch": self.seconds_per_epoch, "text": self.describe()}


def plan_cost(config, device: Optional[str] = None, info=None, probe: Optional[Probe] = None) -> CostEstimate:
    """The cost of training `config` (a TrainConfig whose model is a transfer dict) on `device`
    (default: the config's; "auto" is resolved first, so timings and cache keys name the real device).

    `info` is the dataset's DatasetInfo (looked up when not given); `probe` measures one network
    (default: probe_network). Two-stage: the first min(head_epochs, epochs) epochs at the head's
    cost, the rest at the unfrozen strategy's.
    """
    from cnnkit.transfer.builder import TransferSettings

    if not isinstance(config.model, dict) or config.model.get("kind") != "transfer":
        raise ValueError("the cost estimate is for transfer runs: the model must be a {\"kind\": \"transfer\"} dict")
    settings = TransferSettings.from_dict(config.model)
    if info is None:
        from cnnkit.data import dataset_info

        info = dataset_info(config.dataset)
    if not info.available:
        raise ValueError(f"dataset {config.dataset} is not available: {info.reason}")
    device_name = str(resolve_device(device or config.device))
    n_train, n_val = split_sizes(info.num_train, config.val_fraction, config.train_subset)
    if settings.strategy == "two-stage":
        head_epochs = min(settings.head_epochs, config.epochs)
        plan = [("head", head_epochs), (settings.unfreeze, config.epochs - head_epochs)]
    else:
        plan = [(settings.strategy, config.epochs)]
    plan = [(strategy, epochs) for strategy, epochs in plan if epochs > 0]
    probe = probe or probe_network
    data_shape = (int(info.channels), int(info.height), int(info.width))
    stages, image_size = [], int(info.height)
    for strategy, epochs in plan:
        # only what changes the network's cost: the lr factors do not
        model_dict = {"kind": "transfer", "source": settings.source, "strategy": strategy,
                      "image_size": settings.image_size}
        cost = probe(model_dict, data_shape, len(info.classes), config.batch_size, device_name)
        image_size = cost.image_size
        stages.append(StageCost(strategy=strategy, epochs=epochs,
                                seconds_per_epoch=cost.train_seconds_per_image * n_train
                                + cost.eval_seconds_per_image * n_val,
                                train_seconds_per_image=cost.train_seconds_per_image,
                                eval_seconds_per_image=cost.eval_seconds_per_image))
    return CostEstimate(image_size=image_size, batch_size=config.batch_size, train_images=n_train,
                        eval_images=n_val, epochs=config.epochs, device=device_name, stages=stages,
                        test_images=int(info.num_test))
