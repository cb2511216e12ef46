"""Export a spec as a self-contained PyTorch source file.

The generated module has the same layer names ("layers.0", ...) as build_model's, so a
state_dict saved by CNN Lab loads into it.
"""

from __future__ import annotations

import inspect
import re

from cnnkit.models import layers as custom_layers
from cnnkit.models.spec import ModelSpec
from cnnkit.models.summary import format_shape
from cnnkit.models.validate import LayerAnalysis, analyze


def export_class_name(spec: ModelSpec) -> str:
    """CamelCase class name from the spec name ("cnn4_gap" → "Cnn4Gap"); "Net" if nothing usable."""
    parts = [p for p in re.split(r"[^0-9a-zA-Z]+", spec.name) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts)
    if not name or not name[0].isalpha():
        name = "Net" + name
    return name


def _layer_code(row: LayerAnalysis, last_linear: bool) -> str:
    p, t = row.params, row.type
    if t == "conv2d":
        args = [str(row.input_shape[0]), str(p["out_channels"]), f"kernel_size={p['kernel_size']}"]
        if p["stride"] != 1:
            args.append(f"stride={p['stride']}")
        if p["padding"] != 0:
            args.append(f"padding={p['padding']!r}")
        if p["dilation"] != 1:
            args.append(f"dilation={p['dilation']}")
        if p["groups"] != 1:
            args.append(f"groups={p['groups']}")
        if not p["bias"]:
            args.append("bias=False")
        return f"nn.Conv2d({', '.join(args)})"
    if t in ("maxpool2d", "avgpool2d"):
        cls = "MaxPool2d" if t == "maxpool2d" else "AvgPool2d"
        args = [f"kernel_size={p['kernel_size']}", f"stride={p['stride'] or p['kernel_size']}"]
        if p["padding"]:
            args.append(f"padding={p['padding']}")
        return f"nn.{cls}({', '.join(args)})"
    simple = {"batchnorm2d": f"nn.BatchNorm2d({row.input_shape[0]})",
              "batchnorm1d": f"nn.BatchNorm1d({row.input_shape[0]})",
              "relu": "nn.ReLU()", "gelu": "nn.GELU()", "sigmoid": "nn.Sigmoid()", "tanh": "nn.Tanh()",
              "flatten": "nn.Flatten()", "global_avg_pool": "GlobalAvgPool()"}
    if t in simple:
        return simple[t]
    if t == "dropout":
        return f"nn.Dropout(p={p['p']!r})"
    if t == "dropout2d":
        return f"nn.Dropout2d(p={p['p']!r})"
    if t == "leakyrelu":
        return f"nn.LeakyReLU(negative_slope={p['negative_slope']!r})"
    if t == "elu":
        return f"nn.ELU(alpha={p['alpha']!r})"
    if t == "linear":
        out = "num_classes" if last_linear else str(p["out_features"])
        return f"nn.Linear({row.in_features}, {out}" + (", bias=False)" if not p["bias"] else ")")
    if t == "residual":
        return f"ResidualBlock({row.input_shape[0]}, {p['out_channels']}, stride={p['stride']})"
    raise AssertionError(f"unhandled layer type {t}")


def export_code(spec: ModelSpec) -> str:
    """Python source defining an nn.Module equivalent to build_model(spec); raises SpecError if invalid."""
    rows = analyze(spec)
    class_name = export_class_name(spec)
    last_linear = max(r.index for r in rows if r.type == "linear")
    used = {r.type for r in rows}
    helpers = []
    if "global_avg_pool" in used:
        helpers.append(inspect.getsource(custom_layers.GlobalAvgPool))
    if "residual" in used:
        helpers.append(inspect.getsource(custom_layers.ResidualBlock))
    c, h, w = spec.input_shape
    # Generated code holds only literals: free text (the spec's name and description, which a downloaded or
    # imported run may carry) appears only as repr() string values, never inside the docstring or code.
    lines = [
        '"""A network exported from CNN Lab (its name and description are NAME and DESCRIPTION below).',
        "",
        f"Input: {int(c)}×{int(h)}×{int(w)} images; output: {int(spec.num_classes)} class scores (logits).",
        '"""',
        "",
        "import torch",
        "from torch import nn",
        "",
        f"NAME = {str(spec.name)!r}",
        f"DESCRIPTION = {str(spec.description or 'A network built in the CNN Lab architecture builder.')!r}",
        "",
    ]
    for src in helpers:
        lines += ["", src.rstrip(), ""]
    lines += [
        "",
        f"class {class_name}(nn.Module):",
        f"    def __init__(self, num_classes: int = {spec.num_classes}) -> None:",
        "        super().__init__()",
        "        self.layers = nn.Sequential(",
    ]
    for r in rows:
        lines.append(f"            {_layer_code(r, r.index == last_linear)},  # {r.index}: "
                     f"-> {format_shape(r.output_shape)}")
    lines.append("        )")
    frozen = [r.index for r in rows if r.frozen and r.num_params]
    if frozen:
        lines.append(f"        for index in {frozen}:  # frozen layers: weights stay fixed during training")
        lines.append("            for param in self.layers[index].parameters():")
        lines.append("                param.requires_grad_(False)")
    lines += [
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        "        return self.layers(x)",
        "",
        "",
        'if __name__ == "__main__":',
        f"    model = {class_name}()",
        f"    x = torch.zeros(1, {c}, {h}, {w})",
        '    print("output shape:", tuple(model(x).shape))',
        '    print("parameters:", sum(p.numel() for p in model.parameters()))',
        "",
    ]
    return "\n".join(lines)
