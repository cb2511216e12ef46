"""Pretrained ImageNet backbones (and, later, transfer-learning strategies)."""

from cnnkit.transfer.pretrained import (
    IMAGENET_CLASSES,
    PRETRAINED,
    PretrainedInfo,
    PretrainedModel,
    Preprocessing,
    imagenet_classes,
    list_pretrained,
    load_pretrained,
    pretrained_info,
)

__all__ = [
    "IMAGENET_CLASSES",
    "PRETRAINED",
    "PretrainedInfo",
    "PretrainedModel",
    "Preprocessing",
    "imagenet_classes",
    "list_pretrained",
    "load_pretrained",
    "pretrained_info",
]
