"""The model-randomisation sanity check of Adebayo et al. (2018), "Sanity Checks for Saliency Maps".

If a map barely changes when the network's weights are replaced by random ones, the map
shows the image (edges, contrast) rather than what the trained network learned. The check
computes the same map on a copy with re-initialised weights and reports the Spearman rank
correlation between the two: near 1 is a warning sign, near 0 means the map depends on
the learned weights.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from cnnkit.explain.core import explain


@dataclass
class SanityCheck:
    map_original: np.ndarray
    map_random: np.ndarray
    spearman_rho: float
    method: str
    layer: str | None
    target: int

    def __iter__(self):
        # So `original, random, rho = randomization_check(...)` works too.
        return iter((self.map_original, self.map_random, self.spearman_rho))


def randomized_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy whose every module with reset_parameters() (conv, linear, batch norm) is re-initialised."""
    clone = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in clone.modules():
            if hasattr(module, "reset_parameters") and callable(module.reset_parameters):
                module.reset_parameters()
            if hasattr(module, "reset_running_stats") and callable(module.reset_running_stats):
                module.reset_running_stats()
    return clone.eval()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho between two maps (0.0 when either is constant, where rho is undefined)."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def randomization_check(model: nn.Module, x: torch.Tensor, layer: str | None = None, target: int | None = None,
                        method: str = "gradcam", seed: int = 0) -> SanityCheck:
    """The map on the trained model and on a randomised copy, for the same input, layer and class."""
    original = explain(model, x, method=method, layer_name=layer, target=target)
    random_model = randomized_copy(model, seed=seed)
    randomized = explain(random_model, x, method=method, layer_name=original.layer, target=original.target)
    return SanityCheck(map_original=original.map, map_random=randomized.map,
                       spearman_rho=rank_correlation(original.map, randomized.map),
                       method=method, layer=original.layer, target=original.target)
