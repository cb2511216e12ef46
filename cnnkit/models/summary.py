"""Per-layer summary: output shape, parameters, receptive field, multiply-adds, activation memory."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cnnkit.models.spec import ModelSpec
from cnnkit.models.validate import LayerAnalysis, analyze

BYTES_PER_VALUE = 4  # float32


@dataclass
class SummaryRow:
    index: int
    name: str  # module name in the built model, e.g. "layers.3"
    type: str  # label, e.g. "Conv2d"
    details: str  # e.g. "3×3, 32 filters, pad 1"
    output_shape: list[int]
    params: int
    trainable_params: int
    frozen_params: int
    receptive_field: int | None  # side in input pixels; None after flattening (sees the whole input)
    mult_adds: int
    activation_bytes: int


@dataclass
class ModelSummary:
    name: str
    input_shape: list[int]
    output_shape: list[int]
    rows: list[SummaryRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    frozen_params: int = 0
    mult_adds: int = 0  # conv and Linear multiply-adds for one image (bias, BN, pooling not counted)
    activation_bytes: int = 0  # float32 input + every layer's outputs (incl. inside residual blocks), one image

    def to_dict(self) -> dict:
        return asdict(self)


def _details(row: LayerAnalysis) -> str:
    p, t = row.params, row.type
    if t == "conv2d":
        pad = p["padding"]
        parts = [f"{p['kernel_size']}×{p['kernel_size']}", f"{p['out_channels']} filters"]
        if p["stride"] != 1:
            parts.append(f"stride {p['stride']}")
        if pad:
            parts.append(f"pad {pad}")
        if p["dilation"] != 1:
            parts.append(f"dilation {p['dilation']}")
        if p["groups"] != 1:
            parts.append(f"groups {p['groups']}")
        if not p["bias"]:
            parts.append("no bias")
        text = ", ".join(parts)
    elif t in ("maxpool2d", "avgpool2d"):
        s = p["stride"] or p["kernel_size"]
        text = f"{p['kernel_size']}×{p['kernel_size']}" + (f", stride {s}" if s != p["kernel_size"] else "")
        text += f", pad {p['padding']}" if p["padding"] else ""
    elif t in ("dropout", "dropout2d"):
        text = f"p={p['p']:g}"
    elif t == "linear":
        text = f"{row.in_features} → {p['out_features']}"
    elif t == "residual":
        text = f"2× 3×3, {p['out_channels']} ch" + (f", stride {p['stride']}" if p["stride"] != 1 else "")
    elif t == "leakyrelu":
        text = f"slope {p['negative_slope']:g}"
    else:
        text = ""
    if p.get("frozen"):
        text = (text + ", frozen") if text else "frozen"
    return text


def summarize(spec: ModelSpec) -> ModelSummary:
    """The summary of a valid spec; raises SpecError (naming the layer) for one that cannot run."""
    analysed = analyze(spec)
    input_values = 1
    for v in spec.input_shape:
        input_values *= v
    rows = []
    for a in analysed:
        frozen = a.num_params if a.frozen else 0
        rows.append(SummaryRow(
            index=a.index, name=f"layers.{a.index}", type=a.label, details=_details(a),
            output_shape=list(a.output_shape), params=a.num_params, trainable_params=a.num_params - frozen,
            frozen_params=frozen, receptive_field=a.receptive_field, mult_adds=a.mult_adds,
            activation_bytes=a.activation_elements * BYTES_PER_VALUE))
    return ModelSummary(
        name=spec.name, input_shape=list(spec.input_shape),
        output_shape=list(analysed[-1].output_shape) if analysed else list(spec.input_shape), rows=rows,
        total_params=sum(r.params for r in rows), trainable_params=sum(r.trainable_params for r in rows),
        frozen_params=sum(r.frozen_params for r in rows), mult_adds=sum(r.mult_adds for r in rows),
        activation_bytes=input_values * BYTES_PER_VALUE + sum(r.activation_bytes for r in rows))


def format_shape(shape: list[int] | tuple[int, ...]) -> str:
    return "×".join(str(v) for v in shape)


def summary_table(summary: ModelSummary) -> list[dict]:
    """Rows ready for a DataFrame or a text table (shapes as text, receptive field "all" when flat)."""
    return [{"#": r.index, "name": r.name, "layer": r.type, "details": r.details,
             "output": format_shape(r.output_shape), "params": r.params, "frozen": r.frozen_params,
             "receptive field": "all" if r.receptive_field is None else f"{r.receptive_field}×{r.receptive_field}",
             "mult-adds": r.mult_adds, "activations (KB)": round(r.activation_bytes / 1024, 1)}
            for r in summary.rows]


def format_summary(summary: ModelSummary) -> str:
    """A plain-text table for the CLI."""
    table = summary_table(summary)
    headers = list(table[0]) if table else ["#"]
    cols = {h: [str(h)] + [f"{row[h]:,}" if isinstance(row[h], int) else str(row[h]) for row in table]
            for h in headers}
    widths = {h: max(len(v) for v in cols[h]) for h in headers}
    lines = ["  ".join(cols[h][i].rjust(widths[h]) if i and isinstance(table[i - 1][h], (int, float))
                       else cols[h][i].ljust(widths[h]) for h in headers)
             for i in range(len(table) + 1)]
    lines.append("")
    lines.append(f"input {format_shape(summary.input_shape)} → output {format_shape(summary.output_shape)}")
    lines.append(f"parameters: {summary.total_params:,} (trainable {summary.trainable_params:,}, "
                 f"frozen {summary.frozen_params:,})")
    lines.append(f"multiply-adds: {summary.mult_adds:,}; activations for one image: "
                 f"{summary.activation_bytes / 1024 ** 2:.2f} MiB")
    return "\n".join(lines)
