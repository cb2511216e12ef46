"""The other attribution methods shown beside Grad-CAM, each giving one (H, W) map.

All come from captum. Each returns an unnormalised, non-negative (H, W) tensor at the
input's size; core.explain normalises to [0, 1].
"""

from __future__ import annotations

import warnings

import torch
from captum.attr import GuidedGradCam, IntegratedGradients, Occlusion, Saliency
from torch import nn


def guided_grad_cam(model: nn.Module, x: torch.Tensor, layer: nn.Module, target: int) -> torch.Tensor:
    """Guided backpropagation × Grad-CAM: fine detail, class-discriminative.

    The product is signed per colour channel; its magnitude summed over channels is the map.
    """
    with warnings.catch_warnings():
        # captum warns every call that it hooks the ReLUs; that is the method, not a problem.
        warnings.simplefilter("ignore", UserWarning)
        attr = GuidedGradCam(model, layer).attribute(x, target=target, interpolate_mode="bilinear")
    return attr.detach()[0].abs().sum(dim=0)


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: int, steps: int = 20,
                         baseline: torch.Tensor | None = None) -> torch.Tensor:
    """Integrated gradients from a baseline (default: all zeros in normalised units, i.e. the
    mean colour of the training data) to the input, |attribution| summed over channels."""
    baseline = torch.zeros_like(x) if baseline is None else baseline
    attr = IntegratedGradients(model).attribute(x, baselines=baseline, target=target, n_steps=steps,
                                                internal_batch_size=min(steps, 10))
    return attr.detach()[0].abs().sum(dim=0)


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """Vanilla gradient saliency (Simonyan et al.): max over channels of |d y_c / d x|."""
    attr = Saliency(model).attribute(x, target=target, abs=True)
    return attr.detach()[0].max(dim=0).values


def occlusion_window(height: int, width: int) -> tuple[int, int]:
    """Patch side and stride: about 1/7 of the image, half-overlapping (15×15 patches at most)."""
    window = max(2, round(min(height, width) / 7))
    stride = max(1, window // 2)
    return window, stride


def occlusion(model: nn.Module, x: torch.Tensor, target: int, window: int | None = None,
              stride: int | None = None) -> torch.Tensor:
    """How much the target score drops when a grey (zero) patch covers each place.

    Only the drops are kept: a patch whose removal *raises* the score is not evidence for
    the class.
    """
    auto_window, auto_stride = occlusion_window(x.shape[2], x.shape[3])
    window = window or auto_window
    stride = stride or auto_stride
    channels = x.shape[1]
    attr = Occlusion(model).attribute(
        x, sliding_window_shapes=(channels, window, window), strides=(channels, stride, stride),
        baselines=0.0, target=target, perturbations_per_eval=16,
    )
    return attr.detach()[0].sum(dim=0).clamp(min=0)
