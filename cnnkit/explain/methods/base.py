"""What every attribution method declares: one AttributionMethod instance per module in this package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class AttributionMethod:
    """One attribution method as explain() and the Grad-CAM viewer see it.

    compute(model, x, target=..., [layer=...,] **options) returns the raw map: an unnormalised,
    non-negative (H, W) tensor at the input's size. `layer` (an nn.Module) is passed only when
    needs_layer is set; options are the method's own keywords (steps, window, ...).
    explain() then scales the raw map to [0, 1] with normalise_map(raw, clip_percentile).
    """

    name: str  # the key of explain(method=...) and of the CLI's --method
    label: str  # what the page and captions show
    needs_layer: bool  # looks at one conv layer (the Grad-CAM family); the others work on the input
    # Normalisation: values above this percentile count as the maximum. Gradient maps are sparse
    # (a few pixels hold most of the mass, min-max scaling leaves the rest invisible); None: plain min-max.
    clip_percentile: float | None
    compute: Callable[..., torch.Tensor]
    # Many forward passes (seconds on a large model): left out of the page's default comparison.
    slow: bool = False
