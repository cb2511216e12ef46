"""Augmentation of whole batches of tensors on any device; the same on one image for previews.

Random numbers come from a CPU torch.Generator and are moved to the batch's device, so a
seed gives the same augmentations on CPU and CUDA, and no per-image Python work is done.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """Every augmentation is off by default."""

    hflip: bool = False          # flip left-right with probability 0.5
    crop_padding: int = 0        # pad by this many pixels (zeros), then crop back at a random offset
    rotation: float = 0.0        # rotate by up to +-this many degrees
    brightness: float = 0.0      # multiply by a factor in [1 - b, 1 + b]
    contrast: float = 0.0        # scale around the image mean by a factor in [1 - c, 1 + c]
    saturation: float = 0.0      # scale away from grey by a factor in [1 - s, 1 + s]
    scale: float = 0.0           # zoom by a factor in [1 - s, 1 + s]
    cutout: int = 0              # blank one random square of this side (pixels)

    def is_identity(self) -> bool:
        return not (self.hflip or self.crop_padding or self.rotation or self.brightness
                    or self.contrast or self.saturation or self.scale or self.cutout)

    def validate(self) -> None:
        for name in ("crop_padding", "cutout"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")
        for name in ("rotation", "brightness", "contrast", "saturation", "scale"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")
        for name in ("brightness", "contrast", "saturation", "scale"):
            if getattr(self, name) >= 1:
                raise ValueError(f"{name} must be below 1 (a factor range of [1 - {name}, 1 + {name}])")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AugmentConfig":
        """Settings from JSON-like data; ValueError naming an unknown setting or a value of the wrong type."""
        if not isinstance(d, dict):
            raise ValueError(f"augmentation settings must be a JSON object (got {type(d).__name__})")
        known = cls.__dataclass_fields__
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise ValueError(f"unknown augmentation setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
        values = {}
        for name, value in d.items():
            default = known[name].default
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"augmentation setting {name!r} must be true or false (got {value!r:.40})")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"augmentation setting {name!r} must be a number (got {value!r:.40})")
            elif isinstance(default, int) and not float(value).is_integer():
                raise ValueError(f"augmentation setting {name!r} must be a whole number (got {value!r:.40})")
            elif isinstance(default, int):
                value = int(value)
            values[name] = value
        return cls(**values)


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator) * (high - low) + low


def _geometry(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None) -> torch.Tensor:
    """Crop-with-padding, rotation and scale as one affine resampling per batch."""
    n, _, h, w = x.shape
    angle = _uniform(n, -config.rotation, config.rotation, generator) * (math.pi / 180)
    zoom = _uniform(n, 1 - config.scale, 1 + config.scale, generator) if config.scale else torch.ones(n)
    p = config.crop_padding
    # Integer pixel shifts in [-p, p]: the same as padding by p and cropping at a random offset.
    shift_x = torch.randint(-p, p + 1, (n,), generator=generator).float() if p else torch.zeros(n)
    shift_y = torch.randint(-p, p + 1, (n,), generator=generator).float() if p else torch.zeros(n)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.zeros(n, 2, 3)
    # Output->input sampling grid in normalised coordinates (aspect-corrected rotation).
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = -sin * h / w
    theta[:, 1, 0] = sin * w / h
    theta[:, 1, 1] = cos
    theta[:, 0, 2] = -2 * shift_x / w
    theta[:, 1, 2] = -2 * shift_y / h
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Pure shifts land exactly on pixel centres: nearest keeps them lossless.
    mode = "bilinear" if (config.rotation or config.scale) else "nearest"
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _colour(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None, top: float) -> torch.Tensor:
    n, c = x.shape[0], x.shape[1]
    shape = (n, 1, 1, 1)
    if config.brightness:
        x = x * _uniform(n, 1 - config.brightness, 1 + config.brightness, generator).to(x.device).view(shape)
    if config.contrast:
        factor = _uniform(n, 1 - config.contrast, 1 + config.contrast, generator).to(x.device).view(shape)
        grey = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
        x = (x - grey) * factor + grey
    if config.saturation and c == 3:
        factor = _uniform(n, 1 - config.saturation, 1 + config.saturation, generator).to(x.device).view(shape)
        grey = _grey(x)
        x = (x - grey) * factor + grey
    return x.clamp(0, top)


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] != 3:
        return x.mean(dim=1, keepdim=True)
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _cutout(x: torch.Tensor, side: int, generator: torch.Generator | None) -> torch.Tensor:
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=generator).to(x.device)
    cx = torch.randint(0, w, (n,), generator=generator).to(x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = cy - side // 2, cx - side // 2
    inside = ((ys >= top.view(n, 1, 1)) & (ys < (top + side).view(n, 1, 1))
              & (xs >= left.view(n, 1, 1)) & (xs < (left + side).view(n, 1, 1)))
    return x.masked_fill(inside.unsqueeze(1), 0)


def augment_batch(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment an (N, C, H, W) batch; uint8 or float (taken as [0, 1] images), same dtype and device out.

    generator: a CPU torch.Generator for reproducible draws (None uses torch's global RNG).
    """
    if x.ndim != 4:
        raise ValueError(f"augment_batch wants an (N, C, H, W) batch, got shape {tuple(x.shape)}")
    config.validate()
    if config.is_identity() or x.shape[0] == 0:
        return x.clone()
    dtype = x.dtype
    top = 255.0 if dtype == torch.uint8 else 1.0
    out = x.float() if dtype == torch.uint8 or not dtype.is_floating_point else x
    n = out.shape[0]
    if config.hflip:
        flip = (torch.rand(n, generator=generator) < 0.5).to(out.device).view(n, 1, 1, 1)
        out = torch.where(flip, out.flip(-1), out)
    if config.crop_padding or config.rotation or config.scale:
        out = _geometry(out, config, generator)
    if config.brightness or config.contrast or config.saturation:
        out = _colour(out, config, generator, top)
    if config.cutout:
        out = _cutout(out, config.cutout, generator)
    if dtype == torch.uint8:
        return out.round().clamp_(0, 255).to(torch.uint8)
    return out.to(dtype)


def augment_image(x_chw: torch.Tensor, config: AugmentConfig, n: int = 8, seed: int = 0) -> torch.Tensor:
    """n augmented variants (n, C, H, W) of one (C, H, W) image, reproducible from seed."""
    if x_chw.ndim != 3:
        raise ValueError(f"augment_image wants one (C, H, W) image, got shape {tuple(x_chw.shape)}")
    generator = torch.Generator().manual_seed(seed)
    batch = x_chw.unsqueeze(0).expand(n, *x_chw.shape).contiguous()
    return augment_batch(batch, config, generator)
