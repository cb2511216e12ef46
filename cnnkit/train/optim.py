"""Optimizers, learning-rate schedules with warm-up, and the loss functions of the course."""

from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnkit.train.config import TrainConfig


def build_optimizer(params: Iterable, config: TrainConfig) -> torch.optim.Optimizer:
    """params: parameters or param-group dicts (each may carry its own "lr")."""
    name = config.optimizer
    if name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov and config.momentum > 0, weight_decay=config.weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


class LRSchedule:
    """Sets every param group's learning rate before each step: base lr × warm-up × schedule.

    Written by hand rather than with torch.optim.lr_scheduler so warm-up composes with every
    schedule, per-group base rates (backbone vs head) are kept, and the state is a plain dict.
    """

    def __init__(self, config: TrainConfig, steps_per_epoch: int):
        self.config = config
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.plateau_scale = 1.0
        self.best: float | None = None
        self.bad_epochs = 0

    def factor(self, epoch: int, step_in_epoch: int) -> float:
        """The multiplier of the base learning rate at this point (epoch counted from 0)."""
        c = self.config
        progress = epoch + step_in_epoch / self.steps_per_epoch  # in epochs
        if c.warmup_epochs and progress < c.warmup_epochs:
            return 0.1 + 0.9 * progress / c.warmup_epochs
        after = progress - c.warmup_epochs
        span = max(1e-9, c.epochs - c.warmup_epochs)
        t = min(1.0, after / span)
        if c.scheduler == "constant":
            return 1.0
        if c.scheduler == "step":
            return c.gamma ** int((epoch - c.warmup_epochs) // c.step_size) if epoch >= c.warmup_epochs else 1.0
        if c.scheduler == "exponential":
            return c.gamma ** max(0, epoch - c.warmup_epochs)
        if c.scheduler == "cosine":
            return 0.5 * (1 + math.cos(math.pi * t))
        if c.scheduler == "onecycle":
            # torch's OneCycleLR shape: up from lr/25 to lr over 30%, then cosine down to lr/25e4.
            start, end, rise = 1 / 25, 1 / 25e4, 0.3
            if t < rise:
                return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * t / rise))
            return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * (t - rise) / (1 - rise)))
        if c.scheduler == "plateau":
            return self.plateau_scale
        raise ValueError(f"unknown scheduler {c.scheduler!r}")

    def apply(self, optimizer: torch.optim.Optimizer, epoch: int, step_in_epoch: int) -> float:
        f = self.factor(epoch, step_in_epoch)
        for group in optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
            group["lr"] = group["base_lr"] * f
        return optimizer.param_groups[-1]["lr"]

    def end_epoch(self, val_loss: float) -> None:
        """Reduce-on-plateau bookkeeping: halve (× gamma) after `plateau_patience` epochs without a better loss."""
        if self.config.scheduler != "plateau" or not math.isfinite(val_loss):
            return
        if self.best is None or val_loss < self.best - 1e-4:
            self.best, self.bad_epochs = val_loss, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.config.plateau_patience:
            self.plateau_scale *= self.config.gamma
            self.bad_epochs = 0

    def state_dict(self) -> dict:
        return {"plateau_scale": self.plateau_scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.plateau_scale = float(state.get("plateau_scale", 1.0))
        self.best = state.get("best")
        self.bad_epochs = int(state.get("bad_epochs", 0))


def loss_function(config: TrainConfig, num_classes: int):
    """loss(logits, targets). MSE and L1 compare softmax probabilities with one-hot targets (the lesson
    on why cross-entropy trains better: their gradients vanish when the network is confidently wrong)."""
    if config.loss == "cross_entropy":
        return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    def on_one_hot(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        probs = logits.float().softmax(dim=1)
        one_hot = F.one_hot(targets, num_classes).float()
        if config.label_smoothing:
            one_hot = one_hot * (1 - config.label_smoothing) + config.label_smoothing / num_classes
        if config.loss == "mse":
            return F.mse_loss(probs, one_hot)
        return F.l1_loss(probs, one_hot)

    return on_one_hot


def weight_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Conv and Linear weights (dim > 1): what L1 penalises and what the gradient study records."""
    return [(name, p) for name, p in model.named_parameters() if p.ndim > 1 and p.requires_grad]


def l1_penalty(model: nn.Module) -> torch.Tensor:
    weights = [p for _, p in weight_parameters(model)]
    if not weights:
        return torch.zeros(())
    return sum(p.abs().sum() for p in weights)
