"""Guided Grad-CAM (Selvaraju et al. 2017): guided backpropagation × Grad-CAM, through captum."""

from __future__ import annotations

import warnings

import torch
from captum.attr import GuidedGradCam
from torch import nn

from cnnkit.explain.methods.base import AttributionMethod


def guided_grad_cam(model: nn.Module, x: torch.Tensor, layer: nn.Module, target: int) -> torch.Tensor:
    """Guided backpropagation × Grad-CAM: fine detail, class-discriminative.

    The product is signed per colour channel; its magnitude summed over channels is the map.
    """
    with warnings.catch_warnings():
        # captum warns every call that it hooks the ReLUs; that is the method, not a problem.
        warnings.simplefilter("ignore", UserWarning)
        attr = GuidedGradCam(model, layer).attribute(x, target=target, interpolate_mode="bilinear")
    return attr.detach()[0].abs().sum(dim=0)


GUIDED_GRADCAM = AttributionMethod(name="guided_gradcam", label="Guided Grad-CAM", needs_layer=True,
                                   clip_percentile=99.5, compute=guided_grad_cam)
