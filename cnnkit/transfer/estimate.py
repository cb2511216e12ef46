"""What one epoch will cost at an input size, measured before the run.

Upsampling 32 px images to 224 px multiplies the work of a CNN by ~49, so the page shows the
estimate before anyone queues a 2-hour run on a laptop. The estimate times a couple of real
forward/backward steps of the actual network (with the strategy's frozen parts frozen: a frozen
backbone needs no weight gradients) plus forward passes for validation, and scales by the number
of images. The first step is a warm-up and is not counted.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from cnnkit.device import resolve_device
from cnnkit.formatting import format_seconds


@dataclass
class CostEstimate:
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


def _time(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, kernel selection)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def estimate_epoch_cost(model: nn.Module, input_shape: tuple[int, int, int], train_images: int,
                        eval_images: int = 0, batch_size: int = 32, device: str = "cpu", repeats: int = 2,
                        probe_batch: int = 8) -> CostEstimate:
    """Seconds per epoch for `model` (its requires_grad flags as they are) at `input_shape` (C, H, W).

    Times `repeats` training steps (forward, backward, no optimizer: its cost is small next to a
    CNN's) on a batch of min(batch_size, probe_batch) random images, and as many forward passes;
    the best time per image is scaled to train_images and eval_images. The model is left as it was.
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
    return CostEstimate(image_size=height, batch_size=batch_size, train_images=train_images, eval_images=eval_images,
                        train_seconds_per_image=per_train, eval_seconds_per_image=per_eval,
                        seconds_per_epoch=seconds, device=str(torch_device))


def estimate_transfer_cost(source: str, strategy: str, num_classes: int, channels: int, image_size: int,
                           train_images: int, eval_images: int = 0, batch_size: int = 32,
                           device: str = "cpu") -> CostEstimate:
    """The estimate for a transfer model dict's network (loads the source's weights once)."""
    from cnnkit.transfer.builder import build_transfer_bundle

    model_dict = {"kind": "transfer", "source": source, "strategy": strategy, "image_size": image_size}
    bundle = build_transfer_bundle(model_dict, (channels, image_size, image_size), num_classes, None)
    return estimate_epoch_cost(bundle.model, bundle.input_shape, train_images, eval_images, batch_size, device)
