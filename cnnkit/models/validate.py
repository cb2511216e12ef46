"""Shape inference and validation: one walk over the layers that either explains why the spec
cannot run (SpecError naming the layer and the fix) or gives every layer's sizes and costs.

Parameter counts here are computed by formula (fast, for live summaries); tests check them
against `sum(p.numel())` of the built module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnkit.models.spec import LAYER_TYPES, LayerSpec, ModelSpec, SpecError

Shape = tuple[int, ...]


@dataclass
class LayerAnalysis:
    index: int
    type: str
    label: str
    params: dict[str, Any]  # resolved: defaults filled in, last Linear's out_features = num_classes
    input_shape: Shape
    output_shape: Shape
    num_params: int
    frozen: bool
    mult_adds: int
    activation_elements: int  # values this layer produces for one image (kept for backward)
    receptive_field: int | None  # None once the map is flattened (the whole input)
    jump: int | None  # distance in input pixels between neighbouring outputs
    in_features: int | None = None  # Linear: the inferred input size


def _name(index: int, layer_type: str) -> str:
    return f"layer {index} ({LAYER_TYPES[layer_type].label if layer_type in LAYER_TYPES else layer_type})"


def resolve_params(index: int, layer: LayerSpec) -> dict[str, Any]:
    """Defaults filled in and every value type- and range-checked."""
    info = LAYER_TYPES.get(layer.type)
    if info is None:
        raise SpecError(f"layer {index} has unknown type {layer.type!r}; known types: {', '.join(LAYER_TYPES)}",
                        index)
    where = _name(index, layer.type)
    known = {p.name: p for p in info.params}
    unknown = [k for k in layer.params if k not in known]
    if unknown:
        allowed = ", ".join(known) or "none"
        raise SpecError(f"{where} has no parameter {unknown[0]!r}; its parameters are: {allowed}", index)
    out: dict[str, Any] = {}
    for p in info.params:
        value = layer.params.get(p.name, p.default)
        if p.kind == "bool":
            if not isinstance(value, bool):
                raise SpecError(f"{where}: {p.name} must be true or false (got {value!r})", index)
        elif p.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError(f"{where}: {p.name} must be a number (got {value!r})", index)
            value = float(value)
            if p.name == "p" and not 0.0 <= value < 1.0:
                raise SpecError(f"{where}: dropout probability must be in [0, 1) (got {value}); try 0.25 or 0.5",
                                index)
            if p.minimum is not None and value < p.minimum:
                raise SpecError(f"{where}: {p.name} must be at least {p.minimum} (got {value})", index)
        elif p.kind == "padding" and isinstance(value, str):
            if value.lower() != "same":
                raise SpecError(f"{where}: padding must be a whole number or 'same' (got {value!r})", index)
            value = "same"
        elif p.kind == "optional_int" and value is None:
            pass
        else:  # int, padding as int, optional_int as int
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
                raise SpecError(f"{where}: {p.name} must be a whole number (got {value!r})", index)
            value = int(value)
            if p.name in ("out_channels", "out_features") and value < 1:
                raise SpecError(f"{where} has {value} output {'channels' if p.name == 'out_channels' else 'features'}; "
                                f"give it at least 1", index)
            if p.name == "padding" and value < 0:
                raise SpecError(f"{where}: padding cannot be negative (got {value}); use 0 or more", index)
            if p.name in ("kernel_size", "stride", "dilation", "groups") and value < 1:
                raise SpecError(f"{where}: {p.name} must be at least 1 (got {value})", index)
        out[p.name] = value
    return out


def _last_linear_index(spec: ModelSpec) -> int | None:
    found = [i for i, l in enumerate(spec.layers) if l.type == "linear"]
    return found[-1] if found else None


def _previous_resizer(layers: list[LayerSpec], index: int) -> int | None:
    """The nearest earlier conv/residual layer, where padding could keep the map larger."""
    for j in range(index - 1, -1, -1):
        if layers[j].type in ("conv2d", "residual"):
            return j
    return None


def _check_input(spec: ModelSpec) -> None:
    if len(spec.input_shape) != 3:
        raise SpecError(f"input_shape must be (channels, height, width) (got {spec.input_shape})")
    c, h, w = spec.input_shape
    if c < 1:
        raise SpecError(f"the input has {c} channels; use 1 for grey images or 3 for colour")
    if h < 1 or w < 1:
        raise SpecError(f"the input size {h}×{w} is empty; give a height and width of at least 1")
    if spec.num_classes < 1:
        raise SpecError(f"num_classes is {spec.num_classes}; a classifier needs at least 1 class (usually 2 or more)")


def analyze(spec: ModelSpec) -> list[LayerAnalysis]:
    """Every layer's resolved params, shapes and costs; raises SpecError for the first layer that cannot run."""
    _check_input(spec)
    last_linear = _last_linear_index(spec)
    shape: Shape = tuple(spec.input_shape)
    rf: int | None = 1
    jump: int | None = 1
    rows: list[LayerAnalysis] = []
    for i, layer in enumerate(spec.layers):
        p = resolve_params(i, layer)
        t = layer.type
        where = _name(i, t)
        in_shape = shape
        num_params = 0
        mult_adds = 0
        extra_activations = 0
        in_features = None
        spatial = len(shape) == 3
        needs_map = t in ("conv2d", "maxpool2d", "avgpool2d", "batchnorm2d", "dropout2d", "global_avg_pool",
                          "residual")
        if needs_map and not spatial:
            fixes = {
                "batchnorm2d": "use BatchNorm1d on flat features",
                "dropout2d": "use Dropout on flat features",
                "global_avg_pool": "remove it (the values are already flat)",
            }
            fix = fixes.get(t, "move it before the Flatten / GlobalAvgPool")
            raise SpecError(f"{where} needs a C×H×W feature map but receives a flat vector of {shape[0]} "
                            f"features; {fix}", i)
        if t == "conv2d":
            c, h, w = shape
            out_c, k, s, d, g = p["out_channels"], p["kernel_size"], p["stride"], p["dilation"], p["groups"]
            if c % g or out_c % g:
                raise SpecError(f"{where}: groups={g} must divide both its {c} input and {out_c} output channels; "
                                f"use a divisor such as 1" + (f" or {c}" if c % g == 0 and out_c % c == 0 else ""), i)
            eff = d * (k - 1) + 1
            if p["padding"] == "same":
                if s != 1:
                    raise SpecError(f"{where}: padding 'same' needs stride 1 (got {s}); use a number for the padding",
                                    i)
                pad_total_h = pad_total_w = eff - 1
            else:
                pad_total_h = pad_total_w = 2 * p["padding"]
            if h + pad_total_h < eff or w + pad_total_w < eff:
                dil = f" (dilation {d} spans {eff}×{eff})" if d > 1 else ""
                raise SpecError(f"{where} has a {k}×{k} kernel{dil} but receives a {h}×{w} map; use a smaller "
                                f"kernel, add padding, or remove a pooling layer before it", i)
            ho = (h + pad_total_h - eff) // s + 1
            wo = (w + pad_total_w - eff) // s + 1
            num_params = out_c * (c // g) * k * k + (out_c if p["bias"] else 0)
            mult_adds = out_c * ho * wo * (c // g) * k * k
            shape = (out_c, ho, wo)
            rf, jump = rf + (eff - 1) * jump, jump * s  # type: ignore[operator]
        elif t in ("maxpool2d", "avgpool2d"):
            c, h, w = shape
            k, pad = p["kernel_size"], p["padding"]
            s = p["stride"] or k
            if pad > k // 2:
                raise SpecError(f"{where}: padding {pad} is more than half its {k}×{k} window; use at most {k // 2}", i)
            if h + 2 * pad < k or w + 2 * pad < k:
                j = _previous_resizer(spec.layers, i)
                fix = (f"add padding to layer {j} ({LAYER_TYPES[spec.layers[j].type].label})" if j is not None
                       else "use a larger input")
                raise SpecError(f"{where} receives a {h}×{w} map, smaller than its {k}×{k} window; "
                                f"remove it or {fix}", i)
            shape = (c, (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1)
            rf, jump = rf + (k - 1) * jump, jump * s  # type: ignore[operator]
        elif t in ("batchnorm2d", "batchnorm1d"):
            if t == "batchnorm1d" and spatial:
                raise SpecError(f"{where} receives a {'×'.join(map(str, shape))} feature map (e.g. after a conv); "
                                f"use BatchNorm2d after conv layers, or move it after the Flatten", i)
            num_params = 2 * shape[0]
        elif t == "global_avg_pool":
            shape = (shape[0],)
            rf = jump = None
        elif t == "flatten":
            if spatial:
                shape = (shape[0] * shape[1] * shape[2],)
            rf = jump = None
        elif t == "linear":
            if spatial:
                raise SpecError(f"{where} receives a {'×'.join(map(str, shape))} feature map (a 4-D tensor with the "
                                f"batch); add a Flatten or GlobalAvgPool before it", i)
            in_features = shape[0]
            out_f = spec.num_classes if i == last_linear else p["out_features"]
            p["out_features"] = out_f
            num_params = in_features * out_f + (out_f if p["bias"] else 0)
            mult_adds = in_features * out_f
            shape = (out_f,)
            rf = jump = None
        elif t == "residual":
            c, h, w = shape
            out_c, s = p["out_channels"], p["stride"]
            ho, wo = (h - 1) // s + 1, (w - 1) // s + 1
            conv1 = c * out_c * 9
            conv2 = out_c * out_c * 9
            projection = s != 1 or c != out_c
            num_params = conv1 + conv2 + 4 * out_c + ((c * out_c + 2 * out_c) if projection else 0)
            mult_adds = ho * wo * (conv1 + conv2 + (c * out_c if projection else 0))
            shape = (out_c, ho, wo)
            # conv1, bn1, relu, conv2, bn2 (+ projection conv and bn) before the output itself
            extra_activations = (5 + (2 if projection else 0)) * out_c * ho * wo
            rf = rf + 2 * jump  # type: ignore[operator]
            jump = jump * s  # type: ignore[operator]
            rf = rf + 2 * jump
        # activations and dropout keep the shape
        numel = 1
        for v in shape:
            numel *= v
        rows.append(LayerAnalysis(
            index=i, type=t, label=LAYER_TYPES[t].label, params=p, input_shape=in_shape, output_shape=shape,
            num_params=num_params, frozen=bool(p.get("frozen", False)), mult_adds=mult_adds,
            activation_elements=numel + extra_activations, receptive_field=rf, jump=jump, in_features=in_features))
    # Checked after the walk so that a shape problem in the layers so far is reported first.
    if last_linear is None:
        raise SpecError("the model has no Linear output layer; end it with Flatten (or GlobalAvgPool) "
                        "and a Linear layer")
    return rows


MAX_LAYERS = 500  # no course network comes near; a spec of a million layers is refused before it is walked


def check_bounds(spec: ModelSpec, limits=None) -> list[LayerAnalysis]:
    """The spec's analysis, after checking it fits the class's import limits (cnnkit.classroom.ImportLimits;
    None: the current cnnlab.toml's): layers, input size, channels, classes, and the parameter count computed
    from the spec, all before any tensor is allocated. SpecError names the limit and what to change."""
    if limits is None:
        from cnnkit.classroom.config import import_limits

        limits = import_limits()
    if len(spec.layers) > MAX_LAYERS:
        raise SpecError(f"the network has {len(spec.layers):,} layers, more than the {MAX_LAYERS} allowed")
    if len(spec.input_shape) == 3:
        c, h, w = spec.input_shape
        if max(h, w) > limits.max_input_size:
            raise SpecError(f"the input size {h}×{w} is over this server's limit of {limits.max_input_size} pixels "
                            f"a side (imports: max_input_size); use smaller images")
        if c > limits.max_input_channels:
            raise SpecError(f"the input has {c} channels, over this server's limit of {limits.max_input_channels}")
    if spec.num_classes > limits.max_classes:
        raise SpecError(f"{spec.num_classes:,} classes is over this server's limit of {limits.max_classes:,} "
                        "(imports: max_classes)")
    rows = analyze(spec)
    total = sum(row.num_params for row in rows)
    if total > limits.max_params:
        biggest = max(rows, key=lambda row: row.num_params)
        raise SpecError(f"the network has {total:,} parameters, over this server's limit of {limits.max_params:,} "
                        f"(imports: max_params); the largest is layer {biggest.index} ({biggest.label}, "
                        f"{biggest.num_params:,}): make it smaller", biggest.index)
    return rows


def validate(spec: ModelSpec) -> None:
    """Raise SpecError if the spec cannot be built; otherwise return None."""
    analyze(spec)


def check(spec: ModelSpec) -> str | None:
    """The error message, or None when the spec is valid (handy for pages)."""
    try:
        analyze(spec)
    except SpecError as exc:
        return str(exc)
    return None
