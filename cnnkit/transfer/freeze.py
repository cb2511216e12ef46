"""Freezing strategies for transfer learning: which blocks a backbone has, which train.

A backbone is described as an ordered list of named blocks (stem → … → last block) plus a
head (the classifier that gets replaced for the new dataset). Strategies then say which
blocks train:

- ``head``: feature extraction; everything frozen but the new head.
- ``last:N``: the head and the last N blocks train.
- ``full``: everything trains.

Frozen BatchNorm layers stay in eval mode (their running statistics are part of what was
learnt on ImageNet; updating them from a few small batches ruins the features), which is why
models get wrapped in :class:`TransferNet`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnkit.models.build import ParamCounts, count_params

BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass
class Block:
    name: str  # shown to students, e.g. "layer3" or "block 12"
    modules: list[str]  # dotted module names inside the model


@dataclass
class BackboneLayout:
    kind: str  # which rule found the blocks, e.g. "resnet"
    blocks: list[Block]
    head: str  # dotted name of the module holding the classifier

    @property
    def block_names(self) -> list[str]:
        return [b.name for b in self.blocks]


def _children(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    return [(f"{prefix}{name}", child) for name, child in module.named_children()]


def describe_backbone(model: nn.Module) -> BackboneLayout:
    """Find the blocks and the head of the backbones we support (and a generic fallback)."""
    if isinstance(model, TransferNet):
        inner = describe_backbone(model.net)
        return BackboneLayout(
            inner.kind,
            [Block(b.name, [f"net.{m}" for m in b.modules]) for b in inner.blocks],
            f"net.{inner.head}",
        )
    if hasattr(model, "_blocks") and hasattr(model, "_fc"):  # EfficientNet(-Lite) from PyPI
        blocks = [Block("stem", ["_conv_stem", "_bn0"])]
        blocks += [Block(f"block {i}", [f"_blocks.{i}"]) for i in range(len(model._blocks))]
        blocks.append(Block("head conv", ["_conv_head", "_bn1"]))
        return BackboneLayout("efficientnet_lite", blocks, "_fc")
    if hasattr(model, "layer4") and hasattr(model, "fc"):  # torchvision ResNet
        blocks = [Block("stem", ["conv1", "bn1"])]
        blocks += [Block(name, [name]) for name in ("layer1", "layer2", "layer3", "layer4")]
        return BackboneLayout("resnet", blocks, "fc")
    if hasattr(model, "Mixed_7c") and hasattr(model, "fc"):  # torchvision Inception-v3
        skip = {"fc", "AuxLogits", "avgpool", "dropout", "maxpool1", "maxpool2"}
        blocks = [Block(n, [n]) for n, _ in _children(model) if n not in skip]
        return BackboneLayout("inception", blocks, "fc")
    if hasattr(model, "features") and hasattr(model, "classifier"):
        features = list(_children(model.features, "features."))
        if any(isinstance(m, nn.MaxPool2d) for _, m in features):  # VGG: a block per stage
            blocks, current = [], []
            for name, module in features:
                current.append(name)
                if isinstance(module, nn.MaxPool2d):
                    blocks.append(Block(f"stage {len(blocks) + 1}", current))
                    current = []
            if current:
                blocks.append(Block(f"stage {len(blocks) + 1}", current))
            return BackboneLayout("vgg", blocks, "classifier")
        blocks = [Block(f"features {name.split('.')[-1]}", [name]) for name, _ in features]
        return BackboneLayout("features", blocks, "classifier")
    layers = getattr(model, "layers", None)
    if isinstance(layers, nn.Sequential):  # our spec-built networks: a block starts at each conv
        return _describe_sequential(layers, "layers.")
    if isinstance(model, nn.Sequential):
        return _describe_sequential(model, "")
    children = _children(model)
    if not children:
        raise ValueError("this model has no sub-modules to freeze or unfreeze")
    return BackboneLayout("generic", [Block(n, [n]) for n, _ in children[:-1]], children[-1][0])


def _describe_sequential(seq: nn.Sequential, prefix: str) -> BackboneLayout:
    items = _children(seq, prefix)
    linear_at = [i for i, (_, m) in enumerate(items) if isinstance(m, nn.Linear)]
    if not linear_at:
        raise ValueError("this network has no Linear output layer to replace")
    head_index = linear_at[-1]
    blocks: list[Block] = []
    for name, module in items[:head_index]:
        starts_block = any(isinstance(m, (nn.Conv2d, nn.Linear)) for m in module.modules())
        if starts_block or not blocks:
            kind = "conv" if any(isinstance(m, nn.Conv2d) for m in module.modules()) else type(module).__name__.lower()
            blocks.append(Block(f"{kind} {len(blocks) + 1} ({name})", [name]))
        else:
            blocks[-1].modules.append(name)
    return BackboneLayout("sequential", blocks, items[head_index][0])


def final_linear(model: nn.Module, head: str) -> tuple[str, nn.Linear]:
    head_module = model.get_submodule(head)
    if isinstance(head_module, nn.Linear):
        return head, head_module
    linears = [(f"{head}.{n}", m) for n, m in head_module.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"the head {head!r} has no Linear layer to replace")
    return linears[-1]


def replace_head(model: nn.Module, layout: BackboneLayout, num_classes: int, seed: int = 0) -> nn.Module:
    """Swap the classifier's last Linear for a new one with `num_classes` outputs (in place)."""
    name, old = final_linear(model, layout.head)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)
    return model


def parse_strategy(strategy: str, num_blocks: int) -> int:
    """How many backbone blocks train under `strategy`: 0 for head, all for full."""
    strategy = strategy.strip().lower()
    if strategy in ("head", "feature-extraction", "features"):
        return 0
    if strategy in ("full", "fine-tune", "finetune"):
        return num_blocks
    if strategy.startswith("last:"):
        try:
            n = int(strategy.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"strategy {strategy!r}: write last:N with N a whole number, e.g. last:2") from None
        if not 0 <= n <= num_blocks:
            raise ValueError(f"strategy {strategy!r}: this backbone has {num_blocks} blocks; choose N from 0 to {num_blocks}")
        return n
    raise ValueError(f"unknown strategy {strategy!r}; choose head, last:N, full or two-stage")


def apply_strategy(model: nn.Module, layout: BackboneLayout, strategy: str) -> ParamCounts:
    """Set requires_grad for `strategy` (head / last:N / full) and return the counts."""
    n_trainable = parse_strategy(strategy, len(layout.blocks))
    for p in model.parameters():
        p.requires_grad_(False)
    trainable_modules = [layout.head]
    if n_trainable:
        for block in layout.blocks[-n_trainable:]:
            trainable_modules += block.modules
    for name in trainable_modules:
        for p in model.get_submodule(name).parameters():
            p.requires_grad_(True)
    if n_trainable == len(layout.blocks):  # full: also anything outside the listed blocks
        for p in model.parameters():
            p.requires_grad_(True)
    return count_params(model)


def param_groups(model: nn.Module, layout: BackboneLayout, backbone_lr: float, head_lr: float) -> list[dict]:
    """Optimizer parameter groups: the head at `head_lr`, every other trainable at `backbone_lr`."""
    head_ids = {id(p) for p in model.get_submodule(layout.head).parameters()}
    head = [p for p in model.parameters() if p.requires_grad and id(p) in head_ids]
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    groups = [{"params": head, "lr": head_lr, "name": "head"}]
    if backbone:
        groups.insert(0, {"params": backbone, "lr": backbone_lr, "name": "backbone"})
    return groups


class TransferNet(nn.Module):
    """Wraps a backbone so that `.train()` keeps frozen BatchNorm layers in eval mode."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def train(self, mode: bool = True) -> "TransferNet":
        super().train(mode)
        if mode:
            for module in self.net.modules():
                if isinstance(module, BATCHNORM_TYPES):
                    params = list(module.parameters(recurse=False))
                    if params and not any(p.requires_grad for p in params):
                        module.eval()
        return self
