"""The output-size calculator: one spatial dimension through a conv or pooling window.

    out = ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class OutputSize:
    size: int
    formula: str  # the formula with the numbers filled in
    windows: list[tuple[int, int]]  # (first, last) padded-input index each output reads (0 = first padding cell)
    padded: int  # n + 2p
    span: int  # d·(k − 1) + 1: the pixels one window covers
    unused: int  # padded cells after the last window (the floor drops them)


def output_size(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> OutputSize:
    """Output length for input length n; ValueError saying which setting to change when nothing fits."""
    for label, value, least in (("input size", n, 1), ("kernel", kernel, 1), ("stride", stride, 1),
                                ("dilation", dilation, 1), ("padding", padding, 0)):
        if value < least:
            raise ValueError(f"{label} must be at least {least}, got {value}")
    span = dilation * (kernel - 1) + 1
    padded = n + 2 * padding
    if span > padded:
        raise ValueError(f"the window spans {span} pixels but the padded input has only {padded}; "
                         f"use a smaller kernel or dilation, or more padding")
    size = (padded - span) // stride + 1
    windows = [(i * stride, i * stride + span - 1) for i in range(size)]
    formula = (f"⌊({n} + 2·{padding} − {dilation}·({kernel} − 1) − 1) / {stride}⌋ + 1 = "
               f"⌊{padded - span} / {stride}⌋ + 1 = {size}")
    return OutputSize(size=size, formula=formula, windows=windows, padded=padded, span=span,
                      unused=padded - (windows[-1][1] + 1))


def window_diagram(result: OutputSize, padding: int, dilation: int = 1, output_index: int = 0) -> list[list[str]]:
    """A text picture of the padded input with one window: rows of cells "pad", "in", "seen", "pad-seen".

    Row 0 is the input (with padding at both ends), row 1 marks the cells output `output_index` reads."""
    if not 0 <= output_index < result.size:
        raise ValueError(f"output {output_index} does not exist; there are {result.size} outputs (0–{result.size - 1})")
    first, _last = result.windows[output_index]
    read = {first + j * dilation for j in range((result.span - 1) // dilation + 1)}
    cells = []
    for i in range(result.padded):
        is_pad = i < padding or i >= result.padded - padding
        cells.append(("pad" if is_pad else "in") + ("-seen" if i in read else ""))
    return [cells]


_COLOURS = {"pad": (215, 215, 215), "in": (173, 206, 240), "pad-seen": (240, 160, 160), "in-seen": (220, 60, 60)}


def window_picture(result: OutputSize, padding: int, dilation: int = 1, output_index: int = 0,
                   cell: int = 18) -> "np.ndarray":
    """The padded input as a row of cells (grey: padding, blue: input) with the cells output `output_index`
    reads in red, and the outputs below it (the chosen one dark)."""
    import numpy as np

    cells = window_diagram(result, padding, dilation, output_index)[0]
    width = max(len(cells), result.size) * cell
    picture = np.full((cell * 3, width, 3), 255, dtype=np.uint8)
    for i, kind in enumerate(cells):
        picture[1:cell - 1, i * cell + 1:(i + 1) * cell - 1] = _COLOURS[kind]
    for i in range(result.size):
        first = result.windows[i][0]
        colour = (60, 60, 60) if i == output_index else (190, 190, 190)
        picture[2 * cell + 1:3 * cell - 1, first * cell + 1:(first + 1) * cell - 1] = colour
    return picture
