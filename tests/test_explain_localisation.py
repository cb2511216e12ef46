"""Grad-CAM localises: on images with one coloured square at a random place, its maximum lands on the square.

A tiny CNN is trained for a few seconds to tell the square's colour (red, green or blue) on
a noisy grey background, or that there is no square (a fourth class: without it the net
can call one colour "neither of the others" and never look at it). Nothing but the square
carries the class, so a faithful map must peak there.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from cnnkit.explain import explain
from tests.helpers.explain import TinyCNN

SIZE = 32
SIDE = 8
COLORS = torch.tensor([[1.0, -0.6, -0.6], [-0.6, 1.0, -0.6], [-0.6, -0.6, 1.0]])


EMPTY = 3  # the "no square" class


def squares(n: int, seed: int, with_empty: bool = True) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """n images (n, 3, 32, 32), labels, and boxes (top, left) of each square."""
    generator = torch.Generator().manual_seed(seed)
    x = 0.35 * torch.randn(n, 3, SIZE, SIZE, generator=generator)
    labels = torch.randint(0, 4 if with_empty else 3, (n,), generator=generator)
    boxes = torch.randint(0, SIZE - SIDE + 1, (n, 2), generator=generator)
    for i in range(n):
        if labels[i] == EMPTY:
            continue
        top, left = boxes[i].tolist()
        x[i, :, top:top + SIDE, left:left + SIDE] = COLORS[labels[i]].view(3, 1, 1) * 1.5
    return x, labels, boxes.numpy()


def train_tiny(seconds_budget: float = 60.0, seed: int = 0) -> tuple[nn.Module, float]:
    torch.manual_seed(seed)
    model = TinyCNN(3, 4)
    x, y, _ = squares(768, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    model.train()
    for _epoch in range(8):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(_epoch))
        for batch in order.split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
        if time.perf_counter() - start > seconds_budget:
            break
    model.eval()
    xt, yt, _ = squares(200, seed=2)
    with torch.no_grad():
        accuracy = float((model(xt).argmax(1) == yt).float().mean())
    return model, accuracy


def hit_rate(model: nn.Module, n: int = 100, seed: int = 3) -> float:
    x, labels, boxes = squares(n, seed=seed, with_empty=False)  # every test image has a square
    hits = 0
    for i in range(n):
        result = explain(model, x[i:i + 1], method="gradcam", target=int(labels[i]))
        row, col = np.unravel_index(int(result.map.argmax()), result.map.shape)
        top, left = boxes[i]
        hits += int(top <= row < top + SIDE and left <= col < left + SIDE)
    return hits / n


def test_grad_cam_maximum_falls_inside_the_object():
    model, accuracy = train_tiny()
    assert accuracy >= 0.9, f"the tiny CNN did not learn the task (accuracy {accuracy:.2f})"
    rate = hit_rate(model)
    print(f"\nlocalisation: test accuracy {accuracy:.3f}, Grad-CAM hit rate {rate:.3f}")
    assert rate >= 0.7, f"Grad-CAM maximum inside the square for only {rate:.0%} of test images"


def test_an_untrained_model_does_not_localise_as_well():
    # The same measurement on random weights: a control that shows the hit rate means something.
    torch.manual_seed(5)
    rate = hit_rate(TinyCNN(3, 4).eval(), n=60)
    box_area_fraction = (SIDE * SIDE) / (SIZE * SIZE)  # ~6% by chance
    assert rate < 0.7, rate
    print(f"\nuntrained control hit rate {rate:.3f} (chance ≈ {box_area_fraction:.3f})")
