"""Export a saved run's network to ONNX and check it against PyTorch with onnxruntime.

The file has a dynamic batch dimension (input "image": N × C × H × W float32, output "logits": N ×
classes) and carries what a program needs to feed it in its metadata_props: classes, mean, std,
input shape and the normalisation formula. `export_run_onnx` reports the largest absolute logit
difference between onnxruntime and PyTorch on a few images.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from cnnkit import store
from cnnkit.fileio import read_json, to_jsonable, write_export

OPSET = 18
INPUT_NAME, OUTPUT_NAME = "image", "logits"


class OnnxExportError(ValueError):
    """The network cannot be written as ONNX; the message names the layer when one is to blame."""


@dataclass
class OnnxExport:
    data: bytes                          # the .onnx file
    max_abs_diff: float                  # largest |onnxruntime logit - PyTorch logit| on the check images
    checked_images: int
    agreement: float                     # share of check images with the same top class
    input_shape: list[int]
    metadata: dict = field(default_factory=dict)
    path: Optional[str] = None

    def summary(self) -> dict:
        return to_jsonable({"path": self.path, "bytes": len(self.data), "max_abs_logit_diff": self.max_abs_diff,
                            "checked_images": self.checked_images, "top1_agreement": self.agreement,
                            "input_shape": self.input_shape, "dynamic_batch": True, "opset": OPSET,
                            "metadata": self.metadata})


def onnx_metadata(loaded: store.LoadedRun) -> dict[str, str]:
    c, h, w = loaded.input_shape
    return {
        "cnnkit.format": "cnnkit-run-onnx/1",
        "classes": json.dumps(loaded.classes),
        "input_shape": json.dumps([c, h, w]),
        "mean": json.dumps(loaded.mean),
        "std": json.dumps(loaded.std),
        "normalisation": (f"input '{INPUT_NAME}': float32 (N, {c}, {h}, {w}); {'grey' if c == 1 else 'RGB'} pixels "
                          "scaled to [0, 1], then (x - mean[c]) / std[c] per channel; output "
                          f"'{OUTPUT_NAME}': one logit per class in the order of 'classes'"),
        "model_name": str((read_json(loaded.run_dir / "run.json", {}) or {}).get("model_name", "")),
        "dataset": loaded.dataset,
        "run_id": loaded.run_dir.name,
    }


def _first_failing_layer(model: nn.Module, sample: torch.Tensor) -> Optional[str]:
    """'name (Type)' of the first leaf layer that does not export on its own input, if any."""
    inputs: dict[str, tuple] = {}

    def keep_input(name: str):
        def hook(module, args, output) -> None:  # returns None: a forward hook's return value replaces the output
            inputs.setdefault(name, args)
        return hook

    hooks = [module.register_forward_hook(keep_input(name)) for name, module in model.named_modules()
             if name and not list(module.children())]
    try:
        with torch.no_grad():
            model(sample)
    except Exception:
        pass
    finally:
        for hook in hooks:
            hook.remove()
    for name, args in inputs.items():
        module = model.get_submodule(name)
        try:
            _export(module, args, dynamic=False)
        except Exception:
            return f"{name} ({type(module).__name__})"
    return None


def _reason(error: Exception) -> str:
    """The exporter's own cause in one line (its message is pages long, with colour codes)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    causes = re.findall(r"^<class '[^']+'>: (.+)$", text, re.M)
    line = causes[0] if causes else (text.strip().splitlines() or [type(error).__name__])[0]
    return line.strip()[:300]


def _export(model: nn.Module, args: tuple, dynamic: bool = True):
    dynamic_shapes = ({"x": {0: torch.export.Dim("batch", min=1, max=4096)}} if dynamic else None)
    if dynamic:
        # dynamic_shapes names the forward's argument; models here take one input, whatever it is called
        import inspect

        first = next(iter(inspect.signature(model.forward).parameters))
        dynamic_shapes = {first: dynamic_shapes["x"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        return torch.onnx.export(model, args, dynamo=True, opset_version=OPSET, input_names=[INPUT_NAME],
                                 output_names=[OUTPUT_NAME], dynamic_shapes=dynamic_shapes, external_data=False,
                                 verbose=False, report=False, optimize=True)


def model_to_onnx(model: nn.Module, input_shape: tuple[int, int, int], metadata: dict[str, str]) -> bytes:
    """The .onnx bytes of an eval-mode CPU model; OnnxExportError naming the layer it stops at."""
    model = model.cpu().eval()
    sample = torch.zeros(2, *input_shape)  # batch 2, so the exporter never specialises the batch to 1
    try:
        program = _export(model, (sample,))
    except Exception as error:
        layer = _first_failing_layer(model, sample)
        reason = _reason(error)
        where = f"layer {layer} cannot be exported to ONNX" if layer else "the network cannot be exported to ONNX"
        raise OnnxExportError(f"{where} ({reason}); replace that layer with standard ones "
                              "(conv, pooling, batch norm, activations, linear) or use the run zip instead") from None
    proto = program.model_proto
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "cnnkit"
    return proto.SerializeToString()


def check_onnx(data: bytes, model: nn.Module, inputs: torch.Tensor) -> tuple[float, float]:
    """(max |logit difference|, top-1 agreement) between onnxruntime on `data` and `model` on `inputs`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    ort_logits = session.run([OUTPUT_NAME], {INPUT_NAME: inputs.detach().cpu().float().numpy()})[0]
    with torch.no_grad():
        torch_logits = model.cpu().eval()(inputs.cpu().float())
    ort_tensor = torch.from_numpy(ort_logits)
    diff = float((ort_tensor - torch_logits).abs().max())
    agreement = float((ort_tensor.argmax(1) == torch_logits.argmax(1)).float().mean())
    return diff, agreement


def check_images(loaded: store.LoadedRun, count: int = 4, seed: int = 0) -> torch.Tensor:
    """`count` random uint8 images through the run's own preprocessing (the network's real input range)."""
    generator = torch.Generator().manual_seed(seed)
    c, h, w = loaded.input_shape
    pixels = torch.randint(0, 256, (count, c, h, w), generator=generator, dtype=torch.uint8)
    return loaded.preprocess(pixels).cpu()


def export_run_onnx(run: str | Path, out: Optional[str | Path] = None, images: Optional[torch.Tensor] = None,
                    check_count: int = 4) -> OnnxExport:
    """Export a saved run's best weights to ONNX (written to `out` when given), checked with onnxruntime.

    images: uint8 (N, C, H, W) to check on; None = `check_count` random images."""
    import cnnkit.transfer  # noqa: F401  registers the "transfer" model kind, so transfer runs load

    loaded = store.load_run_model(run, device="cpu")
    metadata = onnx_metadata(loaded)
    data = model_to_onnx(loaded.model, loaded.input_shape, metadata)
    inputs = loaded.preprocess(images).cpu() if images is not None else check_images(loaded, check_count)
    diff, agreement = check_onnx(data, loaded.model, inputs)
    if out is not None:
        write_export(Path(out), data)
    return OnnxExport(data=data, max_abs_diff=diff, checked_images=int(inputs.shape[0]), agreement=agreement,
                      input_shape=list(loaded.input_shape), metadata=metadata, path=str(out) if out else None)
