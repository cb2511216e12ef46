"""What the trainer trains: a model plus how to rebuild it, its parameter groups and hooks.

A config's `model` is a preset name, a ModelSpec dict, or {"kind": K, ...} handled by the builder
registered under K with `register_model_kind` (cnnkit.transfer registers "transfer" when imported).
The bundle's `record` is stored in the run so `cnnkit.store.load_run_model` can rebuild the same
network later. Model kinds live above this layer and register themselves, so models imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
import torch.nn as nn

from cnnkit.models.adapt import adapt_spec, set_dropout
from cnnkit.models.build import build_model
from cnnkit.models.presets import get_preset
from cnnkit.models.spec import ModelSpec, SpecError


@dataclass
class ModelBundle:
    model: nn.Module
    record: dict                                   # JSON: how to rebuild the network (see rebuild_model)
    input_shape: tuple[int, int, int]              # (C, H, W) the network takes
    name: str = "model"
    spec: Optional[dict] = None                    # the ModelSpec dict, for spec-built models
    # lr -> optimizer param groups (e.g. backbone and head at different rates); None = one group
    param_groups: Optional[Callable[[float], list[dict]]] = None
    # called at the start of each epoch (epoch from 0) with the optimizer; may return a note for the log
    on_epoch_start: Optional[Callable[[int, torch.optim.Optimizer], Optional[str]]] = None
    # fixed input normalisation (a pretrained network's); None = mean/std of the training split
    normalisation: Optional[tuple[list[float], list[float]]] = None
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)      # JSON facts for the run (e.g. trainable/frozen counts)


@dataclass(frozen=True)
class ModelKind:
    """How to build a {"kind": name, ...} model for training, and rebuild a saved one for loading."""

    name: str
    build: Callable[..., ModelBundle]            # (model dict, input_shape, num_classes, config) -> ModelBundle
    rebuild: Callable[..., nn.Module]            # (record, input_shape, num_classes) -> untrained network
    # (record, input_shape, num_classes, limits) -> None: a record from outside (a run zip) against the class's
    # import limits, ValueError before anything is built (a spec's are checked by build_model itself)
    check_bounds: Optional[Callable[..., None]] = None


MODEL_KINDS: dict[str, ModelKind] = {}


def register_model_kind(kind: ModelKind) -> None:
    MODEL_KINDS[kind.name] = kind


def model_kind(name: str) -> ModelKind:
    if name not in MODEL_KINDS:
        known = ", ".join(["spec", *sorted(MODEL_KINDS)])
        raise ValueError(f"unknown model kind {name!r}; known: {known}. A run of another kind needs its package "
                         "imported first (e.g. `import cnnkit.transfer` for transfer-learning runs)")
    return MODEL_KINDS[name]


def _spec_bundle(spec, input_shape: tuple[int, int, int], num_classes: int, dropout: Optional[float],
                 allow_own_size: bool) -> ModelBundle:
    notes = []
    try:
        adapted = adapt_spec(spec, input_shape=input_shape, num_classes=num_classes)
    except SpecError as error:
        own = tuple(spec.input_shape)
        if not allow_own_size or own[1:] == tuple(input_shape[1:]):
            raise
        # e.g. cnn4_gap needs 64×64 inputs: upsample the data rather than fail.
        adapted = adapt_spec(spec, input_shape=(input_shape[0], own[1], own[2]), num_classes=num_classes)
        notes.append(f"{spec.name} cannot run at {input_shape[1]}×{input_shape[2]} ({error}); "
                     f"images are resized to its own {own[1]}×{own[2]}")
    if dropout is not None:
        adapted = set_dropout(adapted, dropout)
    model = build_model(adapted)
    spec_dict = adapted.to_dict()
    return ModelBundle(model=model, record={"kind": "spec", "spec": spec_dict},
                       input_shape=tuple(int(v) for v in adapted.input_shape), name=adapted.name or "custom",
                       spec=spec_dict, notes=notes)


def build_bundle(model: Any, input_shape: tuple[int, int, int], num_classes: int, config=None,
                 image_size_given: bool = False) -> ModelBundle:
    """The network for a dataset with `input_shape` (C, H, W) and `num_classes` classes."""
    dropout = getattr(config, "dropout", None)
    if isinstance(model, str):
        return _spec_bundle(get_preset(model), input_shape, num_classes, dropout, not image_size_given)
    if isinstance(model, dict) and "layers" in model:
        return _spec_bundle(ModelSpec.from_dict(model), input_shape, num_classes, dropout, not image_size_given)
    if isinstance(model, dict) and "kind" in model:
        kind = model["kind"]
        if kind == "spec":
            return build_bundle(model["spec"], input_shape, num_classes, config, image_size_given)
        return model_kind(kind).build(model, input_shape, num_classes, config)
    raise ValueError("model must be a preset name, a model spec (with 'layers') or {'kind': ...}; "
                     f"got {type(model).__name__}")


def rebuild_model(record: dict, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The untrained network a run's `record` describes (weights are loaded by the caller)."""
    kind = record.get("kind", "spec")
    if kind == "spec":
        return build_model(ModelSpec.from_dict(record["spec"]))
    return model_kind(kind).rebuild(record, input_shape, num_classes)
