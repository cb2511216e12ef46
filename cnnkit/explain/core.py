"""The model-agnostic entry points: explain(model, x, method, ...) and top_k(model, x, classes)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.explain.layers import default_layer, get_layer, layer_output_size
from cnnkit.explain.methods import get_method


@dataclass
class Attribution:
    """One attribution map for one input: `map` is (H, W) float32 in [0, 1] at the input size."""

    map: np.ndarray
    method: str
    target: int
    layer: str | None  # dotted module name (None for methods that work on the input)
    seconds: float  # the attribution itself, model already loaded
    reason: str = ""  # why this layer, when it was chosen by default
    layer_size: tuple[int, int] | None = None  # (h, w) of the layer's output for Grad-CAM
    extra: dict = field(default_factory=dict)


class _GuidedReLU6(nn.ReLU):
    """ReLU6 that counts as a ReLU, so captum's guided backprop also rectifies its gradient.

    Captum's GuidedBackprop hooks only nn.ReLU modules; EfficientNet-Lite and MobileNetV2 use
    ReLU6, which would otherwise pass raw gradients through.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (nn.Module signature)
        return F.hardtanh(input, 0.0, 6.0)


def prepare_model(model: nn.Module) -> nn.Module:
    """Make a model safe for gradient hooks; forward results are unchanged. Returns the same model.

    - eval mode (batch norm uses running statistics, dropout off);
    - in-place activations off: backward hooks on a module whose output overwrote its input
      raise errors in autograd, and captum puts such hooks on every ReLU;
    - ReLU6 swapped for an equivalent nn.ReLU subclass (see _GuidedReLU6).
    Idempotent and cheap, so it is called before every attribution.
    """
    model.eval()
    for parent in model.modules():
        for child_name, child in list(parent.named_children()):
            if type(child) is nn.ReLU6:
                setattr(parent, child_name, _GuidedReLU6())
    for module in model.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    return model


def normalise_map(values: torch.Tensor | np.ndarray, clip_percentile: float | None = None) -> np.ndarray:
    """Min-max scale to [0, 1] as float32; a constant map (no signal) becomes all zeros.

    clip_percentile: values above this percentile count as the maximum (for sparse maps).
    """
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    array = np.nan_to_num(array.astype(np.float32))
    low, high = float(array.min()), float(array.max())
    if clip_percentile is not None and high > low:
        clipped_high = float(np.percentile(array, clip_percentile))
        if clipped_high > low:  # keep the full range when nearly everything is zero
            array = np.minimum(array, clipped_high)
            high = clipped_high
    if high - low <= 1e-12:
        return np.zeros_like(array, dtype=np.float32)
    return ((array - low) / (high - low)).astype(np.float32)


def _model_device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _check_input(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"explain needs one image as a (1, C, H, W) float tensor, got {shape}")
    return x.float()


def predict_probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities (num_classes,) for one input."""
    x = _check_input(x)
    model.eval()
    with torch.no_grad():
        logits = model(x.to(_model_device(model)))
    return torch.softmax(logits.float(), dim=1)[0].cpu()


def top_k(model: nn.Module, x: torch.Tensor, classes: list[str] | None = None, k: int = 5) -> list[dict]:
    """The k most probable classes: [{class, index, probability}], most probable first."""
    probabilities = predict_probabilities(model, x)
    k = max(1, min(k, probabilities.numel()))
    values, indices = probabilities.topk(k)
    return [
        {"class": classes[i] if classes and i < len(classes) else str(i), "index": int(i), "probability": float(p)}
        for p, i in zip(values.tolist(), indices.tolist())
    ]


def resolve_target(target: int | str | None, classes: list[str] | None, predicted: int, num_classes: int) -> int:
    """A class index from an index, an index written as text, a class name, or None (predicted)."""
    if target is None or target == "":
        return predicted
    if isinstance(target, str):
        if classes and target in classes:
            return classes.index(target)
        lowered = [c.lower() for c in classes or []]
        if target.lower() in lowered:
            return lowered.index(target.lower())
        if target.strip().lstrip("-").isdigit():
            target = int(target)
        else:
            raise ValueError(f"unknown target class {target!r}; give a class index 0..{num_classes - 1} or one of the class names")
    index = int(target)
    if not 0 <= index < num_classes:
        raise ValueError(f"target class {index} is out of range; the model has classes 0..{num_classes - 1}")
    return index


def explain(model: nn.Module, x: torch.Tensor, method: str = "gradcam", layer_name: str | None = None,
            target: int | str | None = None, classes: list[str] | None = None, **options) -> Attribution:
    """One attribution map of `target` (default: the predicted class) for one normalised input.

    method: a name in METHODS (the registry in cnnkit.explain.methods). layer_name: for the
    methods that need a layer (Grad-CAM, Guided Grad-CAM), the conv layer's dotted name
    (default: the last conv layer with an output of at least 4×4, see layers.py).
    options go to the method (steps for integrated_gradients, window/stride for occlusion).
    """
    spec = get_method(method)
    x = _check_input(x)
    prepare_model(model)
    device = _model_device(model)
    x = x.to(device)
    probabilities = predict_probabilities(model, x)
    target_index = resolve_target(target, classes, int(probabilities.argmax()), probabilities.numel())

    reason = ""
    layer_size = None
    layer_argument = {}
    if spec.needs_layer:
        if layer_name is None:
            choice = default_layer(model, x)
            layer_name, reason = choice.name, choice.reason
        layer = get_layer(model, layer_name)
        layer_size = layer_output_size(model, x, layer)
        layer_argument["layer"] = layer
    else:
        layer_name = None

    start = time.perf_counter()
    with warnings.catch_warnings():
        # captum notes that it switched on requires_grad for the input: expected here.
        warnings.filterwarnings("ignore", message=".*did not already require gradients.*")
        raw = spec.compute(model, x, target=target_index, **layer_argument, **options)
    heatmap = normalise_map(raw, spec.clip_percentile)
    seconds = time.perf_counter() - start
    return Attribution(map=heatmap, method=spec.name, target=target_index, layer=layer_name, seconds=seconds,
                       reason=reason, layer_size=layer_size,
                       extra={"probability": float(probabilities[target_index])})
