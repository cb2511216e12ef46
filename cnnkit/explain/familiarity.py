"""Honest predictions: does the model know this kind of image, and is it sure?

A classifier always answers with one of its classes, even for a cat photo shown to a Shapes model
("star 99.3 %"). A softmax probability is not a measure of how familiar the image is: networks are
often most confident far from their training data. So the check looks at two independent things:

1. **The answer itself**: a low top probability or a probability spread over many classes (high
   entropy) means the model is unsure between its own classes.
2. **The image**: four simple statistics of the image *as the model sees it* (at its input size),
   compared with the same statistics over the test images of the model's dataset: brightness,
   contrast, colourfulness and texture (how much neighbouring pixels differ). An image outside the
   range almost every dataset image falls in is "a different kind of image" — a photo for a Shapes
   model, a dark-on-light digit for a light-on-dark Digits model, a colour photo for a grey model.

It never claims an image *is* in the training distribution; it only says when it clearly is not, and
for models with few classes it says which classes they know, so the student reads the answer as
"the closest of these N" rather than "what this is".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

# ---- thresholds (why these values) ----------------------------------------------------------
# Top probability under 50 %: the model gives better-than-even odds to no class at all.
LOW_TOP_PROBABILITY = 0.5
# Entropy over log(number of classes): 0 = all mass on one class, 1 = uniform. Above 0.6 the mass is
# spread over several classes (e.g. for 10 classes ~ four classes sharing it about evenly).
HIGH_ENTROPY_FRACTION = 0.6
# The reference range of a statistic: the 0.5th to 99.5th percentile of the dataset's test images
# (99 % of them are inside), widened by a margin of 25 % of that range on each side, so only images
# clearly outside the data are flagged, not the dataset's own rare images.
REFERENCE_PERCENTILES = (0.5, 99.5)
RANGE_MARGIN = 0.25
# A photo counts as "in colour" when its mean colourfulness (mean of |R−G|, |G−B|, |R−B| on 0..255)
# is above 8: JPEG noise on a grey photo stays below ~3, a clearly coloured photo is well above 15.
COLOUR_THRESHOLD = 8.0
# Models with up to this many classes have their classes listed beside the prediction.
FEW_CLASSES = 20

STATISTICS = {
    "brightness": "brightness",
    "contrast": "contrast",
    "colourfulness": "colourfulness",
    "texture": "amount of fine texture",
}


def image_statistics(images: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
    """The four statistics of uint8 images, (N, C, H, W) or one (C, H, W): each an array of N values on
    0..255. brightness = mean pixel; contrast = pixel std; colourfulness = mean |R−G|, |G−B|, |R−B| (0 for
    one channel); texture = mean |difference| between horizontal and vertical neighbours."""
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
    x = x.astype(np.float32)
    grey = x.mean(axis=1)  # (N, H, W)
    n = x.shape[0]
    if x.shape[1] >= 3:
        r, g, b = x[:, 0], x[:, 1], x[:, 2]
        colour = (np.abs(r - g) + np.abs(g - b) + np.abs(r - b)).reshape(n, -1).mean(axis=1) / 3
    else:
        colour = np.zeros(n, dtype=np.float32)
    dx = np.abs(np.diff(grey, axis=2)).reshape(n, -1).mean(axis=1) if grey.shape[2] > 1 else np.zeros(n)
    dy = np.abs(np.diff(grey, axis=1)).reshape(n, -1).mean(axis=1) if grey.shape[1] > 1 else np.zeros(n)
    return {"brightness": grey.reshape(n, -1).mean(axis=1), "contrast": grey.reshape(n, -1).std(axis=1),
            "colourfulness": colour, "texture": (dx + dy) / 2}


def colourfulness(image_rgb: np.ndarray) -> float:
    """Mean colourfulness of an H×W×3 (or H×W) uint8 picture: whether a photo is in colour before a grey
    model converts it."""
    array = np.asarray(image_rgb)
    if array.ndim == 2 or array.shape[-1] == 1:
        return 0.0
    return float(image_statistics(array[..., :3].transpose(2, 0, 1))["colourfulness"][0])


@dataclass
class ReferenceStats:
    """Where a dataset's images lie: per statistic the (low, high) range 99 % of its test images fall in."""

    dataset: str
    images: int
    ranges: dict[str, tuple[float, float]]
    colour: bool  # the dataset's images are in colour (median colourfulness above COLOUR_THRESHOLD)

    def to_dict(self) -> dict:
        return asdict(self)


def reference_stats(images: np.ndarray | torch.Tensor, dataset: str = "") -> ReferenceStats:
    """The reference ranges from uint8 (N, C, H, W) dataset images (a few hundred are plenty)."""
    stats = image_statistics(images)
    if len(stats["brightness"]) < 20:
        raise ValueError("a reference needs at least 20 images of the dataset")
    low_p, high_p = REFERENCE_PERCENTILES
    ranges = {name: (float(np.percentile(values, low_p)), float(np.percentile(values, high_p)))
              for name, values in stats.items()}
    return ReferenceStats(dataset=dataset, images=len(stats["brightness"]), ranges=ranges,
                          colour=bool(np.median(stats["colourfulness"]) > COLOUR_THRESHOLD))


def dataset_reference(dataset: str, sample: int = 500, seed: int = 0) -> ReferenceStats:
    """reference_stats over `sample` random test images of a dataset (cnnkit.data.load_dataset)."""
    from cnnkit.data import load_dataset

    data = load_dataset(dataset)
    pool = data.test_x if int(data.test_x.shape[0]) >= 20 else data.train_x
    count = int(pool.shape[0])
    index = torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:sample]
    return reference_stats(pool[index], dataset=dataset)


@dataclass
class Caveat:
    kind: str  # "unsure" | "spread" | "unusual" | "colour" | "grey"
    message: str


@dataclass
class PredictionCheck:
    """What to say beside a prediction: the caveats (empty = nothing to warn about) and the known classes."""

    top_class: str
    top_probability: float
    entropy_fraction: float  # entropy / log(number of classes), 0..1
    caveats: list[Caveat] = field(default_factory=list)
    known_classes: list[str] = field(default_factory=list)  # listed for models with up to FEW_CLASSES classes

    @property
    def trustworthy(self) -> bool:
        return not self.caveats

    def summary(self) -> str:
        """One plain sentence for the page."""
        if self.trustworthy:
            return f"The model is fairly sure: {self.top_class} ({self.top_probability:.0%})."
        return "Take this answer with caution: " + " ".join(c.message for c in self.caveats)

    def classes_text(self) -> str:
        if not self.known_classes:
            return ""
        return (f"This model knows only {len(self.known_classes)} classes: {', '.join(self.known_classes)}. "
                "Any image gets one of them, whatever it shows.")

    def to_dict(self) -> dict:
        return asdict(self) | {"trustworthy": self.trustworthy, "summary": self.summary()}


def entropy_fraction(probabilities: np.ndarray) -> float:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0, 1)
    if p.size < 2:
        return 0.0
    p = p / p.sum() if p.sum() > 0 else np.full_like(p, 1 / p.size)
    nonzero = p[p > 0]
    return float(-(nonzero * np.log(nonzero)).sum() / math.log(p.size))


def check_prediction(probabilities: np.ndarray | list[float], classes: list[str],
                     model_input: np.ndarray | torch.Tensor | None = None,
                     reference: ReferenceStats | None = None, original_colourfulness: float | None = None,
                     model_channels: int = 3) -> PredictionCheck:
    """The caveats of one prediction.

    probabilities: every class's probability (softmax output); classes: their names.
    model_input: the uint8 (C, H, W) image as the model sees it (its input size, before normalising);
    reference: its dataset's ReferenceStats (None: the image is not compared, e.g. ImageNet models).
    original_colourfulness: of the picture before a grey model converted it (colourfulness()).
    """
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if p.size == 0:
        raise ValueError("no probabilities to check")
    top = int(np.argmax(p))
    name = classes[top] if top < len(classes) else str(top)
    check = PredictionCheck(top_class=name, top_probability=float(p[top]), entropy_fraction=entropy_fraction(p),
                            known_classes=list(classes) if 0 < len(classes) <= FEW_CLASSES else [])
    if check.top_probability < LOW_TOP_PROBABILITY:
        check.caveats.append(Caveat("unsure", f"the model is unsure (its top answer, {name}, has only "
                                              f"{check.top_probability:.0%})."))
    elif check.entropy_fraction > HIGH_ENTROPY_FRACTION:
        check.caveats.append(Caveat("spread", "the probability is spread over several classes."))
    if model_channels == 1 and original_colourfulness is not None and original_colourfulness > COLOUR_THRESHOLD:
        check.caveats.append(Caveat("colour", "this is a colour picture, but the model learned from grey images "
                                              "(it sees the picture in grey)."))
    if reference is not None and model_input is not None:
        stats = {k: float(v[0]) for k, v in image_statistics(model_input).items()}
        if reference.colour and model_channels >= 3 and stats["colourfulness"] < COLOUR_THRESHOLD / 4:
            check.caveats.append(Caveat("grey", f"this picture is grey, but the model learned from colour "
                                                f"{reference.dataset or 'dataset'} images."))
        unusual = []
        for key, (low, high) in reference.ranges.items():
            if key == "colourfulness" and any(c.kind == "grey" for c in check.caveats):
                continue  # already said in plain words
            margin = RANGE_MARGIN * max(high - low, 1.0)  # 1 grey level at least: flat statistics
            if stats[key] > high + margin:
                unusual.append(f"much more {STATISTICS[key]}")
            elif stats[key] < low - margin:
                unusual.append(f"much less {STATISTICS[key]}")
        if unusual:
            check.caveats.append(Caveat("unusual", f"this picture looks unlike the {reference.dataset or 'training'} "
                                                   f"images the model learned from ({' and '.join(unusual)} than 99 % "
                                                   "of them); its answer is a guess among the classes it knows."))
    return check
