"""Batch augmentation: each operation does what it says, dtypes and devices are kept, seeds repeat."""

from __future__ import annotations

import pytest
import torch

from cnnkit.data import AugmentConfig, augment_batch, augment_image


def batch(n=16, c=3, size=16, seed=0):
    return torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_default_config_is_identity():
    x = batch()
    assert torch.equal(augment_batch(x, AugmentConfig()), x)


def test_hflip_flips_about_half_and_nothing_else():
    x = batch(n=64)
    out = augment_batch(x, AugmentConfig(hflip=True), gen())
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48


def test_crop_padding_is_an_integer_shift_with_zero_fill():
    x = batch(n=32, size=12) // 2 + 100  # no zeros in the image itself
    p = 3
    out = augment_batch(x, AugmentConfig(crop_padding=p), gen(1))
    for o, i in zip(out, x):
        padded = torch.nn.functional.pad(i, (p, p, p, p))
        matches = [(dy, dx) for dy in range(2 * p + 1) for dx in range(2 * p + 1)
                   if torch.equal(padded[:, dy:dy + 12, dx:dx + 12], o)]
        assert matches, "every output is a crop of the zero-padded image"


def test_rotation_and_scale_change_geometry_but_keep_shape():
    x = batch(n=8, size=20)
    out = augment_batch(x, AugmentConfig(rotation=30, scale=0.2), gen())
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert not torch.equal(out, x)


def test_brightness_scales_pixels_within_range():
    x = torch.full((50, 3, 4, 4), 100, dtype=torch.uint8)
    out = augment_batch(x, AugmentConfig(brightness=0.5), gen()).float()
    per_image = out.mean(dim=(1, 2, 3))
    assert per_image.min() >= 50 - 1 and per_image.max() <= 150 + 1
    assert per_image.max() - per_image.min() > 30
    # every image scaled uniformly
    assert torch.all(out.amax(dim=(1, 2, 3)) == out.amin(dim=(1, 2, 3)))


def test_contrast_and_saturation_keep_grey_mean():
    grey = torch.full((10, 3, 4, 4), 80, dtype=torch.uint8)
    out = augment_batch(grey, AugmentConfig(contrast=0.5, saturation=0.5), gen())
    assert torch.equal(out, grey)  # a flat grey image has no contrast or colour to change


def test_cutout_blanks_one_square():
    x = torch.full((20, 3, 16, 16), 200, dtype=torch.uint8)
    out = augment_batch(x, AugmentConfig(cutout=4), gen())
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert torch.all(zeros <= 16) and torch.all(zeros >= 4)  # a 4x4 square, clipped at the border
    assert torch.equal(out[:, 0] == 0, out[:, 2] == 0)  # all channels blanked together


def test_float_input_stays_float_and_in_range():
    x = batch().float() / 255
    cfg = AugmentConfig(hflip=True, crop_padding=2, rotation=10, brightness=0.4, contrast=0.3, saturation=0.3,
                        scale=0.1, cutout=3)
    out = augment_batch(x, cfg, gen())
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_seeded_and_grey_images_work():
    cfg = AugmentConfig(hflip=True, crop_padding=2, rotation=10, brightness=0.2, saturation=0.5, cutout=3)
    x = batch(c=1)
    a = augment_batch(x, cfg, gen(5))
    b = augment_batch(x, cfg, gen(5))
    assert torch.equal(a, b) and a.shape == x.shape


def test_augment_image_gives_n_variants():
    image = batch(n=1)[0]
    out = augment_image(image, AugmentConfig(hflip=True, rotation=20), n=6, seed=3)
    assert out.shape == (6, 3, 16, 16)
    assert torch.equal(out, augment_image(image, AugmentConfig(hflip=True, rotation=20), n=6, seed=3))
    with pytest.raises(ValueError, match="one .C, H, W. image"):
        augment_image(batch(n=2), AugmentConfig(), n=2)


def test_invalid_config_is_rejected():
    with pytest.raises(ValueError, match="brightness"):
        augment_batch(batch(), AugmentConfig(brightness=1.5))
    with pytest.raises(ValueError, match="cutout"):
        augment_batch(batch(), AugmentConfig(cutout=-1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batch_stays_on_cuda_and_matches_cpu_for_shifts():
    x = batch()
    cfg = AugmentConfig(hflip=True, crop_padding=2, cutout=3)
    cpu = augment_batch(x, cfg, gen(0))
    gpu = augment_batch(x.cuda(), cfg, gen(0))
    assert gpu.device.type == "cuda" and gpu.dtype == torch.uint8
    assert torch.equal(gpu.cpu(), cpu)
