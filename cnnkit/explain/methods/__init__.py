"""The registry of attribution methods, in the order the page and the CLI list them.

One module per method, each declaring one AttributionMethod (name, label, needs_layer, its
normalisation rule, its function). To add a method: write its module here and add its instance
to ATTRIBUTION_METHODS below; explain() and the Grad-CAM viewer read only this registry.
"""

from __future__ import annotations

from cnnkit.explain.methods.base import AttributionMethod
from cnnkit.explain.methods.gradcam import GRADCAM
from cnnkit.explain.methods.guided_gradcam import GUIDED_GRADCAM
from cnnkit.explain.methods.integrated_gradients import INTEGRATED_GRADIENTS
from cnnkit.explain.methods.occlusion import OCCLUSION
from cnnkit.explain.methods.saliency import SALIENCY

ATTRIBUTION_METHODS: tuple[AttributionMethod, ...] = (
    GRADCAM,
    GUIDED_GRADCAM,
    INTEGRATED_GRADIENTS,
    SALIENCY,
    OCCLUSION,
)

# name -> method, in ATTRIBUTION_METHODS order (iterating gives the names).
METHODS: dict[str, AttributionMethod] = {method.name: method for method in ATTRIBUTION_METHODS}
if len(METHODS) != len(ATTRIBUTION_METHODS):
    raise RuntimeError("two attribution methods share a name; each module needs its own")


class UnknownMethodError(ValueError):
    """explain() was asked for a method that is not registered."""


def get_method(name: str) -> AttributionMethod:
    """The registered method called `name`; a clear message listing the choices otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise UnknownMethodError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}") from None


__all__ = ["ATTRIBUTION_METHODS", "AttributionMethod", "METHODS", "UnknownMethodError", "get_method"]
