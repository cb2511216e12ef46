"""Spec → nn.Module. The layers live in `self.layers` (an nn.Sequential), so their names are
"layers.0", "layers.1", ... which Grad-CAM hooks and the transfer code rely on."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from cnnkit.models.layers import GlobalAvgPool, ResidualBlock
from cnnkit.models.spec import ModelSpec
from cnnkit.models.validate import LayerAnalysis, check_bounds


class SpecNet(nn.Module):
    """A network built from a ModelSpec; `spec` is kept for saving and display."""

    def __init__(self, spec: ModelSpec, layers: list[nn.Module]) -> None:
        super().__init__()
        self.spec = spec.copy()
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def make_layer(row: LayerAnalysis) -> nn.Module:
    """One torch module for one analysed layer (input sizes already inferred)."""
    p, t = row.params, row.type
    if t == "conv2d":
        return nn.Conv2d(row.input_shape[0], p["out_channels"], p["kernel_size"], stride=p["stride"],
                         padding=p["padding"], dilation=p["dilation"], groups=p["groups"], bias=p["bias"])
    if t in ("maxpool2d", "avgpool2d"):
        cls = nn.MaxPool2d if t == "maxpool2d" else nn.AvgPool2d
        return cls(p["kernel_size"], stride=p["stride"] or p["kernel_size"], padding=p["padding"])
    if t == "batchnorm2d":
        return nn.BatchNorm2d(row.input_shape[0])
    if t == "batchnorm1d":
        return nn.BatchNorm1d(row.input_shape[0])
    if t == "dropout":
        return nn.Dropout(p["p"])
    if t == "dropout2d":
        return nn.Dropout2d(p["p"])
    if t == "relu":
        return nn.ReLU()
    if t == "leakyrelu":
        return nn.LeakyReLU(p["negative_slope"])
    if t == "gelu":
        return nn.GELU()
    if t == "elu":
        return nn.ELU(p["alpha"])
    if t == "sigmoid":
        return nn.Sigmoid()
    if t == "tanh":
        return nn.Tanh()
    if t == "global_avg_pool":
        return GlobalAvgPool()
    if t == "flatten":
        return nn.Flatten()
    if t == "linear":
        return nn.Linear(row.in_features, p["out_features"], bias=p["bias"])
    if t == "residual":
        return ResidualBlock(row.input_shape[0], p["out_channels"], p["stride"])
    raise AssertionError(f"unhandled layer type {t}")  # analyze() rejects unknown types first


def build_model(spec: ModelSpec) -> SpecNet:
    """Validate the spec, check it fits the import limits (parameters counted from the spec, input size,
    classes: before anything is allocated) and build it; raises SpecError naming the layer or the limit."""
    rows = check_bounds(spec)
    modules = []
    for row in rows:
        module = make_layer(row)
        if row.frozen:
            for param in module.parameters():
                param.requires_grad_(False)
        modules.append(module)
    return SpecNet(spec, modules)


def conv_layer_names(spec_or_model: ModelSpec | nn.Module) -> list[str]:
    """Dotted names of the conv layers and residual blocks ("layers.3"), in forward order."""
    if isinstance(spec_or_model, ModelSpec):
        return [f"layers.{i}" for i, l in enumerate(spec_or_model.layers) if l.type in ("conv2d", "residual")]
    layers = getattr(spec_or_model, "layers", None)
    if not isinstance(layers, nn.Sequential):
        raise ValueError("this model was not built from a spec (it has no `layers` Sequential)")
    return [f"layers.{i}" for i, m in enumerate(layers) if isinstance(m, (nn.Conv2d, ResidualBlock))]


@dataclass
class ParamCounts:
    trainable: int
    frozen: int

    @property
    def total(self) -> int:
        return self.trainable + self.frozen

    def to_dict(self) -> dict:
        return asdict(self) | {"total": self.total}


def count_params(model: nn.Module) -> ParamCounts:
    """Trainable and frozen parameter counts (requires_grad), as the builder, trainer and transfer page show them."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return ParamCounts(trainable, frozen)
