"""Resolution: downsample a batch of images to any size, optionally back up to the original size."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

RESIZE_MODES = ("area", "bilinear", "nearest")


def _interpolate(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if mode == "bilinear":
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    if mode == "area" and (size > x.shape[-1] or size > x.shape[-2]):
        # Area averaging only means something when shrinking; growing uses bilinear.
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return F.interpolate(x, size=(size, size), mode=mode)


def resize_batch(x: torch.Tensor, size: int, mode: str = "area", restore_size: int | None = None,
                 restore_mode: str | None = None) -> torch.Tensor:
    """x (N, C, H, W) resized to size x size, then (if restore_size) back to restore_size.

    uint8 in gives uint8 out (rounded); float in gives float out. restore_mode defaults to
    bilinear after area/bilinear and nearest after nearest (blocky pixels stay blocky).
    """
    if x.ndim != 4:
        raise ValueError(f"resize_batch wants an (N, C, H, W) batch, got shape {tuple(x.shape)}")
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; choose one of {', '.join(RESIZE_MODES)}")
    if size < 1 or (restore_size is not None and restore_size < 1):
        raise ValueError("sizes must be at least 1 pixel")
    dtype = x.dtype
    out = x.float()
    if (out.shape[-2], out.shape[-1]) != (size, size):
        out = _interpolate(out, size, mode)
    if restore_size is not None and restore_size != size:
        back = restore_mode or ("nearest" if mode == "nearest" else "bilinear")
        if back not in RESIZE_MODES:
            raise ValueError(f"unknown restore mode {back!r}")
        out = _interpolate(out, restore_size, back)
    if dtype == torch.uint8:
        return out.round().clamp_(0, 255).to(torch.uint8)
    return out.to(dtype)


def transform_resolution(x: torch.Tensor, image_size: int, resolution: Optional[int], mode: str,
                         restore: bool, chunk: int = 4096) -> torch.Tensor:
    """uint8 images at the network's input size, optionally degraded to `resolution` first.

    restore=True resamples the small image back up to image_size (what TOTV/TVTV compare);
    restore=False feeds it at its small size (for networks that end in global pooling)."""
    native = x.shape[-1]
    if resolution is None or resolution == image_size:
        if native == image_size and x.shape[-2] == image_size:
            return x
        return _chunked(x, chunk, lambda part: resize_batch(part, image_size, mode="bilinear"))
    return _chunked(x, chunk, lambda part: resize_batch(part, resolution, mode=mode,
                                                        restore_size=image_size if restore else None))


def _chunked(x: torch.Tensor, chunk: int, fn) -> torch.Tensor:
    if len(x) == 0:
        return fn(x[:1])[:0]
    return torch.cat([fn(x[i:i + chunk]) for i in range(0, len(x), chunk)])
