"""Spec transformations used by the trainer and the transfer/resolution pages."""

from __future__ import annotations

from cnnkit.models.spec import ModelSpec, SpecError
from cnnkit.models.validate import analyze


def adapt_spec(spec: ModelSpec, input_shape: tuple[int, int, int] | list[int] | None = None,
               num_classes: int | None = None) -> ModelSpec:
    """The same architecture for another dataset: new channels/size and/or class count.

    Input sizes of convs and Linear layers are inferred, so only the spec's header changes
    (and the last Linear's out_features, kept equal to the class count). Raises SpecError when
    the architecture cannot run at the new size, naming the layer.
    """
    new = spec.copy()
    if input_shape is not None:
        if len(tuple(input_shape)) != 3:
            raise SpecError(f"input_shape must be (channels, height, width) (got {input_shape})")
        new.input_shape = tuple(int(v) for v in input_shape)  # type: ignore[assignment]
    if num_classes is not None:
        if int(num_classes) < 1:
            raise SpecError(f"num_classes is {num_classes}; a classifier needs at least 1 class (usually 2 or more)")
        new.num_classes = int(num_classes)
    linears = [l for l in new.layers if l.type == "linear"]
    if linears:
        linears[-1].params["out_features"] = new.num_classes
    analyze(new)
    return new


def set_dropout(spec: ModelSpec, p: float | None) -> ModelSpec:
    """A copy with every Dropout/Dropout2d probability set to p (None: unchanged).

    Only existing dropout layers change; a spec without dropout stays without it.
    """
    new = spec.copy()
    if p is None:
        return new
    if not 0.0 <= float(p) < 1.0:
        raise SpecError(f"dropout probability must be in [0, 1) (got {p}); try 0.25 or 0.5")
    for layer in new.layers:
        if layer.type in ("dropout", "dropout2d"):
            layer.params["p"] = float(p)
    return new
