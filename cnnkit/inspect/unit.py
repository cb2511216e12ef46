"""One unit, every view of it: what it reads in the layer below, what it sees of the image, how it is computed.

A unit is (layer, channel, y, x) of a captured map layer. `trace_unit` answers, from one call:
- its input window: the positions of the layer below it reads (a conv's k×k window over its input channels,
  a pool's window in the same channel, the same position for element-wise layers such as BN and ReLU);
- its receptive field on the image (cnnkit.inspect.receptive_field);
- the arithmetic of its value on the real numbers (cnnkit.inspect.arithmetic), when the layer has one.

`overview_rows` turns every layer's maps into rows for one connected chart (CNN Explainer's overview):
a few channels per layer, the unit, its window in the layer below and its receptive field marked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from cnnkit.inspect.activations import Activations, LayerActivation
from cnnkit.inspect.arithmetic import Breakdown, NotArithmeticLayer, breakdown_at, explain_layer, has_breakdown, layer_io
from cnnkit.inspect.receptive_field import Box, receptive_box

INPUT = "input"  # the name of the image itself as a "layer" in the overview
OVERVIEW_SIDE = 32  # maps larger than this are shown as block means in the overview (bounded chart size)


@dataclass
class InputWindow:
    """The positions of the layer below that a unit reads, padding excluded (inclusive bounds)."""

    layer: str  # the captured layer whose output is this layer's input; INPUT for the image; "" if unknown
    channels: list[int]
    top: int
    left: int
    bottom: int
    right: int
    padded: bool = False  # part of the window lies in the zero padding

    def contains(self, channel: int, y: int, x: int) -> bool:
        return channel in self.channels and self.top <= y <= self.bottom and self.left <= x <= self.right

    @property
    def size(self) -> str:
        return f"{self.bottom - self.top + 1}×{self.right - self.left + 1}"


@dataclass
class UnitTrace:
    """Everything one click on a unit answers."""

    layer: str
    kind: str  # the module's class
    channel: int
    y: int
    x: int
    value: float
    window: InputWindow | None  # None: the layer reads no fixed window (flat layers, global pooling…)
    box: Box | None  # receptive field on the input image
    breakdown: Breakdown | None  # None: no per-position arithmetic (note says why)
    notes: list[str] = field(default_factory=list)

    @property
    def unit(self) -> tuple[int, int, int]:
        return (self.channel, self.y, self.x)


def check_unit(layer: LayerActivation, channel: int, y: int, x: int) -> None:
    """ValueError naming the valid ranges when (channel, y, x) is not a unit of this map layer."""
    if not layer.is_map:
        raise ValueError(f"{layer.name} is flat ({layer.shape[0]} values): it has no positions; pick a map layer")
    c, h, w = layer.shape
    if not (0 <= channel < c and 0 <= y < h and 0 <= x < w):
        raise ValueError(f"unit ({channel}, {y}, {x}) is outside {layer.name}'s {c}×{h}×{w} output; "
                         f"use channel 0–{c - 1}, y 0–{h - 1}, x 0–{w - 1}")


def layer_below(activations: Activations, layer: str, layer_input: np.ndarray, image: np.ndarray) -> str:
    """The captured layer whose output is `layer_input` (the nearest earlier one with those values), INPUT for
    the image itself, "" when the input is computed by something not captured (a residual sum, a reshape)."""
    names = activations.names
    for candidate in reversed(activations.layers[:names.index(layer)]):
        if candidate.shape == tuple(layer_input.shape) and np.allclose(candidate.values, layer_input, atol=1e-5):
            return candidate.name
    if image.shape == layer_input.shape and np.allclose(image, layer_input, atol=1e-5):
        return INPUT
    return ""


def _span(positions: list[int]) -> tuple[int, int] | None:
    inside = [p for p in positions if p >= 0]
    return (min(inside), max(inside)) if inside else None


def _window(module: nn.Module, breakdown: Breakdown | None, below: str, channel: int, y: int, x: int,
            in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> InputWindow | None:
    if breakdown is not None and breakdown.kind in ("conv", "maxpool", "avgpool"):
        rows, cols = _span(breakdown.rows), _span(breakdown.cols)
        if rows is None or cols is None:
            return None  # the whole window lies in the padding
        if isinstance(module, nn.Conv2d):
            per_group = module.in_channels // module.groups
            group = channel // (module.out_channels // module.groups)
            channels = list(range(group * per_group, (group + 1) * per_group))
        else:
            channels = [channel]
        return InputWindow(below, channels, rows[0], cols[0], rows[1], cols[1],
                           padded=-1 in breakdown.rows or -1 in breakdown.cols)
    if tuple(in_shape) == tuple(out_shape):  # element-wise: BN, ReLU, dropout, identity
        return InputWindow(below, [channel], y, x, y, x)
    return None


def trace_unit(model: nn.Module, x: torch.Tensor, activations: Activations, layer: str, channel: int, y: int,
               x_pos: int) -> UnitTrace:
    """Unit (channel, y, x_pos) of `layer` for image x (1, C, H, W): its window in the layer below, its
    receptive field on the image and its arithmetic. ValueError (with the valid ranges) for a bad unit."""
    captured = activations.get(layer)
    check_unit(captured, channel, y, x_pos)
    module_name = layer.split("#")[0]  # "name#2": the second call of a module used more than once
    value = float(captured.values[channel, y, x_pos])
    if module_name != layer:  # hooks on the module see its first call: its numbers would be another call's
        return UnitTrace(layer=layer, kind=captured.kind, channel=channel, y=y, x=x_pos, value=value, window=None,
                         box=None, breakdown=None,
                         notes=[f"{module_name} is called more than once in the forward pass; its window, receptive "
                                f"field and arithmetic are shown for its first call ({module_name})."])
    module, layer_input, output = layer_io(model, x, module_name)
    notes: list[str] = []
    breakdown = None
    if has_breakdown(model, module_name):
        try:
            breakdown = breakdown_at(model, x, module_name, (channel, y, x_pos))
        except NotArithmeticLayer as exc:
            notes.append(str(exc))
    else:
        notes.append(f"{layer} ({captured.kind}): {explain_layer(captured.kind)}.")
    image = x[0].double().cpu().numpy()
    below = layer_below(activations, layer, layer_input, image)
    window = _window(module, breakdown, below, channel, y, x_pos, layer_input.shape, output.shape)
    try:
        box = receptive_box(model, x, module_name, channel, y, x_pos)
    except ValueError as exc:
        box = None
        notes.append(str(exc))
    return UnitTrace(layer=layer, kind=captured.kind, channel=channel, y=y, x=x_pos, value=value, window=window,
                     box=box, breakdown=breakdown, notes=notes)


# ---- the overview: every layer's maps as rows for one chart ------------------------------------------------
def overview_layers(activations: Activations, limit: int = 16, keep: tuple[str, ...] = ()) -> list[str]:
    """The map layers to draw in a row: all of them up to `limit`, else evenly spread ones plus `keep`
    (the chosen layer and the one below), in forward order."""
    maps = [layer.name for layer in activations.maps()]
    if len(maps) <= limit:
        return maps
    step = len(maps) / limit
    picked = {maps[int(i * step)] for i in range(limit)} | {maps[-1]} | {k for k in keep if k in maps}
    return [name for name in maps if name in picked]


def overview_channels(values: np.ndarray, count: int, keep: tuple[int, ...] = ()) -> list[int]:
    """`count` channels of a (C, H, W) map: the strongest by mean, with the `keep` ones shown first."""
    means = values.reshape(values.shape[0], -1).mean(axis=1)
    chosen = [c for c in dict.fromkeys(keep) if 0 <= c < values.shape[0]]
    for c in np.argsort(-means, kind="stable"):
        if len(chosen) >= count:
            break
        if int(c) not in chosen:
            chosen.append(int(c))
    return chosen


def _blocks(values: np.ndarray, side: int) -> tuple[np.ndarray, int]:
    """An (H, W) map as block means at most `side` blocks a side, and the block size in units."""
    h, w = values.shape
    step = max(1, math.ceil(max(h, w) / side))
    if step == 1:
        return values, 1
    hh, ww = math.ceil(h / step) * step, math.ceil(w / step) * step
    padded = np.full((hh, ww), np.nan, dtype=np.float64)
    padded[:h, :w] = values
    return np.nanmean(padded.reshape(hh // step, step, ww // step, step), axis=(1, 3)), step


def overview_rows(activations: Activations, image: np.ndarray, trace: UnitTrace | None, channels_per_layer: int = 3,
                  layers: list[str] | None = None, side: int = OVERVIEW_SIDE) -> list[dict]:
    """One row per drawn unit (block) of every overview layer, the image (INPUT) first.

    Columns: layer, order (left to right), slot (row of the channel in its column), channel, y, x (block
    position, for drawing), uy, ux (the unit a click picks), value (the real value; a block's mean),
    level (0 = the layer's lowest value, 1 = its highest: one grey scale per layer) and role: "unit" (the
    traced unit), "window" (what it reads in the layer below), "field" (its receptive field on the image), ""."""
    names = layers if layers is not None else overview_layers(activations)
    window = trace.window if trace else None
    stack: list[tuple[str, np.ndarray]] = [(INPUT, np.asarray(image, dtype=np.float64))]
    stack += [(name, activations.get(name).values) for name in names]
    rows: list[dict] = []
    for order, (name, values) in enumerate(stack):
        keep: tuple[int, ...] = ()
        if trace and name == trace.layer:
            keep = (trace.channel,)
        elif window and name == window.layer and len(window.channels) < values.shape[0]:
            keep = tuple(window.channels[:channels_per_layer])  # a grouped conv or a pool: the channels it reads
        shown = list(range(values.shape[0])) if name == INPUT else overview_channels(values, channels_per_layer, keep)
        low, high = float(values.min()), float(values.max())
        span = high - low if high > low else 1.0
        for slot, channel in enumerate(shown):
            blocks, step = _blocks(values[channel], side)
            for by in range(blocks.shape[0]):
                for bx in range(blocks.shape[1]):
                    uy, ux = by * step, bx * step
                    role = _role(name, channel, uy, ux, step, trace, window)
                    value = float(blocks[by, bx])
                    rows.append({"layer": name, "order": order, "slot": slot, "channel": int(channel), "y": by,
                                 "x": bx, "uy": uy, "ux": ux, "value": value, "level": (value - low) / span,
                                 "role": role})
    return rows


def _role(name: str, channel: int, uy: int, ux: int, step: int, trace: UnitTrace | None,
          window: InputWindow | None) -> str:
    def hits(top: int, left: int, bottom: int, right: int) -> bool:  # the block [uy, uy+step) overlaps the box
        return uy <= bottom and uy + step - 1 >= top and ux <= right and ux + step - 1 >= left

    if trace is None:
        return ""
    if name == trace.layer and channel == trace.channel and hits(trace.y, trace.x, trace.y, trace.x):
        return "unit"
    if window and name == window.layer and channel in window.channels and \
            hits(window.top, window.left, window.bottom, window.right):
        return "window"
    box = trace.box
    if name == INPUT and box is not None and hits(box.top, box.left, box.bottom, box.right):
        return "field"
    return ""
