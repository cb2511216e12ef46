"""Which input pixels a unit sees: from the layers' arithmetic, and measured with gradients.

Walking the layers, unit i of a layer sees the input pixels [start + i·jump, start + i·jump + rf − 1]:
a conv or pooling window (kernel k, stride s, padding p, dilation d, so it spans e = d(k−1)+1 positions)
gives  start ← start − p·jump,  rf ← rf + (e − 1)·jump,  jump ← jump·s.  rf is the same number as the
receptive-field column of the architecture builder's summary (cnnkit.models.summary).

The measured box is the bounding box of the input pixels whose gradient for the unit is non-zero: exact
for any network, including those whose squeeze-excitation or attention makes every unit see the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Geometry:
    """Where the units of one layer sit on the input."""

    start: int  # first input pixel seen by unit 0 (negative: it reaches into the padding)
    jump: int  # input pixels between neighbouring units
    rf: int  # side of the window a unit sees, in input pixels


@dataclass
class Box:
    """Inclusive input-pixel rectangle a unit sees, clipped to the image; `rf` is the unclipped side."""

    top: int
    left: int
    bottom: int
    right: int
    rf: int | None  # None: measured (or the whole input)
    method: str  # "layers" or "gradient"

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def width(self) -> int:
        return self.right - self.left + 1


def _window(start: int, jump: int, rf: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> Geometry:
    span = dilation * (kernel - 1) + 1
    return Geometry(start=start - padding * jump, jump=jump * stride, rf=rf + (span - 1) * jump)


def spec_geometry(spec) -> dict[str, Geometry | None]:
    """Geometry of every layer of a spec-built model ("layers.i"); None once the map is flattened."""
    from cnnkit.models.validate import analyze

    geometry: dict[str, Geometry | None] = {}
    current: Geometry | None = Geometry(0, 1, 1)
    for row in analyze(spec):
        p, t = row.params, row.type
        if current is not None:
            if t == "conv2d":
                k, d = p["kernel_size"], p["dilation"]
                pad = (d * (k - 1)) // 2 if p["padding"] == "same" else p["padding"]  # torch pads the left less
                current = _window(current.start, current.jump, current.rf, k, p["stride"], pad, d)
            elif t in ("maxpool2d", "avgpool2d"):
                k = p["kernel_size"]
                current = _window(current.start, current.jump, current.rf, k, p["stride"] or k, p["padding"])
            elif t == "residual":
                # conv 3×3 (stride s, pad 1) then conv 3×3 (pad 1); the shortcut sees a subset of that
                current = _window(current.start, current.jump, current.rf, 3, p["stride"], 1)
                current = _window(current.start, current.jump, current.rf, 3, 1, 1)
            elif t in ("flatten", "global_avg_pool", "linear"):
                current = None
        geometry[f"layers.{row.index}"] = current
    return geometry


def unit_box(geometry: Geometry, y: int, x: int, height: int, width: int) -> Box:
    """The input pixels unit (y, x) of a layer with this geometry sees, clipped to height × width."""
    top, left = geometry.start + y * geometry.jump, geometry.start + x * geometry.jump
    return Box(top=max(0, top), left=max(0, left), bottom=min(height - 1, top + geometry.rf - 1),
               right=min(width - 1, left + geometry.rf - 1), rf=geometry.rf, method="layers")


def gradient_box(model: nn.Module, x: torch.Tensor, layer: str, channel: int, y: int, x_pos: int) -> Box:
    """Bounding box of the input pixels with a non-zero gradient of unit (channel, y, x_pos) of `layer`."""
    from cnnkit.explain.layers import get_layer

    module = get_layer(model, layer)
    kept: list[torch.Tensor] = []

    def hook(_module, _inputs, output):
        kept.append(output)
        return output.clone()  # later in-place ops change the clone; the kept tensor stays differentiable

    handle = module.register_forward_hook(hook)
    inputs = x.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            model(inputs)
            if not kept:
                raise ValueError(f"layer {layer} was not used by the forward pass")
            output = kept[0]
            if output.dim() != 4:
                raise ValueError(f"{layer} has a flat output {tuple(output.shape[1:])}: each unit sees the whole input")
            _check_unit(tuple(output.shape[1:]), channel, y, x_pos, layer)
            output[0, channel, y, x_pos].backward()
    finally:
        handle.remove()
    grad = inputs.grad[0].abs().sum(dim=0).numpy()  # type: ignore[union-attr]
    rows, cols = np.nonzero(grad)
    if rows.size == 0:
        raise ValueError(f"no input pixel changes unit ({channel}, {y}, {x_pos}) of {layer} (its gradient is zero, "
                         "e.g. a ReLU is off there); pick another unit")
    return Box(top=int(rows.min()), left=int(cols.min()), bottom=int(rows.max()), right=int(cols.max()), rf=None,
               method="gradient")


def _check_unit(shape: tuple[int, ...], channel: int, y: int, x: int, layer: str) -> None:
    c, h, w = shape
    if not (0 <= channel < c and 0 <= y < h and 0 <= x < w):
        raise ValueError(f"unit ({channel}, {y}, {x}) is outside {layer}'s {c}×{h}×{w} output; "
                         f"use channel 0–{c - 1}, y 0–{h - 1}, x 0–{w - 1}")


def receptive_box(model: nn.Module, x: torch.Tensor, layer: str, channel: int, y: int, x_pos: int) -> Box:
    """From the layers for spec-built models (each conv path known), otherwise measured with gradients."""
    spec = getattr(model, "spec", None)
    if spec is not None and layer in (geometry := spec_geometry(spec)) and geometry[layer] is not None:
        return unit_box(geometry[layer], y, x_pos, int(x.shape[-2]), int(x.shape[-1]))  # type: ignore[arg-type]
    return gradient_box(model, x, layer, channel, y, x_pos)


def draw_box(image: np.ndarray, box: Box, colour: tuple[int, int, int] = (255, 0, 0), factor: int = 1) -> np.ndarray:
    """A copy of the uint8 H×W×3 image (already upscaled by `factor`) with the box outlined."""
    out = image.copy()
    top, left = box.top * factor, box.left * factor
    bottom, right = (box.bottom + 1) * factor - 1, (box.right + 1) * factor - 1
    thickness = max(1, factor // 4)
    out[top:top + thickness, left:right + 1] = colour
    out[bottom - thickness + 1:bottom + 1, left:right + 1] = colour
    out[top:bottom + 1, left:left + thickness] = colour
    out[top:bottom + 1, right - thickness + 1:right + 1] = colour
    return out
