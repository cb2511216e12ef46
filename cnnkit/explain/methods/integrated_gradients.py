"""Integrated Gradients (Sundararajan et al. 2017), through captum."""

from __future__ import annotations

import torch
from captum.attr import IntegratedGradients
from torch import nn

from cnnkit.explain.methods.base import AttributionMethod


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: int, steps: int = 20,
                         baseline: torch.Tensor | None = None) -> torch.Tensor:
    """Integrated gradients from a baseline (default: all zeros in normalised units, i.e. the
    mean colour of the training data) to the input, |attribution| summed over channels."""
    baseline = torch.zeros_like(x) if baseline is None else baseline
    attr = IntegratedGradients(model).attribute(x, baselines=baseline, target=target, n_steps=steps,
                                                internal_batch_size=min(steps, 10))
    return attr.detach()[0].abs().sum(dim=0)


INTEGRATED_GRADIENTS = AttributionMethod(name="integrated_gradients", label="Integrated Gradients", needs_layer=False,
                                         clip_percentile=99.5, compute=integrated_gradients, slow=True)
