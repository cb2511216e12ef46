"""What a channel responds to: the test images whose map of that channel is strongest.

One pass over a sample of the test split stores every channel's mean activation per image (N × C
floats, not the maps), so switching channels is instant; the maps of the top images are recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cnnkit.explain.explainable import ExplainableModel

MAX_SAMPLE = 2000  # images: a few thousand at most keeps the pass to seconds on a laptop CPU
BATCH = 128


@dataclass
class ChannelScores:
    layer: str
    indices: np.ndarray  # test-set index of each sampled image
    scores: np.ndarray  # (N, C) mean activation of each channel on each image
    images: torch.Tensor  # uint8 (N, C, H, W): the sample itself


@dataclass
class TopImage:
    index: int  # in the test split
    score: float
    image: np.ndarray  # uint8 H×W×3 as the model sees it
    activation: np.ndarray  # the channel's (h, w) map for this image


def _layer_output(model: torch.nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    from cnnkit.explain.layers import get_layer

    kept: list[torch.Tensor] = []
    handle = get_layer(model, layer).register_forward_hook(lambda _m, _i, out: kept.append(out.detach().clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    if not kept or kept[0].dim() != 4:
        raise ValueError(f"{layer} has no C×H×W maps to rank images by; pick a conv, pooling or activation layer")
    return kept[0]


def channel_scores(model: ExplainableModel, layer: str, sample: int = 500, seed: int = 0) -> ChannelScores:
    """Mean activation of every channel of `layer` on `sample` random test images of the model's dataset."""
    if not model.dataset:
        raise ValueError("this model has no test split of its own; top images need a saved run "
                         "(or a preset that takes 3×32×32 Shapes images)")
    if not 1 <= sample <= MAX_SAMPLE:
        raise ValueError(f"sample between 1 and {MAX_SAMPLE} images, got {sample}")
    from cnnkit.data import load_dataset

    data = load_dataset(model.dataset)
    count = int(data.test_x.shape[0])
    if count == 0:
        raise ValueError(f"the test split of {model.dataset} is empty")
    indices = torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:sample]
    images = data.test_x[indices]
    rows = []
    for start in range(0, len(images), BATCH):
        x = model.normalise(images[start:start + BATCH]).float()
        rows.append(_layer_output(model.model, x, layer).mean(dim=(2, 3)).cpu().numpy())
    return ChannelScores(layer=layer, indices=indices.numpy(), scores=np.concatenate(rows), images=images)


def top_images(model: ExplainableModel, scores: ChannelScores, channel: int, k: int = 8) -> list[TopImage]:
    """The k sampled images with the highest mean activation of `channel`, each with that channel's map."""
    if not 0 <= channel < scores.scores.shape[1]:
        raise ValueError(f"{scores.layer} has {scores.scores.shape[1]} channels; pick 0–{scores.scores.shape[1] - 1}")
    order = np.argsort(-scores.scores[:, channel], kind="stable")[:k]
    chosen = scores.images[torch.as_tensor(order)]
    maps = _layer_output(model.model, model.normalise(chosen).float(), scores.layer)[:, channel].cpu().numpy()
    return [TopImage(index=int(scores.indices[i]), score=float(scores.scores[i, channel]),
                     image=model.array_display(chosen[n]), activation=maps[n]) for n, i in enumerate(order)]
