"""Plain-PyTorch source for a saved run's network, so a downloaded run loads without CNN Lab.

Spec models use the builder's exporter (cnnkit.models.export_code). Transfer runs get a small
wrapper around their backbone's constructor (efficientnet-lite-pytorch or torchvision) with the
new head swapped in under the same name, so the run's state_dict (keys `net.*`) loads as is.
Every generated file defines `build_model()` returning the untrained network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnkit.models import ModelSpec
from cnnkit.models.export import export_class_name, export_code
from cnnkit.models.pretrained import PRETRAINED


class ModelCodeError(ValueError):
    """The run's network has no plain-PyTorch export (the message says why)."""


@dataclass
class ModelCode:
    source: str                                         # the text of model.py
    requirements: list[str] = field(default_factory=list)  # pip lines beyond torch
    note: str = ""                                      # one line for the README


def _spec_code(spec_dict: dict, num_classes: int) -> str:
    spec = ModelSpec.from_dict(spec_dict)
    return (export_code(spec).split('\nif __name__ == "__main__":')[0].rstrip() + "\n\n\n"
            f"def build_model() -> nn.Module:\n    return {export_class_name(spec)}(num_classes={num_classes})\n")


def _backbone_code(record: dict) -> tuple[str, list[str], str]:
    """(code defining make_backbone(), pip requirements, README note) for a transfer record's source."""
    if record.get("source_kind") == "pretrained":
        arch = record.get("arch") or record.get("source")
        entry = PRETRAINED.get(arch)
        if entry is None:
            raise ModelCodeError(f"this transfer run was built on {arch!r}, which this version does not know")
        if entry.source == "bundled":
            return ("from efficientnet_lite_pytorch import EfficientNet\n\n\n"
                    "def make_backbone() -> nn.Module:\n"
                    '    return EfficientNet.from_name("efficientnet-lite0")\n',
                    ["efficientnet-lite-pytorch==0.1.0"],
                    "the backbone is EfficientNet-Lite0 from the efficientnet-lite-pytorch package "
                    "(`pip install efficientnet-lite-pytorch==0.1.0`); its ImageNet weights are not needed, "
                    "weights.pt holds every weight of this model")
        return ("import torchvision.models as tvm\n\n\n"
                "def make_backbone() -> nn.Module:\n"
                f"    return tvm.{entry.builder}(weights=None)\n",
                ["torchvision"], f"the backbone is torchvision's {entry.builder} (`pip install torchvision`)")
    base = record.get("base_record") or {}
    if base.get("kind", "spec") != "spec":
        raise ModelCodeError("this transfer run starts from another transfer run; its code cannot be written "
                             "as one plain file (load it with cnnkit instead)")
    base_code = _spec_code(base["spec"], int(record["base_num_classes"]))
    body = base_code.replace("def build_model() -> nn.Module:", "def make_backbone() -> nn.Module:")
    # the spec file starts with its own docstring and imports; keep everything after the imports
    body = body.split("from torch import nn\n", 1)[1]
    return body, [], f"the backbone is your own run {record.get('base_run', '')} (its code is included)"


def _head_name(record: dict, input_shape: tuple[int, int, int], num_classes: int) -> str:
    """Dotted name (inside `net`) of the Linear layer the transfer run replaced."""
    from cnnkit.models import rebuild_model
    from cnnkit.transfer.freeze import final_linear, describe_backbone

    model = rebuild_model(record, input_shape, num_classes)
    net = model.net
    return final_linear(net, describe_backbone(net).head)[0]


def transfer_code(record: dict, input_shape: tuple[int, int, int], num_classes: int) -> ModelCode:
    backbone, requirements, note = _backbone_code(record)
    head = _head_name(record, input_shape, num_classes)
    parent, _, attr = head.rpartition(".")
    try:
        in_channels = int(record.get("in_channels", 3))
        c, h, w = (int(v) for v in input_shape)
        num_classes = int(num_classes)
    except (TypeError, ValueError) as error:
        raise ModelCodeError(f"this run's record has a size that is not a whole number ({error})") from None
    # Only literals: the record's free text (source, strategy) appears as repr() string values, never in the
    # docstring or as code, so a planted record cannot put code into model.py.
    source = f'''"""Transfer-learning network exported from CNN Lab: SOURCE (below) with a new {num_classes}-class
head, trained with STRATEGY. Input: {c}×{h}×{w} images; output: class scores (logits).
"""

import torch
from torch import nn

SOURCE = {str(record.get("source", ""))!r}
STRATEGY = {str(record.get("strategy", ""))!r}

{backbone.strip()}


class TransferModel(nn.Module):
    def __init__(self, num_classes: int = {num_classes}) -> None:
        super().__init__()
        self.in_channels = {in_channels}
        self.net = make_backbone()
        parent = self.net.get_submodule({parent!r}) if {parent!r} else self.net
        old = getattr(parent, {attr!r})
        setattr(parent, {attr!r}, nn.Linear(old.in_features, num_classes, bias=old.bias is not None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # grey images are repeated to the backbone's channels, colour ones averaged for a grey backbone
        if x.shape[1] != self.in_channels:
            x = x.expand(-1, self.in_channels, -1, -1) if x.shape[1] == 1 else x.mean(dim=1, keepdim=True)
        return self.net(x)


def build_model() -> nn.Module:
    return TransferModel()
'''
    return ModelCode(source, requirements, note)


def model_code(record: dict, input_shape: tuple[int, int, int], num_classes: int) -> ModelCode:
    """model.py for a run's model record (see the module docstring); ModelCodeError if there is none."""
    kind = record.get("kind", "spec")
    if kind == "spec":
        return ModelCode(_spec_code(record["spec"], num_classes), [], "")
    if kind == "transfer":
        return transfer_code(record, input_shape, num_classes)
    raise ModelCodeError(f"runs of kind {kind!r} have no plain-PyTorch export; load them with cnnkit")
