"""Every layer's output for one image, kept as plain arrays: one forward pass under forward hooks.

Each hook stores a *clone* of its module's output. Without the clone, a later in-place activation
(ReLU(inplace=True), as in torchvision's VGG and ResNet) would overwrite the stored conv or batch-norm
map with its rectified values, and the page would show the wrong numbers for that layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


@dataclass
class LayerStats:
    mean: float
    std: float
    min: float
    max: float
    zero_fraction: float  # share of exact zeros: the units a ReLU switched off


@dataclass
class LayerActivation:
    """One module's output for one image (batch dimension removed)."""

    name: str  # dotted module name; "name#2" for the second call of a module used twice
    kind: str  # the module's class, e.g. "Conv2d"
    values: np.ndarray  # float32 (C, H, W) for maps, (F,) for flat features
    stats: LayerStats

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.values.shape)

    @property
    def is_map(self) -> bool:
        return self.values.ndim == 3

    def channel_means(self) -> np.ndarray:
        return self.values.reshape(self.values.shape[0], -1).mean(axis=1) if self.is_map else self.values


@dataclass
class Activations:
    """All captured layers in the order the forward pass finished them, and the network's logits."""

    layers: list[LayerActivation]
    logits: np.ndarray  # (num_classes,)
    input_shape: tuple[int, int, int]
    nbytes: int = 0  # memory the stored maps take
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.names = [layer.name for layer in self.layers]

    def get(self, name: str) -> LayerActivation:
        if name not in self.names:
            raise ValueError(f"no layer called {name!r} was captured; layers: {', '.join(self.names[:8])}"
                             + (", ..." if len(self.names) > 8 else ""))
        return self.layers[self.names.index(name)]

    def maps(self) -> list[LayerActivation]:
        return [layer for layer in self.layers if layer.is_map]


def layer_stats(values: np.ndarray) -> LayerStats:
    return LayerStats(mean=float(values.mean()), std=float(values.std()), min=float(values.min()),
                      max=float(values.max()), zero_fraction=float((values == 0).mean()))


# Operations even when they hold a helper module (EfficientNet's convs keep their padding as a child).
_OPERATIONS = (nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm, nn.modules.pooling._MaxPoolNd,
               nn.modules.pooling._AvgPoolNd, nn.Linear)


def leaf_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The operations: modules without children, and convs/BN/pooling/Linear whatever they hold inside."""
    found: dict[str, nn.Module] = {}
    inside: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(prefix + ".") for prefix in inside):
            continue
        if isinstance(module, _OPERATIONS):
            inside.append(name)
            found[name] = module
        elif not list(module.children()):
            found[name] = module
    return found


def capture_activations(model: nn.Module, x: torch.Tensor, names: list[str] | None = None,
                        clone: bool = True) -> Activations:
    """One forward pass of x (1, C, H, W); the outputs of `names` (default: every leaf module).

    clone=False stores the output tensors themselves: only to show what an in-place activation does
    to them (the page and the tests compare both)."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"give one image as a (1, C, H, W) tensor, got shape {tuple(x.shape)}")
    modules = leaf_modules(model) if names is None else {name: _module(model, name) for name in names}
    captured: list[tuple[str, str, torch.Tensor]] = []
    calls: dict[str, int] = {}

    def make_hook(name: str, kind: str):
        def hook(_module, _inputs, output):
            if not isinstance(output, torch.Tensor):
                return
            calls[name] = calls.get(name, 0) + 1
            label = name if calls[name] == 1 else f"{name}#{calls[name]}"
            captured.append((label, kind, output.detach().clone() if clone else output.detach()))

        return hook

    handles = [module.register_forward_hook(make_hook(name, type(module).__name__)) for name, module in modules.items()]
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            logits = model(x.to(device))
    finally:
        for handle in handles:
            handle.remove()
    layers = []
    for label, kind, tensor in captured:
        values = tensor[0].float().cpu().numpy()
        layers.append(LayerActivation(name=label, kind=kind, values=values, stats=layer_stats(values)))
    return Activations(layers=layers, logits=logits[0].float().cpu().numpy().reshape(-1),
                       input_shape=tuple(int(v) for v in x.shape[1:]),  # type: ignore[arg-type]
                       nbytes=sum(layer.values.nbytes for layer in layers))


def _module(model: nn.Module, name: str) -> nn.Module:
    from cnnkit.explain.layers import get_layer

    return get_layer(model, name)


def shape_changes(activations: Activations, limit: int = 24) -> list[LayerActivation]:
    """The maps where the shape changes (and the last map): the strip of the network shrinking the image
    while multiplying channels. At most `limit`, evenly spread, so a 100-layer network stays one strip."""
    maps = activations.maps()
    picked = [layer for i, layer in enumerate(maps) if i == len(maps) - 1 or layer.shape != maps[i + 1].shape]
    if len(picked) > limit:
        step = len(picked) / limit
        picked = [picked[int(i * step)] for i in range(limit - 1)] + [picked[-1]]
    return picked


def layer_table(activations: Activations) -> list[dict]:
    """One row per captured layer: name, kind, output shape and statistics (for a table or JSON)."""
    return [{"layer": layer.name, "kind": layer.kind, "shape": list(layer.shape),
             "mean": round(layer.stats.mean, 6), "std": round(layer.stats.std, 6), "min": round(layer.stats.min, 6),
             "max": round(layer.stats.max, 6), "zero_fraction": round(layer.stats.zero_fraction, 4)}
            for layer in activations.layers]
