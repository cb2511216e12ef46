"""Grad-CAM through captum: the layer's activations weighted by their mean gradient.

Selvaraju et al. (2017): for a target class c and a conv layer with activations A_k,
weights w_k = mean over (h, w) of d y_c / d A_k; the map is ReLU(sum_k w_k A_k),
upsampled to the input size. Captum's LayerGradCam computes exactly that.
"""

from __future__ import annotations

import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn


def grad_cam(model: nn.Module, x: torch.Tensor, layer: nn.Module, target: int) -> torch.Tensor:
    """Grad-CAM of `target` at `layer` for one input x (1, C, H, W): an (H, W) tensor, >= 0, not normalised.

    Bilinear upsampling (not captum's default nearest) so a 7×7 map becomes a smooth
    heatmap rather than a mosaic.
    """
    cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
    if isinstance(cam, tuple):  # a layer with several outputs; Grad-CAM uses the first
        cam = cam[0]
    upsampled = LayerAttribution.interpolate(cam.detach(), tuple(x.shape[2:]), interpolate_mode="bilinear")
    return upsampled[0, 0]


def layer_cam_size(model: nn.Module, x: torch.Tensor, layer: nn.Module) -> tuple[int, int]:
    """The (h, w) of the layer's output for this input (the resolution of the Grad-CAM map)."""
    size: list[int] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: size.extend(out.shape[2:]) if not size else None)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return (int(size[0]), int(size[1])) if size else (0, 0)
