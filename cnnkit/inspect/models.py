"""Which networks can be looked inside: the Grad-CAM viewer's choices (pretrained models, saved runs)
plus every preset with random weights, and a run's network as it was before training."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from cnnkit.explain.explainable import ExplainableModel, load_explainable
from cnnkit.explain.images import center_square_resize
from cnnkit.explain.viewer import ModelChoice, list_run_choices, load_choice, pretrained_choices

PRESET_PREFIX = "preset:"
PRESET_SEED = 0  # the same random weights every time a preset is opened
RANDOM_MEAN_STD = 0.5  # presets never saw data: pixels are mapped to [-1, 1]


def preset_choices() -> list[ModelChoice]:
    from cnnkit.models.presets import PRESETS, get_preset

    choices = []
    for name in PRESETS:
        spec = get_preset(name)
        shape = "×".join(str(v) for v in spec.input_shape)
        choices.append(ModelChoice(key=f"{PRESET_PREFIX}{name}", label=f"Preset: {name} (random weights, {shape})",
                                   kind="preset", available=True, source=name, dataset=_preset_dataset(spec)))
    return choices


def model_choices(check_network: bool = True) -> list[ModelChoice]:
    """Pretrained models, then the presets (random weights), then saved runs: the viewer's list plus presets."""
    return pretrained_choices(check_network) + preset_choices() + list_run_choices()


def _preset_dataset(spec) -> str | None:
    # Shapes is generated offline and is 3×32×32: test images for the course's CIFAR-sized presets.
    return "shapes" if tuple(spec.input_shape) == (3, 32, 32) else None


def from_preset(name: str, seed: int = PRESET_SEED) -> ExplainableModel:
    """A preset with random weights (seeded) as an ExplainableModel; Shapes classes when it takes 3×32×32."""
    from cnnkit.data import SHAPE_CLASSES
    from cnnkit.models.registry import build_bundle
    from cnnkit.models.presets import get_preset

    spec = get_preset(name)
    dataset = _preset_dataset(spec)
    classes = list(SHAPE_CLASSES) if dataset == "shapes" else [f"class {i}" for i in range(spec.num_classes)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        bundle = build_bundle(name, tuple(spec.input_shape), len(classes))
    channels, height, width = bundle.input_shape
    return ExplainableModel(
        name=f"{name} (random weights)", model=bundle.model, classes=classes, input_shape=(channels, height, width),
        resize=lambda image: center_square_resize(image, height, width),
        normalise=lambda x: (x.float() / 255.0 - RANDOM_MEAN_STD) / RANDOM_MEAN_STD, kind="preset", dataset=dataset,
        source=name, description=f"{name} with random weights (seed {seed})",
        extra={"mean": [RANDOM_MEAN_STD] * channels, "std": [RANDOM_MEAN_STD] * channels})


def load_model_choice(choice: ModelChoice) -> ExplainableModel:
    """The Grad-CAM viewer's load_choice, plus presets."""
    if choice.kind == "preset":
        return from_preset(choice.source)
    return load_choice(choice)


def load_inspectable(model: str | Path, which: str = "best") -> ExplainableModel:
    """For the CLI: "preset:NAME" (or a preset name), a run folder or run id, or a pretrained name."""
    from cnnkit.models.presets import PRESETS

    text = str(model)
    name = text[len(PRESET_PREFIX):] if text.startswith(PRESET_PREFIX) else text
    if name in PRESETS and not Path(text).exists():
        return from_preset(name)
    return load_explainable(model, which=which)


def initial_model(trained: ExplainableModel) -> ExplainableModel:
    """The run's architecture with the weights it started from: rebuilt after seeding with the run's seed,
    as the trainer does before building its network."""
    from cnnkit.fileio import read_json
    from cnnkit.models.registry import rebuild_model

    if trained.kind != "run":
        raise ValueError("before/after training compares a saved run with its starting weights; pick a run")
    run_dir = Path(trained.source)
    meta = read_json(run_dir / "run.json", {}) or {}
    config = read_json(run_dir / "config.json", {}) or {}
    if "model_record" not in meta:
        raise ValueError(f"run {run_dir.name} does not say how to build its model (run.json has no model_record)")
    seed = int(config.get("seed", 0))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = rebuild_model(meta["model_record"], tuple(trained.input_shape), len(trained.classes))
    return dataclasses.replace(trained, model=network, name=f"{trained.name} (initial weights, seed {seed})",
                               description=f"the same architecture re-initialised with the run's seed {seed}")
