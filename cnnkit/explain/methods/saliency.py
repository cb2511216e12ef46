"""Vanilla gradient saliency (Simonyan et al. 2014), through captum."""

from __future__ import annotations

import torch
from captum.attr import Saliency
from torch import nn

from cnnkit.explain.methods.base import AttributionMethod


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """Max over channels of |d y_c / d x|."""
    attr = Saliency(model).attribute(x, target=target, abs=True)
    return attr.detach()[0].max(dim=0).values


SALIENCY = AttributionMethod(name="saliency", label="Saliency", needs_layer=False, clip_percentile=99.5,
                             compute=saliency)
