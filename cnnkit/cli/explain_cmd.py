"""`python -m cnnkit gradcam MODEL IMAGE ...`: predictions and an attribution map for one image."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from cnnkit.cli.common import print_json, progress

METHOD_NAMES = ["gradcam", "guided_gradcam", "integrated_gradients", "saliency", "occlusion"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gradcam", help="top-k predictions and a Grad-CAM (or other attribution) map for one image",
        description="MODEL is a run folder (or run id in the checkpoint dir) or a pretrained name "
                    "(efficientnet_lite0 works offline; resnet18, resnet50, mobilenet_v2, efficientnet_b0, "
                    "vgg16 when their weights are cached or downloadable).")
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("image", metavar="IMAGE", help="any image file PIL can read")
    parser.add_argument("--layer", default=None, help="conv layer's dotted name (default: last conv layer with >= 4x4 output)")
    parser.add_argument("--target", default=None, help="class index or name (default: the predicted class)")
    parser.add_argument("--method", default="gradcam", choices=METHOD_NAMES)
    parser.add_argument("--top-k", type=int, default=5, dest="top_k")
    parser.add_argument("--out", default=None, help="write the overlay as an image (PNG/JPEG)")
    parser.add_argument("--opacity", type=float, default=0.5, help="heatmap opacity in the overlay, 0..1")
    parser.add_argument("--save-map", default=None, dest="save_map", help="write the [0, 1] map (.npy) at the model's input size")
    parser.add_argument("--which", default="best", choices=["best", "last"], help="checkpoint of a run folder")
    parser.add_argument("--sanity", action="store_true", help="also run the weight-randomisation sanity check")
    parser.add_argument("--list-layers", action="store_true", dest="list_layers", help="include every conv layer and its output size")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    parser.set_defaults(func=run_gradcam)


def run_gradcam(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from cnnkit.explain import conv_layers, explain, load_explainable, load_image, overlay, randomization_check, top_k

    from cnnkit.fileio import check_export_target, write_export

    if not 0.0 <= args.opacity <= 1.0:
        raise ValueError(f"--opacity must be between 0 and 1, got {args.opacity}")
    for target in (args.out, args.save_map):   # a wrong place is refused before the work, in the export's words
        if target:
            check_export_target(Path(target))
    image = load_image(args.image)
    if not args.json:
        progress(f"loading {args.model}")
    model = load_explainable(args.model, which=args.which, progress=lambda f, m: progress(m))
    x = model.preprocess(image)
    predictions = top_k(model.model, x, model.classes, k=args.top_k)
    attribution = explain(model.model, x, method=args.method, layer_name=args.layer, target=args.target,
                          classes=model.classes)
    result: dict = {
        "model": model.name,
        "top_k": predictions,
        "target": attribution.target,
        "target_class": model.classes[attribution.target] if attribution.target < len(model.classes) else str(attribution.target),
        "method": attribution.method,
        "layer": attribution.layer,
        "layer_reason": attribution.reason or None,
        "seconds": round(attribution.seconds, 4),
        "map_shape": list(attribution.map.shape),
    }
    if args.list_layers:
        result["layers"] = [{"name": l.name, "kind": l.kind, "output_shape": list(l.output_shape)}
                            for l in conv_layers(model.model, x)]
    if args.sanity:
        check = randomization_check(model.model, x, layer=attribution.layer, target=attribution.target, method=args.method)
        result["sanity_rho"] = round(check.spearman_rho, 4)
    if args.out:
        picture = overlay(model.display_image(image), attribution.map, opacity=args.opacity)
        buffer = io.BytesIO()
        out = Path(args.out)
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(out.suffix.lower(), "PNG")
        Image.fromarray(picture).save(buffer, format=fmt)
        write_export(out, buffer.getvalue())
        result["out"] = str(out)
    if args.save_map:
        buffer = io.BytesIO()
        np.save(buffer, attribution.map.astype(np.float32))
        write_export(Path(args.save_map), buffer.getvalue())
        result["map"] = str(args.save_map)
    if args.json:
        print_json(result)
    else:
        for row in predictions:
            print(f"{row['probability']:7.2%}  {row['class']} ({row['index']})")
        where = f" at {attribution.layer}" if attribution.layer else ""
        print(f"{attribution.method} for class {result['target_class']}{where} in {attribution.seconds:.3f} s")
        if attribution.reason:
            print(f"layer: {attribution.reason}")
        if "sanity_rho" in result:
            print(f"sanity check: rank correlation with a randomised model = {result['sanity_rho']}")
        for key in ("out", "map"):
            if key in result:
                print(f"wrote {result[key]}")
    return 0
