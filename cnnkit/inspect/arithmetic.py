"""The arithmetic of one output value, spelled out: the numbers in, the operation, the number out.

Each breakdown recomputes the value by hand (numpy, float64) from the layer's input and parameters and
keeps the value the framework produced next to it, so a student sees they agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

FLOAT_TOLERANCE = 1e-4  # float32 sums against float64 ones, relative to the size of the terms


@dataclass
class Breakdown:
    """How output value `at` of a layer is computed."""

    layer: str
    kind: str  # "conv" | "maxpool" | "avgpool" | "relu" | "batchnorm" | "softmax"
    at: tuple[int, ...]  # (channel, y, x) of the output (softmax: (class,))
    formula: str  # the operation in words and symbols
    value: float  # recomputed here
    framework_value: float  # what the network produced
    inputs: np.ndarray  # the numbers going in (conv: the patch, (C_in/groups, k, k))
    weights: np.ndarray | None = None  # conv kernel (same shape as inputs)
    products: np.ndarray | None = None  # inputs × weights
    bias: float = 0.0
    rows: list[int] = field(default_factory=list)  # input row of each window row (-1: padding)
    cols: list[int] = field(default_factory=list)  # input column of each window column (-1: padding)
    terms: dict[str, float] = field(default_factory=dict)  # named intermediate numbers (sum, mean, var, ...)

    @property
    def matches(self) -> bool:
        scale = max(1.0, abs(self.framework_value), float(np.abs(self.products).sum()) if self.products is not None else 0.0)
        return abs(self.value - self.framework_value) <= FLOAT_TOLERANCE * scale


class NotArithmeticLayer(ValueError):
    """The layer has no per-position arithmetic this view shows; the message says what it does instead."""


EXPLANATIONS = {
    "Linear": "a Linear layer multiplies the whole flattened input by a weight matrix (one dot product per output); "
              "it has no positions to pick",
    "Flatten": "Flatten only reorders the values of a C×H×W map into one long vector; nothing is computed",
    "Dropout": "Dropout zeroes random values while training and does nothing when the model predicts",
    "Dropout2d": "Dropout2d zeroes whole random channels while training and does nothing when the model predicts",
    "GlobalAvgPool": "global average pooling replaces each channel by the mean of all its values",
    "AdaptiveAvgPool2d": "adaptive average pooling averages windows sized to give a fixed output size",
}


def explain_layer(kind: str) -> str:
    """One sentence for a layer without a per-position breakdown."""
    return EXPLANATIONS.get(kind, f"{kind} has no per-position arithmetic here: pick a Conv2d, a pooling layer, "
                                  "a ReLU or a BatchNorm2d")


def _pair(value) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, (tuple, list)) else (int(value), int(value))


def _check_at(shape: tuple[int, ...], at: tuple[int, ...], layer: str) -> None:
    if len(at) != len(shape) or any(not 0 <= a < s for a, s in zip(at, shape)):
        limits = ", ".join(f"0–{s - 1}" for s in shape)
        raise ValueError(f"position {tuple(at)} is outside {layer}'s output of shape {'×'.join(map(str, shape))}; "
                         f"use ({limits})")


def _window_positions(out: int, stride: int, padding: int, dilation: int, kernel: int, size: int) -> list[int]:
    """Input indices the window of output index `out` reads; -1 where it falls in the padding."""
    first = out * stride - padding
    return [p if 0 <= p < size else -1 for p in (first + j * dilation for j in range(kernel))]


def conv_breakdown(conv: nn.Conv2d, layer_input: np.ndarray, output: np.ndarray, at: tuple[int, int, int],
                   layer: str = "conv") -> Breakdown:
    """Output (c, y, x) of a Conv2d = Σ patch × kernel + bias, with padding, stride, dilation and groups."""
    if isinstance(conv.padding, str):
        if conv.padding != "same":
            raise NotArithmeticLayer(f"{layer} uses padding {conv.padding!r}")
        pads = tuple((d * (k - 1)) // 2 for d, k in zip(_pair(conv.dilation), _pair(conv.kernel_size)))
    else:
        pads = _pair(conv.padding)
    if conv.padding_mode != "zeros":
        raise NotArithmeticLayer(f"{layer} pads with {conv.padding_mode!r}; this view shows zero padding only")
    _check_at(output.shape, at, layer)
    c, y, x = at
    # TensorFlow-style "same" convs (EfficientNet-Lite) pad inside forward, possibly one more on the right.
    static = getattr(conv, "static_padding", None)
    left = top = right = bottom = 0
    if isinstance(static, nn.ZeroPad2d):
        left, right, top, bottom = static.padding
        layer_input = np.pad(layer_input, ((0, 0), (top, bottom), (left, right)))
    (kh, kw), (sh, sw), (dh, dw) = _pair(conv.kernel_size), _pair(conv.stride), _pair(conv.dilation)
    in_per_group = conv.in_channels // conv.groups
    group = c // (conv.out_channels // conv.groups)
    rows = _window_positions(y, sh, pads[0], dh, kh, layer_input.shape[1])
    cols = _window_positions(x, sw, pads[1], dw, kw, layer_input.shape[2])
    channels = range(group * in_per_group, (group + 1) * in_per_group)
    patch = np.zeros((in_per_group, kh, kw), dtype=np.float64)
    for i, r in enumerate(rows):
        for j, q in enumerate(cols):
            if r >= 0 and q >= 0:
                patch[:, i, j] = layer_input[list(channels), r, q]
    if isinstance(static, nn.ZeroPad2d):  # back to the coordinates of the unpadded input
        height, width = layer_input.shape[1] - top - bottom, layer_input.shape[2] - left - right
        rows = [r - top if r >= 0 and 0 <= r - top < height else -1 for r in rows]
        cols = [q - left if q >= 0 and 0 <= q - left < width else -1 for q in cols]
    kernel = conv.weight[c].detach().double().cpu().numpy()
    products = patch * kernel
    bias = float(conv.bias[c].detach()) if conv.bias is not None else 0.0
    total = float(products.sum())
    where = f"input channels {channels.start}–{channels.stop - 1}" if conv.groups > 1 else f"all {in_per_group} input channels"
    return Breakdown(layer=layer, kind="conv", at=tuple(at), value=total + bias, framework_value=float(output[c, y, x]),
                     formula=f"Σ (patch × kernel) over {where} and the {kh}×{kw} window + bias",
                     inputs=patch, weights=kernel, products=products, bias=bias,
                     rows=rows, cols=cols, terms={"sum": total, "bias": bias})


def pool_breakdown(pool: nn.MaxPool2d | nn.AvgPool2d, layer_input: np.ndarray, output: np.ndarray,
                   at: tuple[int, int, int], layer: str = "pool") -> Breakdown:
    """Output (c, y, x) of max or average pooling: the window's maximum or mean."""
    if getattr(pool, "ceil_mode", False):
        raise NotArithmeticLayer(f"{layer} uses ceil_mode (windows hanging off the edge); this view shows floor mode")
    _check_at(output.shape, at, layer)
    c, y, x = at
    (kh, kw), padding = _pair(pool.kernel_size), _pair(pool.padding)
    stride = _pair(pool.stride if pool.stride else pool.kernel_size)
    dilation = _pair(getattr(pool, "dilation", 1))
    rows = _window_positions(y, stride[0], padding[0], dilation[0], kh, layer_input.shape[1])
    cols = _window_positions(x, stride[1], padding[1], dilation[1], kw, layer_input.shape[2])
    is_max = isinstance(pool, nn.MaxPool2d)
    pad_value = -np.inf if is_max else 0.0  # max pooling pads with -∞, average pooling with zeros
    window = np.full((kh, kw), pad_value, dtype=np.float64)
    for i, r in enumerate(rows):
        for j, q in enumerate(cols):
            if r >= 0 and q >= 0:
                window[i, j] = layer_input[c, r, q]
    if is_max:
        value, formula, terms = float(window.max()), f"max of the {kh}×{kw} window", {}
    else:
        inside = sum(1 for r in rows for q in cols if r >= 0 and q >= 0)
        divisor = pool.divisor_override or (kh * kw if pool.count_include_pad else inside)
        value = float(window.sum() / divisor)
        formula = f"sum of the {kh}×{kw} window / {divisor}"
        terms = {"sum": float(window.sum()), "divisor": float(divisor)}
    return Breakdown(layer=layer, kind="maxpool" if is_max else "avgpool", at=tuple(at), formula=formula, value=value,
                     framework_value=float(output[c, y, x]), inputs=window, terms=terms,
                     rows=rows, cols=cols)


def relu_breakdown(module: nn.Module, layer_input: np.ndarray, output: np.ndarray, at: tuple[int, ...],
                   layer: str = "relu") -> Breakdown:
    _check_at(output.shape, at, layer)
    value_in = float(layer_input[tuple(at)])
    if isinstance(module, nn.ReLU6) or "ReLU6" in type(module).__name__:  # the explainer's ReLU6 stand-in too
        value, formula = min(max(value_in, 0.0), 6.0), "min(max(x, 0), 6)"
    elif isinstance(module, nn.LeakyReLU):
        slope = module.negative_slope
        value, formula = (value_in if value_in >= 0 else slope * value_in), f"x if x ≥ 0 else {slope:g}·x"
    else:
        value, formula = max(value_in, 0.0), "max(x, 0)"
    return Breakdown(layer=layer, kind="relu", at=tuple(at), formula=formula, value=value,
                     framework_value=float(output[tuple(at)]), inputs=np.array([value_in]), terms={"x": value_in})


def batchnorm_breakdown(bn: nn.BatchNorm2d, layer_input: np.ndarray, output: np.ndarray, at: tuple[int, int, int],
                        layer: str = "bn") -> Breakdown:
    """y = γ·(x − running mean)/√(running var + ε) + β: the statistics saved while training."""
    if bn.running_mean is None or bn.running_var is None:
        raise NotArithmeticLayer(f"{layer} keeps no running statistics (track_running_stats=False): it normalises "
                                 "with the statistics of each batch")
    _check_at(output.shape, at, layer)
    c = at[0]
    value_in = float(layer_input[tuple(at)])
    mean, var = float(bn.running_mean[c]), float(bn.running_var[c])
    gamma = float(bn.weight[c].detach()) if bn.weight is not None else 1.0
    beta = float(bn.bias[c].detach()) if bn.bias is not None else 0.0
    normalised = (value_in - mean) / np.sqrt(var + bn.eps)
    return Breakdown(layer=layer, kind="batchnorm", at=tuple(at), formula="γ · (x − μ) / √(σ² + ε) + β",
                     value=float(gamma * normalised + beta), framework_value=float(output[tuple(at)]),
                     inputs=np.array([value_in]),
                     terms={"x": value_in, "μ (running mean)": mean, "σ² (running var)": var, "ε": float(bn.eps),
                            "normalised": float(normalised), "γ": gamma, "β": beta})


@dataclass
class SoftmaxBreakdown:
    logits: np.ndarray
    exponentials: np.ndarray  # exp(logit − max logit): the same ratios, no overflow
    probabilities: np.ndarray
    framework_probabilities: np.ndarray

    @property
    def matches(self) -> bool:
        return bool(np.allclose(self.probabilities, self.framework_probabilities, atol=1e-6))


def softmax_breakdown(logits: np.ndarray) -> SoftmaxBreakdown:
    """p_i = exp(z_i) / Σ_j exp(z_j), with the maximum subtracted first (the usual trick against overflow)."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    exponentials = np.exp(z - z.max())
    framework = torch.softmax(torch.as_tensor(np.asarray(logits, dtype=np.float32).reshape(-1)), dim=0).numpy()
    return SoftmaxBreakdown(logits=z, exponentials=exponentials, probabilities=exponentials / exponentials.sum(),
                            framework_probabilities=framework.astype(np.float64))


def layer_io(model: nn.Module, x: torch.Tensor, layer: str) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    """The module called `layer`, its input and its output for x (one image), both cloned before any
    in-place operation can change them."""
    from cnnkit.explain.layers import get_layer

    module = get_layer(model, layer)
    seen: dict[str, torch.Tensor] = {}

    def pre_hook(_module, inputs):
        if "input" not in seen:
            seen["input"] = inputs[0].detach().clone()

    def hook(_module, _inputs, output):
        if "output" not in seen and isinstance(output, torch.Tensor):
            seen["output"] = output.detach().clone()

    handles = [module.register_forward_pre_hook(pre_hook), module.register_forward_hook(hook)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    if "output" not in seen:
        raise ValueError(f"layer {layer} was not used by the forward pass")
    return module, seen["input"][0].double().cpu().numpy(), seen["output"][0].double().cpu().numpy()


BREAKDOWN_TYPES = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU)


def has_breakdown(model: nn.Module, layer: str) -> bool:
    """Whether breakdown_at can spell out `layer` (conv, pooling, batch norm, ReLU family)."""
    from cnnkit.explain.layers import get_layer

    return isinstance(get_layer(model, layer.split("#")[0]), BREAKDOWN_TYPES)


def breakdown_at(model: nn.Module, x: torch.Tensor, layer: str, at: tuple[int, ...]) -> Breakdown:
    """The breakdown of output `at` of `layer` for image x; NotArithmeticLayer for other kinds of layer."""
    module, layer_input, output = layer_io(model, x, layer)
    if isinstance(module, nn.Conv2d):
        return conv_breakdown(module, layer_input, output, tuple(at), layer)  # type: ignore[arg-type]
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return pool_breakdown(module, layer_input, output, tuple(at), layer)  # type: ignore[arg-type]
    if isinstance(module, nn.BatchNorm2d):
        return batchnorm_breakdown(module, layer_input, output, tuple(at), layer)  # type: ignore[arg-type]
    if isinstance(module, (nn.ReLU, nn.ReLU6, nn.LeakyReLU)):
        return relu_breakdown(module, layer_input, output, tuple(at), layer)
    raise NotArithmeticLayer(f"{layer} ({type(module).__name__}): {explain_layer(type(module).__name__)}")
