"""Issue 17: the quick defaults reach every entry point; speedrun94's whitening init and flip TTA."""

from __future__ import annotations

import argparse

import pytest
import torch
import torch.nn as nn

from cnnkit.evaluate import predict, predict_with_flip_tta
from cnnkit.models import build_model, get_preset
from cnnkit.models.whitening import WhiteningError, init_whitening_conv
from cnnkit.train import TrainConfig
from cnnkit.train.recipes import prepare_model, speedrun94_config, transfer_defaults


def normalise(x: torch.Tensor) -> torch.Tensor:
    return (x.float() / 255 - 0.5) / 0.25


def test_cli_train_with_only_the_dataset_runs_the_page_defaults():
    from cnnkit.cli.train_cmd import add_train_flags, config_from_args

    parser = argparse.ArgumentParser()
    add_train_flags(parser)
    assert config_from_args(parser.parse_args(["--dataset", "shapes"])).to_dict() == TrainConfig().to_dict()
    defaults = TrainConfig()
    assert (defaults.model, defaults.optimizer, defaults.scheduler) == ("cnn3_fast", "sgd", "onecycle")


def test_lab_defaults_are_one_setting_for_config_page_and_cli():
    from cnnkit.cli.lab_cmd import register
    from cnnkit.labs import ResolutionLabConfig
    from cnnkit.labs.resolution import LAB_EPOCHS, default_lab_training

    assert ResolutionLabConfig().train_config() == default_lab_training()
    assert default_lab_training().epochs == LAB_EPOCHS and default_lab_training().dataset == "shapes"
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["resolution-lab"])
    assert (args.dataset, args.preset, args.epochs) == ("shapes", TrainConfig().model, LAB_EPOCHS)


def test_transfer_keeps_its_adam_defaults():
    config = transfer_defaults(dataset="shapes")
    assert (config.optimizer, config.lr, config.scheduler, config.label_smoothing, config.weight_decay) == (
        "adam", 1e-3, "constant", 0.0, 0.0)
    assert config.dataset == "shapes" and config.epochs == 3 and config.batch_size == 32


def test_whitening_makes_the_stem_outputs_decorrelated_unit_variance():
    torch.manual_seed(0)
    base, noise = torch.rand(64, 1, 12, 12) * 255, torch.rand(64, 2, 12, 12) * 255
    images = torch.cat([base, 0.5 * base + 0.5 * noise[:, :1], noise[:, 1:]], dim=1).to(torch.uint8)  # correlated
    conv = nn.Conv2d(3, 24, 2, bias=True)
    init_whitening_conv(conv, normalise(images))
    with torch.no_grad():
        out = nn.functional.conv2d(normalise(images), conv.weight)[:, :12].permute(1, 0, 2, 3).reshape(12, -1)
    second_moment = out @ out.T / out.shape[1]   # what the init whitens (uncentred, as airbench)
    assert torch.allclose(second_moment, torch.eye(12), atol=0.02)
    assert torch.equal(conv.weight[12:], -conv.weight[:12]) and not conv.bias.any()


def test_whitening_says_what_is_wrong():
    with pytest.raises(WhiteningError, match="needs 24 output channels"):
        init_whitening_conv(nn.Conv2d(3, 16, 2), torch.zeros(2, 3, 8, 8))
    with pytest.raises(WhiteningError, match="shaped"):
        init_whitening_conv(nn.Conv2d(3, 24, 2), torch.zeros(2, 1, 8, 8))


def test_speedrun_recipe_whitens_and_freezes_only_speedrun94():
    config = speedrun94_config(dataset="shapes", epochs=1)
    config.validate()
    assert config.model == "speedrun94" and config.augment == {"hflip": True, "crop_padding": 2}
    model = build_model(get_preset("speedrun94"))
    images = (torch.rand(40, 3, 32, 32) * 255).to(torch.uint8)
    assert prepare_model(model, config, images, normalise)
    stem = model.layers[0]
    assert not stem.weight.requires_grad and stem.bias.requires_grad
    other = build_model(get_preset("cnn3_fast"))
    before = other.layers[0].weight.clone()
    assert not prepare_model(other, TrainConfig(), images, normalise)
    assert torch.equal(other.layers[0].weight, before) and other.layers[0].weight.requires_grad


def test_flip_tta_averages_an_image_and_its_mirror():
    class LeftHalfBrightness(nn.Module):   # sees which side is bright: not flip-invariant
        def forward(self, x):
            left = x[..., : x.shape[-1] // 2].mean(dim=(1, 2, 3))
            return torch.stack([left, -left], dim=1)

    x = torch.zeros(3, 3, 4, 4, dtype=torch.uint8)
    x[..., :2] = 255
    model = LeftHalfBrightness()
    plain = predict(model, x, normalise)
    tta = predict_with_flip_tta(model, x, normalise, batch_size=2)
    mirrored = predict(model, x.flip(-1), normalise)
    assert torch.allclose(tta, (plain + mirrored) / 2)
    assert not torch.allclose(tta, plain)
    assert predict_with_flip_tta(model, x[:0], normalise).shape[0] == 0


def test_train_whitens_the_speedrun_stem_and_tests_with_flips(monkeypatch):
    """The loop applies the recipe: speedrun94's first conv is whitened and frozen before step one, and
    flip_tta evaluates on each image and its mirror (so a flip-symmetric input gives the same accuracy)."""
    import torch

    from cnnkit.store import load_run_model
    from cnnkit.train import train
    from cnnkit.train.recipes import speedrun94_config
    from tests.helpers.train import patch_dataset, tiny_dataset

    patch_dataset(monkeypatch, tiny_dataset(n_train=64, n_test=16, size=32))
    config = speedrun94_config(dataset="tiny", epochs=1, batch_size=32, device="cpu", precision="fp32",
                               train_subset=0, log_every=1)
    assert config.flip_tta
    result = train(config)
    assert result.status == "done" and result.test_acc is not None
    loaded = load_run_model(result.run_dir)
    first = next(m for m in loaded.model.modules() if isinstance(m, torch.nn.Conv2d))
    weights = first.weight.detach().flatten(1)
    half = len(weights) // 2
    # Whitening filters come in +/- pairs; a trained (unfrozen) or random stem would not keep that exactly.
    torch.testing.assert_close(weights[:half], -weights[half:])
    assert weights[:half].norm() > 0
