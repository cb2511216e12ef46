"""Shapes: a procedurally generated, offline dataset of one coloured shape per image.

Every image holds exactly one object (so Grad-CAM has one thing to find) at a random
position, size, rotation and colour, on a two-colour gradient background with noise.
Image i depends only on (seed, i), so `generate_shapes(n)` is a prefix of
`generate_shapes(n + k)` with the same seed.
"""

from __future__ import annotations

import numpy as np
import torch

SHAPE_CLASSES: list[str] = [
    "circle", "square", "triangle", "star", "cross",
    "ring", "ellipse", "hexagon", "crescent", "heart",
]

# Bump whenever the drawing changes: it is part of the cache key, so old caches are not reused.
SHAPES_VERSION = 3
_SUPERSAMPLE = 2  # render at 2x and average 2x2 blocks: smooth edges without PIL
_CHUNK = 512


def _draw_params(n: int, seed: int) -> dict[str, np.ndarray]:
    """Per-image random parameters; image i uses its own generator seeded by (seed, i)."""
    keys = ["label", "cx", "cy", "radius", "angle", "fg", "bg0", "bg1", "bg_dir", "noise"]
    out: dict[str, list] = {k: [] for k in keys}
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        out["label"].append(rng.integers(len(SHAPE_CLASSES)))
        radius = rng.uniform(0.25, 0.42)  # in units of the image side
        out["radius"].append(radius)
        # Keep the object mostly inside the frame.
        margin = radius * 0.8
        out["cx"].append(rng.uniform(margin, 1 - margin))
        out["cy"].append(rng.uniform(margin, 1 - margin))
        out["angle"].append(rng.uniform(0, 2 * np.pi))
        fg = rng.uniform(0, 255, 3)
        # Background colours far enough from the object colour that the shape stays visible.
        bgs = []
        while len(bgs) < 2:
            c = rng.uniform(0, 255, 3) if not bgs else np.clip(bgs[0] + rng.uniform(-60, 60, 3), 0, 255)
            if np.abs(c - fg).sum() > 180:
                bgs.append(c)
        out["fg"].append(fg)
        out["bg0"].append(bgs[0])
        out["bg1"].append(bgs[1])
        out["bg_dir"].append(rng.uniform(0, 2 * np.pi))
        out["noise"].append(rng.uniform(2, 10))
    return {k: np.asarray(v) for k, v in out.items()}


def _class_mask(cls: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-mask of shape class `cls` in local (rotated, unit-radius) coordinates u, v."""
    au, av = np.abs(u), np.abs(v)
    if cls == 0:  # circle
        return u * u + v * v <= 1.0
    if cls == 1:  # square
        return np.maximum(au, av) <= 0.78
    if cls == 2:  # equilateral triangle with circumradius 1: three half-planes
        inside = np.ones(u.shape, dtype=bool)
        for k in range(3):
            a = np.pi / 2 + k * 2 * np.pi / 3
            inside &= (u * np.cos(a) + v * np.sin(a)) >= -0.5
        return inside
    if cls == 3:  # five-pointed star: radius oscillates between 0.45 and 1
        theta = np.arctan2(v, u)
        return np.sqrt(u * u + v * v) <= 0.45 + 0.55 * np.abs(np.cos(2.5 * theta)) ** 2.5
    if cls == 4:  # cross
        return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))
    if cls == 5:  # ring
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.55 ** 2)
    if cls == 6:  # ellipse, aspect 2:1
        return u * u + (v / 0.5) ** 2 <= 1.0
    if cls == 7:  # hexagon: six half-planes
        inside = np.ones(u.shape, dtype=bool)
        for k in range(6):
            a = k * np.pi / 3
            inside &= (u * np.cos(a) + v * np.sin(a)) <= 0.87
        return inside
    if cls == 8:  # crescent: a disc minus a shifted disc
        return (u * u + v * v <= 1.0) & (((u - 0.45) ** 2 + v * v) > 0.75 ** 2)
    # heart curve (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, scaled to fit the unit radius
    hx, hy = u * 1.25, -v * 1.25 + 0.2
    return (hx * hx + hy * hy - 1) ** 3 - hx * hx * hy ** 3 <= 0


def _masks(label: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-masks for a chunk of images (label per image, u/v per image and pixel)."""
    inside = np.zeros(u.shape, dtype=bool)
    for cls in np.unique(label):
        sel = label == cls
        inside[sel] = _class_mask(int(cls), u[sel], v[sel])
    return inside


def _coverage(params: dict[str, np.ndarray], start: int, stop: int, size: int) -> np.ndarray:
    """The share of each output pixel the shape covers (n, size, size), from a supersampled mask."""
    n = stop - start
    s = size * _SUPERSAMPLE
    coords = ((np.arange(s) + 0.5) / s).astype(np.float32)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    sl = slice(start, stop)
    cx = params["cx"][sl, None, None].astype(np.float32)
    cy = params["cy"][sl, None, None].astype(np.float32)
    radius = params["radius"][sl, None, None].astype(np.float32)
    angle = params["angle"][sl, None, None].astype(np.float32)
    dx, dy = xx[None] - cx, yy[None] - cy
    cos, sin = np.cos(angle), np.sin(angle)
    u = (dx * cos + dy * sin) / radius
    v = (-dx * sin + dy * cos) / radius
    mask = _masks(params["label"][sl], u, v).astype(np.float32)
    return mask.reshape(n, size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(2, 4))


def _render(params: dict[str, np.ndarray], start: int, stop: int, size: int, seed: int) -> np.ndarray:
    n = stop - start
    sl = slice(start, stop)
    cover = _coverage(params, start, stop, size)  # anti-aliased coverage at the output size
    # Gradient background along a random direction.
    cs = (np.arange(size) + 0.5) / size
    gy, gx = np.meshgrid(cs, cs, indexing="ij")
    d = params["bg_dir"][sl, None, None]
    t = ((gx[None] - 0.5) * np.cos(d) + (gy[None] - 0.5) * np.sin(d)) / 1.42 + 0.5
    bg = (params["bg0"][sl, :, None, None] * (1 - t[:, None]) + params["bg1"][sl, :, None, None] * t[:, None])
    fg = params["fg"][sl, :, None, None]
    image = bg * (1 - cover[:, None]) + fg * cover[:, None]
    # Noise per image from its own generator, so image i never depends on n.
    for j in range(n):
        noise = np.random.default_rng([seed, start + j, 7919]).standard_normal(image.shape[1:], dtype=np.float32)
        image[j] += noise * params["noise"][start + j]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def generate_shapes(n: int, seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """n Shapes images as uint8 (n, 3, size, size) and int64 labels (n,), deterministic from seed."""
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    if size < 4:
        raise ValueError(f"size must be at least 4 pixels, got {size}")
    if n == 0:
        return torch.zeros((0, 3, size, size), dtype=torch.uint8), torch.zeros(0, dtype=torch.int64)
    params = _draw_params(n, seed)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        images[start:stop] = _render(params, start, stop, size, seed)
    return torch.from_numpy(images), torch.from_numpy(params["label"].astype(np.int64))


def shapes_masks(n: int, seed: int = 0, size: int = 32) -> torch.Tensor:
    """Where the object is in each of `generate_shapes(n, seed, size)`'s images: bool (n, size, size),
    True where the shape covers at least half a pixel. For checking where Grad-CAM looks."""
    params = _draw_params(n, seed)
    masks = np.empty((n, size, size), dtype=bool)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        masks[start:stop] = _coverage(params, start, stop, size) >= 0.5
    return torch.from_numpy(masks)
