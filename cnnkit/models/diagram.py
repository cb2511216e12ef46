"""Data for a diagram of the layer stack: one block per layer, coloured by kind, its height
following the feature map's side and its width the channel count (both on a log scale, so a
512-channel layer does not dwarf the rest). Pages draw the rows (e.g. Altair mark_rect)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from cnnkit.models.spec import LAYER_TYPES, ModelSpec
from cnnkit.models.summary import format_shape
from cnnkit.models.validate import analyze

CATEGORY_COLOURS = {
    "input": "#9e9e9e", "conv": "#1f77b4", "residual": "#17becf", "pool": "#ff7f0e", "norm": "#2ca02c",
    "dropout": "#bcbd22", "activation": "#e377c2", "flatten": "#8c564b", "linear": "#d62728",
}
GAP = 0.3  # horizontal space between blocks


@dataclass
class DiagramBlock:
    index: int  # -1 for the input
    label: str
    category: str
    shape: str
    x: float
    x2: float
    y: float
    y2: float

    def to_dict(self) -> dict:
        return asdict(self)


def _height(shape: tuple[int, ...]) -> float:
    # Flat vectors are drawn as thin bars; maps by their side.
    side = shape[1] if len(shape) == 3 else 1
    return 1.0 + 2.0 * math.log2(side + 1)


def _width(shape: tuple[int, ...]) -> float:
    return 0.5 + 0.35 * math.log2(shape[0] + 1)


def diagram_blocks(spec: ModelSpec) -> list[dict]:
    """Rectangles (x..x2, y..y2 centred on y=0) for the input and every layer; raises SpecError if invalid."""
    rows = analyze(spec)
    blocks: list[DiagramBlock] = []
    x = 0.0
    items = [(-1, "Input", "input", tuple(spec.input_shape))] + [
        (r.index, f"{r.index}: {r.label}", LAYER_TYPES[r.type].category, r.output_shape) for r in rows]
    for index, label, category, shape in items:
        w, h = _width(shape), _height(shape)
        blocks.append(DiagramBlock(index, label, category, format_shape(shape), x, x + w, -h / 2, h / 2))
        x += w + GAP
    return [b.to_dict() for b in blocks]
