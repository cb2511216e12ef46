"""Pretrained ImageNet backbones and transfer-learning strategies (freezing, builder, cost estimate)."""

from cnnkit.models.pretrained import (
    PRETRAINED,
    PretrainedInfo,
    PretrainedModel,
    Preprocessing,
    imagenet_classes,
    list_pretrained,
    load_pretrained,
    pretrained_info,
)
from cnnkit.transfer.builder import (
    STRATEGIES,
    TransferSettings,
    build_transfer_bundle,
    rebuild_transfer_model,
    source_network,
    strategy_counts,
)
from cnnkit.transfer.estimate import CostEstimate, EpochCost, StageCost, estimate_epoch_cost, plan_cost

__all__ = [
    "CostEstimate",
    "EpochCost",
    "StageCost",
    "STRATEGIES",
    "estimate_epoch_cost",
    "plan_cost",
    "TransferSettings",
    "build_transfer_bundle",
    "rebuild_transfer_model",
    "source_network",
    "strategy_counts",
    "PRETRAINED",
    "PretrainedInfo",
    "PretrainedModel",
    "Preprocessing",
    "imagenet_classes",
    "list_pretrained",
    "load_pretrained",
    "pretrained_info",
]
