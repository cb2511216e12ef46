"""What the Grad-CAM viewer page needs, as plain functions: model choices, one analysis, test-set samples.

The page stays thin: it turns widgets into these calls and renders their results.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable

import numpy as np
import torch
from PIL import Image

from cnnkit.paths import demo_runs_dir
from cnnkit.store import list_runs

from cnnkit.explain.cache import cache_key
from cnnkit.explain.core import Attribution, explain, top_k
from cnnkit.explain.explainable import ExplainableModel, from_pretrained, from_run
from cnnkit.explain.layers import LayerChoice, LayerInfo, choose_default_layer, conv_layers


@dataclass
class ModelChoice:
    """One entry of the model picker."""

    key: str  # "pretrained:efficientnet_lite0", "run:<run dir>" or "demo:<demo id>"
    label: str
    kind: str  # "pretrained" | "run" | "demo" (a shipped run: loads like a run, never written)
    available: bool
    reason: str | None = None  # why not available / what will happen (download)
    source: str = ""  # pretrained name or run folder (a demo's folder too)
    dataset: str | None = None
    classes: list[str] = field(default_factory=list)


def list_run_choices() -> list[ModelChoice]:
    """Saved runs (cnnkit.store.list_runs) that have a checkpoint."""
    return _choices_from_runs(None, kind="run", prefix="Run: ")


DEMO_SHAPES_KEY = "demo:demo-shapes-cnn3_bn_small"  # the default model of Inside the network on a fresh install
DEMO_DIGITS_KEY = "demo:demo-digits-cnn"  # a grey 8×8 model: the one to draw for


def list_demo_choices() -> list[ModelChoice]:
    """The demo runs shipped with CNN Lab (cnnkit.paths.demo_runs_dir): kind "demo", read-only (never resumed,
    deleted or written), so a fresh install has trained models to look at."""
    return _choices_from_runs(demo_runs_dir(), kind="demo", prefix="Demo: ")


def _choices_from_runs(root: Path | None, kind: str, prefix: str) -> list[ModelChoice]:
    choices = []
    try:
        records = list_runs(root)
    except (OSError, ValueError):
        return []
    for record in records:
        run_dir = Path(record.run_dir)
        if not ((run_dir / "best.pt").is_file() or (run_dir / "last.pt").is_file()):
            continue  # still starting, or failed before the first checkpoint
        dataset, classes, status = record.dataset, list(record.classes), record.status
        accuracy, model_name = record.test_accuracy, record.model_name
        parts = [record.name or run_dir.name] if kind == "demo" else [run_dir.name]
        if model_name:
            parts.append(str(model_name))
        if dataset:
            parts.append(f"on {dataset}")
        if isinstance(accuracy, (int, float)):
            parts.append(f"acc {accuracy:.1%}")
        if status and status not in ("done", "finished", "completed"):
            parts.append(f"[{status}]")
        if getattr(record, "origin", ""):
            parts.append(f"({record.origin})")  # an imported run is not the original it copies
        key = f"demo:{run_dir.name}" if kind == "demo" else f"run:{run_dir}"
        choices.append(ModelChoice(key=key, label=prefix + " ".join(parts), kind=kind,
                                   available=True, source=str(run_dir), dataset=dataset, classes=classes))
    return choices


# The pickers' order: trained models first (a fresh install's demos, then your runs), then ImageNet models, then
# presets with random weights (they show what training changes, not what a network learned).
CHOICE_ORDER = {"demo": 0, "run": 1, "pretrained": 2, "preset": 3}


def order_choices(choices: list[ModelChoice]) -> list[ModelChoice]:
    """Demos (the Shapes demo first), runs (newest first, as listed), pretrained, presets; unavailable ones last."""
    def rank(indexed: tuple[int, ModelChoice]) -> tuple:
        position, choice = indexed
        return (not choice.available, CHOICE_ORDER.get(choice.kind, len(CHOICE_ORDER)),
                choice.key != DEMO_SHAPES_KEY, position)

    return [choice for _, choice in sorted(enumerate(choices), key=rank)]


def default_choice_key(choices: list[ModelChoice]) -> str | None:
    """What a viewer opens on: the Shapes demo (trained, offline, with a test set); else the first available."""
    available = [c.key for c in choices if c.available]
    if DEMO_SHAPES_KEY in available:
        return DEMO_SHAPES_KEY
    return order_choices([c for c in choices if c.available])[0].key if available else None


def pretrained_choices(check_network: bool = True) -> list[ModelChoice]:
    """The registered ImageNet models, each available or with the reason it is not."""
    from cnnkit.models.pretrained import list_pretrained

    choices = []
    for info in list_pretrained(check_network=check_network):
        label = f"{info.title} (ImageNet{', offline' if info.source == 'bundled' else ''})"
        if not info.available:
            label += " — not available"
        choices.append(ModelChoice(key=f"pretrained:{info.name}", label=label, kind="pretrained",
                                   available=info.available, reason=info.reason, source=info.name,
                                   dataset="imagenet"))
    return choices


def choice_cache_key(choice: ModelChoice, which: str = "best") -> Hashable:
    """ModelCache key: pretrained models by name; runs by folder and modification time."""
    if choice.kind == "pretrained":
        return (choice.key, 0, "")
    return cache_key(choice.source, which)


def load_choice(choice: ModelChoice, which: str = "best",
                progress: Callable[[float, str], None] | None = None) -> ExplainableModel:
    if not choice.available:
        raise RuntimeError(choice.reason or f"{choice.label} is not available")
    if choice.kind == "pretrained":
        return from_pretrained(choice.source, progress=progress)
    return from_run(choice.source, which=which)


def image_digest(data: bytes | np.ndarray | torch.Tensor) -> str:
    """A short content hash, to remember results per image."""
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    return hashlib.sha1(raw).hexdigest()[:16]


@dataclass
class Prepared:
    """One image ready for the model: the input tensor and what the model sees."""

    x: torch.Tensor  # (1, C, H, W) normalised
    display: np.ndarray  # uint8 H×W×3 at the input size
    predictions: list[dict]  # top-k
    probabilities: list[dict]  # every class, most probable first (for the target picker)
    layers: list[LayerInfo]
    default_layer: LayerChoice | None


def prepare(model: ExplainableModel, image: Image.Image | torch.Tensor, k: int = 5) -> Prepared:
    """Preprocess an image (PIL, or a uint8 C×H×W test-set tensor), predict, and list its conv layers."""
    if isinstance(image, torch.Tensor):
        x = model.preprocess_array(image)
        display = model.array_display(image)
    else:
        x = model.preprocess(image)
        display = model.display_image(image)
    ranking = top_k(model.model, x, model.classes, k=len(model.classes) or 1000)
    layers = conv_layers(model.model, x)
    return Prepared(x=x, display=display, predictions=ranking[:k], probabilities=ranking, layers=layers,
                    default_layer=choose_default_layer(layers) if layers else None)


def attribute(model: ExplainableModel, prepared: Prepared, method: str = "gradcam", layer: str | None = None,
              target: int | None = None) -> Attribution:
    """The map for the chosen method/layer/class; the reason of the default layer is kept when it is used."""
    layer = layer or (prepared.default_layer.name if prepared.default_layer else None)
    result = explain(model.model, prepared.x, method=method, layer_name=layer, target=target, classes=model.classes)
    if prepared.default_layer and result.layer == prepared.default_layer.name and not result.reason:
        result.reason = prepared.default_layer.reason
    return result


@dataclass
class LabelledSample:
    index: int
    image: torch.Tensor  # uint8 (C, H, W)
    true_label: int
    true_class: str
    predicted: int
    predicted_class: str
    probability: float


def sample_test_images(model: ExplainableModel, n: int = 5, seed: int = 0) -> list[LabelledSample]:
    """n random images from the test split of the run's dataset, with true and predicted class."""
    if not model.dataset:
        raise ValueError("this model has no dataset of its own; test-set images are for saved runs")
    from cnnkit.data import load_dataset

    data = load_dataset(model.dataset)
    generator = torch.Generator().manual_seed(seed)
    count = int(data.test_x.shape[0])
    if count == 0:
        raise ValueError(f"the test split of {model.dataset} is empty")
    indices = torch.randperm(count, generator=generator)[:n].tolist()
    samples = []
    for index in indices:
        image = data.test_x[index]
        if tuple(image.shape) != tuple(model.input_shape):
            raise ValueError(f"{model.dataset} images are {tuple(image.shape)} but the model expects {model.input_shape}")
        row = top_k(model.model, model.preprocess_array(image), model.classes, k=1)[0]
        true_label = int(data.test_y[index])
        classes = list(data.classes) or model.classes
        samples.append(LabelledSample(index=index, image=image, true_label=true_label,
                                  true_class=classes[true_label] if true_label < len(classes) else str(true_label),
                                  predicted=row["index"], predicted_class=row["class"], probability=row["probability"]))
    return samples
