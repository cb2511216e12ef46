"""The trainer's "transfer" model kind: a pretrained (or our own saved) network with a new head.

A training config's model is then a dict such as::

    {"kind": "transfer", "source": "efficientnet_lite0",     # or a saved run's folder / id
     "strategy": "head" | "last:N" | "full" | "two-stage",
     "head_epochs": 2,            # two-stage: epochs with only the head training
     "unfreeze": "full",          # two-stage: what trains after that ("full" or "last:N")
     "unfreeze_lr_factor": 10,    # two-stage: every learning rate is divided by this when unfreezing
     "backbone_lr_factor": 0.1,   # backbone lr = lr × this (the head trains at lr)
     "image_size": 96}            # network input size; None = the dataset's (pretrained) / the run's (ours)

`build_transfer_bundle` loads the weights, swaps the classifier's last Linear, freezes blocks
and hands the trainer parameter groups and the two-stage hook. Its `record` describes the
architecture only, so `rebuild_transfer_model` rebuilds the same network (same state_dict keys)
without the pretrained weights file or the source run: the run's own weights are loaded after.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from cnnkit.transfer.freeze import (
    BackboneLayout, ParamCounts, TransferNet, apply_strategy, describe_backbone, parse_strategy,
    replace_head,
)
from cnnkit.models import ModelBundle, ModelKind, rebuild_model, register_model_kind
from cnnkit.models.pretrained import PRETRAINED, load_pretrained

STRATEGIES = ("head", "last:N", "full", "two-stage")
DEFAULT_HEAD_EPOCHS = 1
DEFAULT_UNFREEZE_LR_FACTOR = 10.0
DEFAULT_BACKBONE_LR_FACTOR = 1.0


@dataclass
class TransferSettings:
    """A validated transfer model dict (what the page and the CLI fill in)."""

    source: str
    strategy: str = "head"
    head_epochs: int = DEFAULT_HEAD_EPOCHS
    unfreeze: str = "full"
    unfreeze_lr_factor: float = DEFAULT_UNFREEZE_LR_FACTOR
    backbone_lr_factor: float = DEFAULT_BACKBONE_LR_FACTOR
    image_size: Optional[int] = None

    @classmethod
    def from_dict(cls, model_dict: dict) -> "TransferSettings":
        known = {"kind", "source", "strategy", "head_epochs", "unfreeze", "unfreeze_lr_factor",
                 "backbone_lr_factor", "image_size", "name"}
        unknown = sorted(set(model_dict) - known)
        if unknown:
            raise ValueError(f"unknown transfer setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        source = str(model_dict.get("source") or "").strip()
        if not source:
            raise ValueError("transfer needs a source: a pretrained model "
                             f"({', '.join(PRETRAINED)}) or a saved run's folder")
        image_size = model_dict.get("image_size")
        settings = cls(
            source=source,
            strategy=str(model_dict.get("strategy") or "head").strip().lower(),
            head_epochs=int(model_dict.get("head_epochs", DEFAULT_HEAD_EPOCHS)),
            unfreeze=str(model_dict.get("unfreeze") or "full").strip().lower(),
            unfreeze_lr_factor=float(model_dict.get("unfreeze_lr_factor", DEFAULT_UNFREEZE_LR_FACTOR)),
            backbone_lr_factor=float(model_dict.get("backbone_lr_factor", DEFAULT_BACKBONE_LR_FACTOR)),
            image_size=int(image_size) if image_size else None,
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.strategy != "two-stage":
            parse_strategy(self.strategy, 10**6)  # syntax only; the block count is checked on the model
        else:
            parse_strategy(self.unfreeze, 10**6)
            if self.head_epochs < 1:
                raise ValueError(f"two-stage needs at least 1 head-only epoch (got {self.head_epochs})")
        if not self.unfreeze_lr_factor > 0:
            raise ValueError(f"the unfreeze learning-rate factor must be above 0 (got {self.unfreeze_lr_factor})")
        if not self.backbone_lr_factor > 0:
            raise ValueError(f"the backbone learning-rate factor must be above 0 (got {self.backbone_lr_factor}); "
                             "freeze the backbone with strategy head instead")
        if self.image_size is not None and self.image_size < 8:
            raise ValueError(f"input size {self.image_size} is too small; use at least 8 px (or native)")

    def to_dict(self) -> dict:
        return {"kind": "transfer", **asdict(self)}


class TransferModel(TransferNet):
    """TransferNet that also adapts the channel count: grey images are repeated to RGB for an RGB
    backbone, colour images averaged for a grey one. No parameters, so state_dict keys stay `net.*`."""

    def __init__(self, net: nn.Module, in_channels: int):
        super().__init__(net)
        self.in_channels = int(in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            if x.shape[1] == 1:
                x = x.expand(-1, self.in_channels, -1, -1)
            elif self.in_channels == 1:
                x = x.mean(dim=1, keepdim=True)
            else:
                raise ValueError(f"this network takes {self.in_channels}-channel images, got {x.shape[1]} channels")
        return self.net(x)


# ---------------------------------------------------------------------------------------- sources

def is_pretrained_source(source: str) -> bool:
    return source in PRETRAINED


def check_source(source: str) -> str:
    """ "pretrained" or "run"; ValueError naming the choices for anything else (before any data loads)."""
    if is_pretrained_source(source):
        return "pretrained"
    _source_run(source)
    return "run"


def _source_run(source: str):
    from cnnkit import store

    try:
        return store.resolve_run_dir(source)
    except FileNotFoundError:
        raise ValueError(f"unknown transfer source {source!r}: name a pretrained model "
                         f"({', '.join(PRETRAINED)}) or a saved run's folder or id") from None


def _pretrained_architecture(name: str) -> nn.Module:
    """The untrained ImageNet architecture (1000 classes), without any weights file."""
    entry = PRETRAINED[name]
    if entry.source == "bundled":
        from efficientnet_lite_pytorch import EfficientNet

        return EfficientNet.from_name("efficientnet-lite0")
    import torchvision.models as tvm

    return getattr(tvm, entry.builder)(weights=None)


def _in_channels(net: nn.Module) -> int:
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            return int(module.in_channels)
        if isinstance(module, nn.Linear):
            break
    return 3


@dataclass
class _Loaded:
    net: nn.Module                      # the source network (its own head still on)
    record: dict                        # source part of the record
    normalisation: tuple[list[float], list[float]]
    native_size: Optional[int]          # the size the source must run at (ours), None = any (pretrained)
    label: str


def _load_source(source: str) -> _Loaded:
    if is_pretrained_source(source):
        loaded = load_pretrained(source)
        prep = loaded.preprocessing
        return _Loaded(loaded.model, {"source_kind": "pretrained", "arch": source},
                       (list(prep.mean), list(prep.std)), None, source)
    from cnnkit import store

    run_dir = _source_run(source)
    run = store.load_run_model(run_dir, which="best", device="cpu")
    net = run.model
    if isinstance(net, TransferNet):  # a transfer run as the source: unwrap, it is wrapped again below
        net = net.net
    record = {"source_kind": "run", "base_record": run.record, "base_input_shape": list(run.input_shape),
              "base_num_classes": len(run.classes), "base_run": run_dir.name}
    label = Path(run_dir).name.split("-", 2)[-1] if "-" in Path(run_dir).name else Path(run_dir).name
    return _Loaded(net, record, (list(run.mean), list(run.std)), int(run.input_shape[-1]), f"run {label}")


def _rebuild_source(record: dict) -> nn.Module:
    if record.get("source_kind") == "pretrained":
        arch = record.get("arch") or record.get("source")
        if arch not in PRETRAINED:
            raise ValueError(f"this transfer run was built on {arch!r}, which this version does not know")
        return _pretrained_architecture(arch)

    base = rebuild_model(record["base_record"], tuple(record["base_input_shape"]), int(record["base_num_classes"]))
    return base.net if isinstance(base, TransferNet) else base


# ---------------------------------------------------------------------------------------- building

def _check_runs(model: nn.Module, channels: int, size: int, what: str, hint: str) -> None:
    """One tiny forward pass so a size the network cannot take fails here, with a clear message."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, channels, size, size))
    except RuntimeError as error:
        raise ValueError(f"{what} cannot run at {size}×{size} px ({str(error).splitlines()[0]}); {hint}") from None
    finally:
        model.train(was_training)


def _trainable_groups(model: nn.Module, layout: BackboneLayout, lr: float, backbone_factor: float,
                      include_frozen_backbone: bool) -> list[dict]:
    """Optimizer groups: the head at lr, the backbone at lr × factor.

    For two-stage the frozen backbone is in the optimizer from the start (its grads stay None, so
    no optimizer moves it), which lets the hook unfreeze it later without a new optimizer."""
    head_ids = {id(p) for p in model.get_submodule(layout.head).parameters()}
    head = [p for p in model.parameters() if id(p) in head_ids]
    backbone = [p for p in model.parameters() if id(p) not in head_ids
                and (include_frozen_backbone or p.requires_grad)]
    groups = [{"params": head, "lr": lr, "name": "head"}]
    if backbone:
        groups.insert(0, {"params": backbone, "lr": lr * backbone_factor, "name": "backbone"})
    return groups


def make_two_stage_hook(model: nn.Module, layout: BackboneLayout, settings: TransferSettings):
    """on_epoch_start(epoch, optimizer): from epoch `head_epochs` on, unfreeze and divide every lr.

    The division is marked on each param group, so resuming a run (whose optimizer state already
    holds the divided rates) never divides twice."""

    def on_epoch_start(epoch: int, optimizer: torch.optim.Optimizer) -> Optional[str]:
        if epoch < settings.head_epochs:
            return None
        already = all(group.get("unfrozen") for group in optimizer.param_groups)
        counts = apply_strategy(model, layout, settings.unfreeze)
        if already:
            return None
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] / settings.unfreeze_lr_factor
            if "base_lr" in group:  # the schedule multiplies base_lr; set once it has run
                group["base_lr"] = group["base_lr"] / settings.unfreeze_lr_factor
            group["unfrozen"] = True
        return (f"two-stage: epoch {epoch + 1} unfreezes {settings.unfreeze} ({counts.trainable:,} trainable "
                f"parameters) with the learning rate divided by {settings.unfreeze_lr_factor:g}")

    return on_epoch_start


def build_transfer_bundle(model_dict: dict, input_shape: tuple[int, int, int], num_classes: int, config=None):
    """The trainer's builder for {"kind": "transfer", ...}: see the module docstring."""

    settings = TransferSettings.from_dict(model_dict)
    seed = int(getattr(config, "seed", 0) or 0)
    loaded = _load_source(settings.source)
    net = loaded.net
    layout = describe_backbone(net)
    replace_head(net, layout, num_classes, seed=seed)
    in_channels = _in_channels(net)
    data_channels = int(input_shape[0])
    if loaded.native_size is not None:
        size = settings.image_size or loaded.native_size
    else:
        size = settings.image_size or int(input_shape[1])
    model = TransferModel(net, in_channels)
    hint = ("choose a larger input size, e.g. 96 px" if loaded.native_size is None
            else f"use its own input size, {loaded.native_size} px (native)")
    _check_runs(model, data_channels, size, loaded.label, hint)
    layout = describe_backbone(model)
    first = "head" if settings.strategy == "two-stage" else settings.strategy
    counts = apply_strategy(model, layout, first)
    notes = []
    if data_channels != in_channels:
        notes.append(f"{data_channels}-channel images are {'repeated' if data_channels == 1 else 'averaged'} "
                     f"to the {in_channels} channels {loaded.label} takes")
    if size != int(input_shape[1]):
        notes.append(f"images are resized from {input_shape[1]}×{input_shape[2]} to {size}×{size} px "
                     f"for {loaded.label}")
    two_stage = settings.strategy == "two-stage"
    if two_stage and config is not None and getattr(config, "epochs", 0) <= settings.head_epochs:
        notes.append(f"two-stage: the run has {config.epochs} epochs, so the backbone is never unfrozen "
                     f"(head-only epochs: {settings.head_epochs})")

    def groups(lr: float) -> list[dict]:
        return _trainable_groups(model, layout, lr, settings.backbone_lr_factor, include_frozen_backbone=two_stage)

    record = {"kind": "transfer", "source": settings.source, **loaded.record, "num_classes": int(num_classes),
              "in_channels": in_channels, "strategy": settings.strategy, "image_size": size,
              "settings": settings.to_dict()}
    # trainable_params / frozen_params are not repeated here: the trainer counts the same numbers
    # (before the first epoch) and writes them into run.json itself; a duplicate key would clash.
    extra: dict[str, Any] = {"strategy": settings.strategy, "source": settings.source,
                             "block_names": layout.block_names,
                             "strategy_trainable_params": counts.trainable, "strategy_frozen_params": counts.frozen}
    if two_stage:
        extra["head_epochs"] = settings.head_epochs
        extra["unfreeze"] = settings.unfreeze
        stage_two = apply_strategy(model, layout, settings.unfreeze)  # counted, then frozen again for stage one
        extra["stage_two_trainable_params"] = stage_two.trainable
        apply_strategy(model, layout, "head")
    name = f"{loaded.label if loaded.native_size is None else 'run'}-{settings.strategy.replace(':', '')}"
    return ModelBundle(model=model, record=record, input_shape=(data_channels, size, size), name=name,
                       param_groups=groups, on_epoch_start=make_two_stage_hook(model, layout, settings) if two_stage else None,
                       normalisation=loaded.normalisation, notes=notes, extra=extra)


def rebuild_transfer_model(record: dict, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The untrained network of a transfer run (same state_dict keys); needs no weights file."""
    net = _rebuild_source(record)
    layout = describe_backbone(net)
    replace_head(net, layout, int(record.get("num_classes") or num_classes))
    return TransferModel(net, int(record.get("in_channels", _in_channels(net))))


# ---------------------------------------------------------------------------------------- planning

@dataclass
class StrategyCounts:
    strategy: str
    trainable: int
    frozen: int
    blocks_trainable: int

    @property
    def total(self) -> int:
        return self.trainable + self.frozen

    def to_dict(self) -> dict:
        return asdict(self) | {"total": self.total}


def source_network(source: str, num_classes: int, seed: int = 0) -> tuple[TransferModel, BackboneLayout]:
    """The source with a new `num_classes` head, wrapped (weights loaded: pretrained or the run's)."""
    loaded = _load_source(source)
    layout = describe_backbone(loaded.net)
    replace_head(loaded.net, layout, num_classes, seed=seed)
    model = TransferModel(loaded.net, _in_channels(loaded.net))
    return model, describe_backbone(model)


def strategy_counts(model: nn.Module, layout: BackboneLayout, strategies: list[str]) -> list[StrategyCounts]:
    """Trainable/frozen parameters per strategy (Keras summary totals); leaves everything trainable."""
    rows = []
    for strategy in strategies:
        first = "head" if strategy == "two-stage" else strategy
        counts: ParamCounts = apply_strategy(model, layout, first)
        rows.append(StrategyCounts(strategy, counts.trainable, counts.frozen,
                                   parse_strategy(first, len(layout.blocks))))
    for p in model.parameters():
        p.requires_grad_(True)
    return rows


# ---------------------------------------------------------------------------------- comparisons

GROUP_PREFIX = "transfer-"


def trained_blocks(block_names: list[str], strategy: str) -> list[str]:
    """The backbone blocks `strategy` trains (two-stage: those of its first stage, none)."""
    if strategy == "two-stage":
        return []
    n = parse_strategy(strategy, len(block_names))
    return block_names[len(block_names) - n:] if n else []


def strategy_label(model_dict: dict) -> str:
    """Short text for a run: "head", "last:3", "full", "two-stage (2 head epochs, then full at lr ÷10)"."""
    strategy = model_dict.get("strategy", "head")
    label = strategy
    if strategy == "two-stage":
        label += (f" ({model_dict.get('head_epochs', DEFAULT_HEAD_EPOCHS)} head epochs, then "
                  f"{model_dict.get('unfreeze', 'full')} at lr ÷{float(model_dict.get('unfreeze_lr_factor', DEFAULT_UNFREEZE_LR_FACTOR)):g})")
    factor = float(model_dict.get("backbone_lr_factor", DEFAULT_BACKBONE_LR_FACTOR))
    if factor != 1 and strategy != "head":
        label += f", backbone lr ×{factor:g}"
    return label


def transfer_configs(base, settings: TransferSettings, strategies: list[str]) -> list[tuple[str, Any]]:
    """(label, TrainConfig) per strategy: the base config with the transfer model dict for each."""
    from dataclasses import replace

    planned = []
    for strategy in strategies:
        model_dict = replace(settings, strategy=strategy).to_dict()
        TransferSettings.from_dict(model_dict)  # validates
        label = strategy_label(model_dict)
        planned.append((label, replace(base, model=model_dict, name=base.name or f"transfer {label}")))
    return planned


def comparison_rows(snapshots) -> list[dict]:
    """One row per job of a comparison: strategy, status, test accuracy, time per epoch, parameters."""
    rows = []
    for snap in snapshots:
        result = snap.result
        history = snap.history or []
        seconds = [row["seconds"] for row in history if row.get("seconds") is not None]
        model = (snap.meta.get("config") or {}).get("model") or {}
        rows.append({
            "strategy": snap.label or strategy_label(model),
            "status": snap.status,
            "epochs": len(history),
            "test acc": getattr(result, "test_acc", None),
            "best val acc": getattr(result, "best_val_acc", None),
            "s/epoch": sum(seconds) / len(seconds) if seconds else None,
            "trainable": getattr(result, "trainable_params", None),
            "frozen": getattr(result, "frozen_params", None),
            "run_dir": snap.run_dir,
            "error": snap.error,
        })
    return rows


# ---------------------------------------------------------------------------------------- bounds

MAX_BASE_RUNS = 4   # a transfer run whose source is a transfer run ...: this many levels at most


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_record_fields(record: Any, num_classes: int, limits, depth: int = 0) -> None:
    if not isinstance(record, dict):
        raise ValueError("its transfer record is not a table")
    head = record.get("num_classes")
    if head is not None and head != num_classes:
        raise ValueError(f"its transfer record names a head of {str(head)[:24]} classes but the run has "
                         f"{num_classes:,}")
    if "in_channels" in record and not _whole(record["in_channels"], 1, limits.max_input_channels):
        raise ValueError(f"its transfer record's in_channels must be 1 to {limits.max_input_channels} "
                         "(imports: max_input_channels)")
    if record.get("source_kind") != "run":
        return
    if depth >= MAX_BASE_RUNS:
        raise ValueError(f"its transfer record nests more than {MAX_BASE_RUNS} source runs")
    base_classes, base_shape = record.get("base_num_classes"), record.get("base_input_shape")
    if not _whole(base_classes, 1, limits.max_classes):
        raise ValueError(f"its source run's base_num_classes must be 1 to {limits.max_classes:,} "
                         f"(imports: max_classes), not {str(base_classes)[:24]}")
    if not (isinstance(base_shape, list) and len(base_shape) == 3
            and _whole(base_shape[0], 1, limits.max_input_channels)
            and all(_whole(side, 1, limits.max_input_size) for side in base_shape[1:])):
        raise ValueError(f"its source run's base_input_shape must be [channels, height, width] within "
                         f"{limits.max_input_channels} channels and {limits.max_input_size} pixels a side")
    base = record.get("base_record")
    if isinstance(base, dict) and base.get("kind") == "transfer":
        _check_record_fields(base, base_classes, limits, depth + 1)


def check_transfer_bounds(record: dict, input_shape: tuple[int, int, int], num_classes: int, limits=None) -> None:
    """A transfer record from outside (a run zip) against the import limits, before its network is built: the head
    it names against the run's classes, its channels and its source run's, then its parameters, counted on
    PyTorch's meta device (shapes only: nothing is allocated, so a head of 300,000 classes costs nothing to
    count). ValueError naming the field and the limit."""
    if limits is None:
        from cnnkit.classroom.config import import_limits

        limits = import_limits()
    _check_record_fields(record, num_classes, limits)
    with torch.device("meta"):
        net = rebuild_transfer_model(record, input_shape, num_classes)
    total = sum(p.numel() for p in net.parameters())
    if total > limits.max_params:
        raise ValueError(f"its transfer network has {total:,} parameters, over this server's limit of "
                         f"{limits.max_params:,} (imports: max_params)")


# The trainer and the store find this kind through the models registry (models never imports transfer).
register_model_kind(ModelKind("transfer", build=build_transfer_bundle, rebuild=rebuild_transfer_model,
                              check_bounds=check_transfer_bounds))

__all__ = ["GROUP_PREFIX", "comparison_rows", "strategy_label", "trained_blocks", "transfer_configs",
           "STRATEGIES", "StrategyCounts", "TransferModel", "TransferSettings", "build_transfer_bundle",
           "is_pretrained_source", "make_two_stage_hook",
           "rebuild_transfer_model", "source_network", "strategy_counts"]
