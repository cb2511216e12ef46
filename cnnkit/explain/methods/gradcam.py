"""Grad-CAM through captum: the layer's activations weighted by their mean gradient.

Selvaraju et al. (2017): for a target class c and a conv layer with activations A_k,
weights w_k = mean over (h, w) of d y_c / d A_k; the map is ReLU(sum_k w_k A_k),
upsampled to the input size. Captum's LayerGradCam computes exactly that.
"""

from __future__ import annotations

import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from cnnkit.explain.methods.base import AttributionMethod


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


# A coarse, smooth map (a 7×7 grid upsampled): plain min-max scaling.
GRADCAM = AttributionMethod(name="gradcam", label="Grad-CAM", needs_layer=True, clip_percentile=None,
                            compute=grad_cam)
