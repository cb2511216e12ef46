"""`python -m cnnkit inspect ...` and `conv-arith ...`: every layer's output for one image, and the
arithmetic of one output value."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnkit.cli.common import print_json, progress

MODEL_HELP = ("a run folder (or run id in the checkpoint dir), a preset with random weights (preset:cnn3 or cnn3), "
              "or a pretrained name (efficientnet_lite0 works offline)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("inspect", help="every layer's output shape and statistics for one image",
                                   description=f"MODEL is {MODEL_HELP}.")
    parser.add_argument("model", metavar="RUN_OR_MODEL")
    parser.add_argument("image", metavar="IMAGE", help="any image file PIL can read")
    parser.add_argument("--layer", default=None, help="the layer whose channels --out draws (default: the first conv)")
    parser.add_argument("--out", default=None, help="write the chosen layer's channel grid as a PNG")
    parser.add_argument("--page", type=int, default=0, help="page of the channel grid (256 channels a page)")
    parser.add_argument("--top-k", type=int, default=5, dest="top_k")
    parser.add_argument("--which", default="best", choices=["best", "last"], help="checkpoint of a run folder")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    parser.set_defaults(func=run_inspect)

    arith = subparsers.add_parser("conv-arith", help="how one output value of a layer is computed",
                                  description=f"MODEL is {MODEL_HELP}. Conv, pooling, ReLU and BatchNorm2d layers "
                                              "have a breakdown; other layers are explained.")
    arith.add_argument("model", metavar="RUN_OR_MODEL")
    arith.add_argument("image", metavar="IMAGE")
    arith.add_argument("--layer", required=True, help="the layer's dotted name (see `inspect --json`)")
    arith.add_argument("--at", required=True, help="output position C,Y,X")
    arith.add_argument("--which", default="best", choices=["best", "last"])
    arith.add_argument("--json", action="store_true")
    arith.set_defaults(func=run_conv_arith)


def _load(args: argparse.Namespace):
    from cnnkit.explain import load_image
    from cnnkit.inspect import load_inspectable

    image = load_image(args.image)
    if not args.json:
        progress(f"loading {args.model}")
    model = load_inspectable(args.model, which=args.which)
    return model, model.preprocess(image)


def run_inspect(args: argparse.Namespace) -> int:
    import io

    from PIL import Image

    from cnnkit.explain import top_k
    from cnnkit.fileio import check_export_target, write_export
    from cnnkit.inspect import capture_activations, channel_grid, layer_table

    if args.out:
        check_export_target(Path(args.out))   # a wrong place is refused before the work, in the export's words
    model, x = _load(args)
    acts = capture_activations(model.model, x)
    maps = acts.maps()
    layer = acts.get(args.layer) if args.layer else (maps[0] if maps else None)
    result: dict = {"model": model.name, "input_shape": list(acts.input_shape), "layers": layer_table(acts),
                    "top_k": top_k(model.model, x, model.classes, k=args.top_k),
                    "activation_mib": round(acts.nbytes / 2 ** 20, 2)}
    if args.out:
        if layer is None or not layer.is_map:
            raise ValueError(f"{args.layer or 'this model'} has no C×H×W maps to draw; pick a conv or pooling layer")
        grid = channel_grid(layer.values, page=args.page)
        buffer = io.BytesIO()
        Image.fromarray(grid.image).save(buffer, format="PNG")
        write_export(Path(args.out), buffer.getvalue())
        result.update(out=str(args.out), grid_layer=layer.name, grid_channels=grid.channels,
                      grid_range=list(grid.value_range), grid_pages=grid.pages)
    if args.json:
        print_json(result)
        return 0
    for row in result["layers"]:
        shape = "×".join(map(str, row["shape"]))
        print(f"{row['layer']:<32} {row['kind']:<14} {shape:<14} mean {row['mean']:9.4f}  "
              f"min {row['min']:9.4f}  max {row['max']:9.4f}  zeros {row['zero_fraction']:.0%}")
    for row in result["top_k"]:
        print(f"{row['probability']:7.2%}  {row['class']} ({row['index']})")
    if args.out:
        print(f"wrote {args.out} ({result['grid_layer']}, value range {grid.value_range[0]:.3g}..{grid.value_range[1]:.3g})")
    return 0


def parse_position(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--at must be whole numbers separated by commas, e.g. 0,3,4 (got {text!r})") from None


def run_conv_arith(args: argparse.Namespace) -> int:
    from cnnkit.inspect import breakdown_at

    at = parse_position(args.at)
    model, x = _load(args)
    b = breakdown_at(model.model, x, args.layer, at)
    result = {"layer": b.layer, "kind": b.kind, "at": list(b.at), "formula": b.formula, "value": b.value,
              "framework_value": b.framework_value, "matches": b.matches, "bias": b.bias, "terms": b.terms,
              "inputs": b.inputs, "weights": b.weights, "products": b.products, "rows": b.rows, "cols": b.cols}
    if args.json:
        print_json(result)
        return 0
    print(f"{b.layer} at {','.join(map(str, b.at))}: {b.formula}")
    for name, value in b.terms.items():
        print(f"  {name} = {value:.6g}")
    print(f"  = {b.value:.6g} (the network computed {b.framework_value:.6g}{'' if b.matches else ' — MISMATCH'})")
    return 0
