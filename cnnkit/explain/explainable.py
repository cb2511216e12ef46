"""One uniform wrapper for every model the viewer explains: pretrained ImageNet models and saved runs.

An ExplainableModel knows how to turn a PIL image (or a uint8 test-set image) into the
normalised tensor its network expects, and what that input looks like to a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

import cnnkit.transfer  # noqa: F401  registers the "transfer" model kind: transfer runs are explainable
from cnnkit.data.preview import chw_to_rgb
from cnnkit.explain.core import prepare_model
from cnnkit.explain.images import center_square_resize


@dataclass
class ExplainableModel:
    """A network (eval mode) with its class names and its own input pipeline.

    resize: PIL RGB image -> PIL image at the input size (what the network sees, unnormalised).
    normalise: uint8 (N, C, H, W) -> float input.
    """

    name: str
    model: nn.Module
    classes: list[str]
    input_shape: tuple[int, int, int]  # (C, H, W)
    resize: Callable[[Image.Image], Image.Image]
    normalise: Callable[[torch.Tensor], torch.Tensor]
    kind: str = "pretrained"  # "pretrained" | "run"
    dataset: str | None = None  # the run's dataset (for "images from the test set")
    source: str = ""  # run folder or pretrained name
    description: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        prepare_model(self.model)

    # -- PIL images (uploads, camera, examples) ------------------------------------------
    def to_uint8(self, image: Image.Image) -> torch.Tensor:
        """The image at the model's input size as a uint8 (C, H, W) tensor (1 or 3 channels)."""
        resized = self.resize(image.convert("RGB"))
        if self.input_shape[0] == 1:
            array = np.asarray(resized.convert("L"), dtype=np.uint8)[None]
        else:
            array = np.asarray(resized.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
        return torch.from_numpy(np.array(array, dtype=np.uint8, copy=True))

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """A PIL image as the (1, C, H, W) float input of the network."""
        return self.preprocess_array(self.to_uint8(image))

    def display_image(self, image: Image.Image) -> np.ndarray:
        """What the network sees, as uint8 H×W×3 at its input size (grayscale repeated)."""
        return self.array_display(self.to_uint8(image))

    # -- uint8 tensors (test-set images) -------------------------------------------------
    def preprocess_array(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """A uint8 (C, H, W) or (1, C, H, W) image as the (1, C, H, W) float input."""
        x = x_uint8 if x_uint8.dim() == 4 else x_uint8[None]
        if tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(f"image of shape {tuple(x.shape[1:])} does not match the model's input "
                             f"{tuple(self.input_shape)}; pass it as a PIL image to have it resized")
        return self.normalise(x).float()

    @staticmethod
    def array_display(x_uint8: torch.Tensor) -> np.ndarray:
        """A uint8 (C, H, W) tensor as uint8 H×W×3 (1 channel repeated)."""
        return chw_to_rgb(x_uint8[0] if x_uint8.dim() == 4 else x_uint8)


def from_pretrained(name: str, progress: Callable[[float, str], None] | None = None) -> ExplainableModel:
    """A registered ImageNet model (see cnnkit.models.pretrained) as an ExplainableModel."""
    from cnnkit.models.pretrained import PRETRAINED, load_pretrained

    loaded = load_pretrained(name, progress=progress)
    prep = loaded.preprocessing
    return ExplainableModel(
        name=loaded.title, model=loaded.model, classes=list(loaded.classes), input_shape=loaded.input_shape,
        resize=prep.crop_image, normalise=prep.normalise, kind="pretrained", source=name,
        description=PRETRAINED[name].description,
        extra={"mean": list(prep.mean), "std": list(prep.std), "resize": prep.resize, "crop": prep.crop},
    )


def from_run(run_dir: str | Path, which: str = "best") -> ExplainableModel:
    """A saved training run (cnnkit.store) as an ExplainableModel; photos are centre-cropped and resized."""
    try:
        from cnnkit.store import load_run_model
    except ImportError:
        raise RuntimeError("saved runs need cnnkit.store (the training module), which is not installed") from None
    loaded = load_run_model(run_dir, which=which, device="cpu")
    channels, height, width = (int(v) for v in loaded.input_shape)
    classes = list(loaded.classes) if loaded.classes else [str(i) for i in range(_num_outputs(loaded.model, loaded.input_shape))]
    return ExplainableModel(
        name=Path(run_dir).name, model=loaded.model, classes=classes, input_shape=(channels, height, width),
        resize=lambda image: center_square_resize(image, height, width),
        normalise=loaded.preprocess, kind="run", dataset=getattr(loaded, "dataset", None), source=str(run_dir),
        description=f"trained on {getattr(loaded, 'dataset', '?')} ({channels}×{height}×{width})",
        extra={"mean": list(getattr(loaded, "mean", []) or []), "std": list(getattr(loaded, "std", []) or [])},
    )


def _num_outputs(model: nn.Module, input_shape) -> int:
    with torch.no_grad():
        return int(model(torch.zeros(1, *input_shape)).shape[1])


def is_run_dir(path: str | Path) -> bool:
    """A folder that looks like a saved run (has run.json or a checkpoint)."""
    p = Path(path)
    return p.is_dir() and any((p / f).is_file() for f in ("run.json", "best.pt", "last.pt"))


def load_explainable(model: str | Path, which: str = "best",
                     progress: Callable[[float, str], None] | None = None) -> ExplainableModel:
    """A run folder (path, or a run id inside the checkpoint dir) or a pretrained name."""
    from cnnkit.paths import checkpoint_dir
    from cnnkit.models.pretrained import PRETRAINED

    text = str(model)
    if text in PRETRAINED:
        return from_pretrained(text, progress=progress)
    for candidate in (Path(text), checkpoint_dir() / text):
        if is_run_dir(candidate):
            return from_run(candidate, which=which)
    if Path(text).exists():
        raise ValueError(f"{text} is not a saved run (no run.json or best.pt inside)")
    raise ValueError(f"{text!r} is neither a run folder nor a pretrained model; pretrained models: {', '.join(PRETRAINED)}")
