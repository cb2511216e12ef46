"""Model specs: a plain, JSON-serialisable description of a layer stack.

A spec never stores derived sizes (input channels of a conv, input features of a Linear):
those are inferred from the input shape, so the same spec runs on another dataset.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any


class SpecError(ValueError):
    """A spec that cannot be built; `layer_index` names the offending layer (None: the whole spec)."""

    def __init__(self, message: str, layer_index: int | None = None) -> None:
        super().__init__(message)
        self.layer_index = layer_index


@dataclass(frozen=True)
class ParamInfo:
    """One editable parameter of a layer type (drives validation and the builder's widgets)."""

    name: str
    kind: str  # "int", "float", "bool", "padding" (int or "same"), "optional_int" (int or None)
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""


@dataclass(frozen=True)
class LayerType:
    type: str
    label: str  # how messages and tables name it, e.g. "Conv2d"
    category: str  # colour group in the diagram
    params: tuple[ParamInfo, ...] = ()
    description: str = ""


_FROZEN = ParamInfo("frozen", "bool", False, help="Keep this layer's weights fixed during training.")

LAYER_TYPES: dict[str, LayerType] = {t.type: t for t in [
    LayerType("conv2d", "Conv2d", "conv", (
        ParamInfo("out_channels", "int", 32, 1, 1024, "Number of filters (output channels)."),
        ParamInfo("kernel_size", "int", 3, 1, 11, "Side of the square filter."),
        ParamInfo("stride", "int", 1, 1, 4, "Step between filter positions."),
        ParamInfo("padding", "padding", 0, 0, 5, "Zeros added on each side; 'same' keeps the size (stride 1)."),
        ParamInfo("dilation", "int", 1, 1, 4, "Spacing between filter taps."),
        ParamInfo("groups", "int", 1, 1, 1024, "Split channels into groups; must divide in and out channels."),
        ParamInfo("bias", "bool", True, help="Add a learned bias per filter."),
        _FROZEN,
    ), "2-D convolution"),
    LayerType("maxpool2d", "MaxPool2d", "pool", (
        ParamInfo("kernel_size", "int", 2, 1, 8, "Side of the pooling window."),
        ParamInfo("stride", "optional_int", None, 1, 8, "Step; empty means the kernel size."),
        ParamInfo("padding", "int", 0, 0, 4, "At most half the kernel."),
    ), "max pooling"),
    LayerType("avgpool2d", "AvgPool2d", "pool", (
        ParamInfo("kernel_size", "int", 2, 1, 8, "Side of the pooling window."),
        ParamInfo("stride", "optional_int", None, 1, 8, "Step; empty means the kernel size."),
        ParamInfo("padding", "int", 0, 0, 4, "At most half the kernel."),
    ), "average pooling"),
    LayerType("batchnorm2d", "BatchNorm2d", "norm", (_FROZEN,), "batch norm over the channels of a map"),
    LayerType("batchnorm1d", "BatchNorm1d", "norm", (_FROZEN,), "batch norm over flat features"),
    LayerType("dropout", "Dropout", "dropout", (
        ParamInfo("p", "float", 0.5, 0.0, 0.95, "Probability of zeroing each value in training."),), "dropout"),
    LayerType("dropout2d", "Dropout2d", "dropout", (
        ParamInfo("p", "float", 0.25, 0.0, 0.95, "Probability of zeroing each whole channel in training."),),
        "channel dropout"),
    LayerType("relu", "ReLU", "activation", (), "max(0, x)"),
    LayerType("leakyrelu", "LeakyReLU", "activation", (
        ParamInfo("negative_slope", "float", 0.01, 0.0, 1.0, "Slope for negative inputs."),), "leaky ReLU"),
    LayerType("gelu", "GELU", "activation", (), "GELU"),
    LayerType("elu", "ELU", "activation", (ParamInfo("alpha", "float", 1.0, 0.0, 10.0, "Saturation for negatives."),),
              "ELU"),
    LayerType("sigmoid", "Sigmoid", "activation", (), "sigmoid"),
    LayerType("tanh", "Tanh", "activation", (), "tanh"),
    LayerType("global_avg_pool", "GlobalAvgPool", "pool", (), "mean of each channel: C×H×W → C"),
    LayerType("flatten", "Flatten", "flatten", (), "C×H×W → C·H·W"),
    LayerType("linear", "Linear", "linear", (
        ParamInfo("out_features", "int", 128, 1, 4096, "Output size (the last Linear always gets the class count)."),
        ParamInfo("bias", "bool", True, help="Add a learned bias per output."),
        _FROZEN,
    ), "fully connected"),
    LayerType("residual", "Residual", "residual", (
        ParamInfo("out_channels", "int", 64, 1, 1024, "Channels of both 3×3 convs."),
        ParamInfo("stride", "int", 1, 1, 2, "Stride of the first conv (2 halves the map)."),
        _FROZEN,
    ), "two 3×3 convs with batch norm and a skip (1×1 projection when the shape changes)"),
]}


def layer_label(layer_type: str) -> str:
    info = LAYER_TYPES.get(str(layer_type).lower())
    return info.label if info else str(layer_type)


@dataclass
class LayerSpec:
    type: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.type = str(self.type).lower()
        self.params = dict(self.params or {})

    @property
    def label(self) -> str:
        return layer_label(self.type)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "params": copy.deepcopy(self.params)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LayerSpec":
        if not isinstance(d, dict) or "type" not in d:
            raise SpecError(f"a layer must be an object with a 'type' (got {d!r:.60})")
        params = d.get("params", {})
        if not isinstance(params, dict):
            raise SpecError(f"layer params must be an object (got {params!r:.60})")
        return cls(type=d["type"], params=params)


@dataclass
class ModelSpec:
    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    layers: list[LayerSpec] = field(default_factory=list)
    description: str = ""

    def __post_init__(self) -> None:
        self.input_shape = tuple(self.input_shape)  # type: ignore[assignment]
        self.layers = [l if isinstance(l, LayerSpec) else LayerSpec.from_dict(l) for l in self.layers]

    def copy(self) -> "ModelSpec":
        return ModelSpec.from_dict(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "layers": [l.to_dict() for l in self.layers], "description": self.description}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        if not isinstance(d, dict):
            raise SpecError("a model spec must be a JSON object with name, input_shape, num_classes and layers")
        missing = [k for k in ("input_shape", "num_classes", "layers") if k not in d]
        if missing:
            raise SpecError(f"the model spec lacks {', '.join(missing)}")
        shape = d["input_shape"]
        if not isinstance(shape, (list, tuple)) or len(shape) != 3:
            raise SpecError(f"input_shape must be [channels, height, width] (got {shape!r})")
        try:
            shape_t = tuple(int(v) for v in shape)
            num_classes = int(d["num_classes"])
        except (TypeError, ValueError, OverflowError):
            raise SpecError(f"input_shape and num_classes must be whole numbers (got {shape!r:.60}, "
                            f"{d['num_classes']!r:.20})") from None
        if num_classes < 1:
            raise SpecError(f"num_classes is {num_classes}; a classifier needs at least 1 class (usually 2 or more)")
        if not isinstance(d["layers"], list):
            raise SpecError("layers must be a list")
        return cls(name=str(d.get("name", "model")), input_shape=shape_t, num_classes=num_classes,  # type: ignore[arg-type]
                   layers=[LayerSpec.from_dict(l) for l in d["layers"]], description=str(d.get("description", "")))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"the spec file is not valid JSON: {exc}") from None
        return cls.from_dict(data)


# What a new layer added in the builder starts with (beyond the type's defaults).
_NEW_LAYER_PARAMS: dict[str, dict[str, Any]] = {
    "conv2d": {"out_channels": 32, "kernel_size": 3, "padding": 1},
    "maxpool2d": {"kernel_size": 2},
    "avgpool2d": {"kernel_size": 2},
    "dropout": {"p": 0.5},
    "dropout2d": {"p": 0.25},
    "linear": {"out_features": 128},
    "residual": {"out_channels": 64, "stride": 1},
}


def new_layer(layer_type: str) -> LayerSpec:
    """A layer of this type with sensible starting values (a conv keeps the map size)."""
    layer_type = str(layer_type).lower()
    if layer_type not in LAYER_TYPES:
        raise SpecError(f"unknown layer type {layer_type!r}; known types: {', '.join(LAYER_TYPES)}")
    return LayerSpec(layer_type, copy.deepcopy(_NEW_LAYER_PARAMS.get(layer_type, {})))


def describe_layer(layer: LayerSpec) -> str:
    """A short label from the spec alone (no shapes needed), e.g. "Conv2d 3×3 → 32, pad 1"."""
    info = LAYER_TYPES.get(layer.type)
    if info is None:
        return f"{layer.type} (unknown)"
    p = {q.name: layer.params.get(q.name, q.default) for q in info.params}
    t = layer.type
    if t == "conv2d":
        text = f"Conv2d {p['kernel_size']}×{p['kernel_size']} → {p['out_channels']}"
        extras = [f"stride {p['stride']}" if p["stride"] != 1 else "", f"pad {p['padding']}" if p["padding"] else ""]
        text += "".join(f", {e}" for e in extras if e)
    elif t in ("maxpool2d", "avgpool2d"):
        text = f"{info.label} {p['kernel_size']}×{p['kernel_size']}"
    elif t in ("dropout", "dropout2d"):
        text = f"{info.label} {p['p']}"
    elif t == "linear":
        text = f"Linear → {p['out_features']}"
    elif t == "residual":
        text = f"Residual {p['out_channels']}" + (f", stride {p['stride']}" if p["stride"] != 1 else "")
    else:
        text = info.label
    return text + (" (frozen)" if p.get("frozen") else "")
