"""Which layers Grad-CAM can look at, and which one it looks at by default.

Grad-CAM needs a layer with a spatial output (N, C, H, W). Candidates are every Conv2d, every
block (a container such as a ResNet stage) that holds convolutions, and the end of each conv's own
block (the batch norm and activation right after it); their output sizes depend on the input, so
they are measured with one forward pass under hooks.

By default Grad-CAM reads the end of the chosen conv's block: its rectified output, which is what
the next layer sees and what the Grad-CAM paper used (VGG's in-place ReLU overwrites conv5_3).
The raw conv output, before batch norm and ReLU, points at the object far less often: on Shapes with
cnn3_bn 43% against 73% of test images (benchmarks/bench_localisation.py). A conv picked by name is
read exactly there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

MIN_CAM_SIZE = 4  # below 4×4 a heatmap is a handful of blocks and no longer localises


@dataclass
class LayerInfo:
    """One candidate layer: its dotted name in the model, its class and its output shape."""

    name: str
    kind: str
    is_conv: bool  # a Conv2d itself (False: a block that contains convolutions, or a block's end)
    output_shape: tuple[int, int, int]  # (C, H, W) for the given input
    block_of: str | None = None  # for the BN/activation ending a conv's block: that conv's name

    @property
    def size_label(self) -> str:
        return f"{self.output_shape[1]}×{self.output_shape[2]}"


@dataclass
class LayerChoice:
    """The default Grad-CAM layer and the sentence that says why it was picked."""

    name: str
    reason: str


def _contains_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


# Layers that keep the map's size and only rescale or gate it: a conv's block ends after them.
_BLOCK_TAIL = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
               nn.Hardswish, nn.Mish)


def block_output(model: nn.Module, conv_name: str) -> str | None:
    """The last BatchNorm/activation directly after conv `conv_name` in its Sequential, if any."""
    parent_name, _, child = conv_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if not isinstance(parent, nn.Sequential):
        return None
    names = [name for name, _ in parent.named_children()]
    if child not in names:
        return None
    last = None
    for name in names[names.index(child) + 1:]:
        if not isinstance(parent.get_submodule(name), _BLOCK_TAIL):
            break
        last = name
    if last is None:
        return None
    return f"{parent_name}.{last}" if parent_name else last


def conv_layers(model: nn.Module, x: torch.Tensor) -> list[LayerInfo]:
    """Conv layers and conv blocks in the order their forward pass finishes, with output shapes.

    Forward hooks fire when a module *finishes*, so a block comes after the convs inside it,
    which is the order in which the network computes them.
    """
    candidates = {
        name: module
        for name, module in model.named_modules()
        if name and (isinstance(module, nn.Conv2d) or (len(list(module.children())) > 0 and _contains_conv(module)))
    }
    tails = {}  # block end -> its conv
    for name, module in list(candidates.items()):
        tail = block_output(model, name) if isinstance(module, nn.Conv2d) else None
        if tail is not None:
            tails[tail] = name
            candidates[tail] = model.get_submodule(tail)
    order: list[str] = []
    shapes: dict[str, tuple[int, int, int]] = {}
    handles = []

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                shapes[name] = tuple(int(s) for s in output.shape[1:])  # type: ignore[assignment]
                if name in order:  # a module called twice counts where it was last used
                    order.remove(name)
                order.append(name)

        return hook

    for name, module in candidates.items():
        handles.append(module.register_forward_hook(make_hook(name)))
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            model(x[:1].to(device))
    finally:
        for handle in handles:
            handle.remove()
    return [
        LayerInfo(name=name, kind=type(candidates[name]).__name__,
                  is_conv=isinstance(candidates[name], nn.Conv2d), output_shape=shapes[name], block_of=tails.get(name))
        for name in order
    ]


def choose_default_layer(layers: list[LayerInfo], min_size: int = MIN_CAM_SIZE) -> LayerChoice:
    """The last conv layer (or block) whose output is at least min_size × min_size.

    Later layers see more of the image and are more class-specific, which is why Grad-CAM
    uses the last conv layer; but a 2×2 or 1×1 map cannot say *where* anything is.
    """
    ends = {layer.block_of: layer for layer in layers if layer.block_of}
    layers = [layer for layer in layers if not layer.block_of]
    if not layers:
        raise ValueError("the model has no convolutional layer with a spatial output, so Grad-CAM has nothing to look at")
    big_enough = [layer for layer in layers if min(layer.output_shape[1:]) >= min_size]
    if big_enough:
        chosen = big_enough[-1]
        later = layers[layers.index(chosen) + 1:]
        what = "conv layer" if chosen.is_conv else "conv block"
        reason = f"{chosen.name} is the last {what} whose output ({chosen.size_label}) is at least {min_size}×{min_size}"
        if later:
            coarsest = later[-1]
            reason += f"; later layers are too coarse to localise (down to {coarsest.size_label})"
        else:
            reason += "; it is also the network's last conv layer, the most class-specific one"
    else:
        chosen = max(layers, key=lambda layer: (layer.output_shape[1] * layer.output_shape[2], -layers.index(layer)))
        reason = (f"no conv layer's output is at least {min_size}×{min_size} for this input; "
                  f"{chosen.name} has the largest ({chosen.size_label})")
    end = ends.get(chosen.name)
    if end is None:
        return LayerChoice(name=chosen.name, reason=reason)
    reason += (f". Grad-CAM reads it after its {end.kind} ({end.name}), the end of that conv's block: the "
               "rectified maps the next layer sees")
    return LayerChoice(name=end.name, reason=reason)


def default_layer(model: nn.Module, x: torch.Tensor, min_size: int = MIN_CAM_SIZE) -> LayerChoice:
    """choose_default_layer on the layers measured for this input."""
    return choose_default_layer(conv_layers(model, x), min_size=min_size)


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The module called `name`; a clear message listing a few real names if it does not exist."""
    try:
        module = model.get_submodule(name)
    except AttributeError:
        convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        hint = ", ".join(convs[-5:]) if convs else "none"
        raise ValueError(f"the model has no layer called {name!r}; its last conv layers are: {hint}") from None
    return module


def layer_output_size(model: nn.Module, x: torch.Tensor, layer: nn.Module) -> tuple[int, int]:
    """The (h, w) of the layer's output for this input (the resolution of a Grad-CAM map at that layer)."""
    size: list[int] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: size.extend(out.shape[2:]) if not size else None)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return (int(size[0]), int(size[1])) if size else (0, 0)
