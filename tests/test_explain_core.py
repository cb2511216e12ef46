"""explain(): Grad-CAM equals a hand-written one; the default layer rule; every method's map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.explain import (
    METHODS,
    choose_default_layer,
    conv_layers,
    default_layer,
    explain,
    normalise_map,
    prepare_model,
    resolve_target,
    top_k,
)
from cnnkit.explain.layers import LayerInfo
from tests.helpers.explain import random_input, tiny_model


def hand_written_grad_cam(model: nn.Module, x: torch.Tensor, layer: nn.Module, target: int) -> np.ndarray:
    """Grad-CAM from its definition: forward/backward hooks, channel weight = mean gradient."""
    store: dict[str, torch.Tensor] = {}

    def forward_hook(_module, _inputs, output):
        store["activation"] = output.detach().clone()
        output.register_hook(lambda grad: store.__setitem__("gradient", grad.detach().clone()))

    handle = layer.register_forward_hook(forward_hook)
    try:
        x = x.clone().requires_grad_(True)
        logits = model(x)
        model.zero_grad()
        logits[0, target].backward()
    finally:
        handle.remove()
    weights = store["gradient"].mean(dim=(2, 3), keepdim=True)  # (1, K, 1, 1)
    cam = F.relu((weights * store["activation"]).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    return (cam / cam.max()).numpy()


@pytest.mark.parametrize("layer_name", ["layers.3", "layers.6"])
def test_grad_cam_equals_hand_written(layer_name):
    model = prepare_model(tiny_model(seed=1))
    x = random_input(seed=2)
    compared = 0
    for target in range(4):
        expected = hand_written_grad_cam(model, x, model.get_submodule(layer_name), target)
        if not np.isfinite(expected).all():  # all-zero CAM for this class (0/0); nothing to compare
            continue
        compared += 1
        result = explain(model, x, method="gradcam", layer_name=layer_name, target=target)
        assert result.map.shape == (32, 32)
        assert result.layer == layer_name and result.target == target
        np.testing.assert_allclose(result.map, expected, atol=1e-5)
    assert compared >= 2


def test_default_target_is_the_predicted_class():
    model = tiny_model(seed=3)
    x = random_input(seed=4)
    predicted = int(model(x).argmax())
    result = explain(model, x)
    assert result.target == predicted
    assert result.method == "gradcam"


def test_conv_layers_lists_convs_and_their_block_ends_in_forward_order_with_sizes():
    model = tiny_model()
    layers = conv_layers(model, random_input())
    assert [(l.name, l.output_shape, l.block_of) for l in layers] == [
        ("layers.0", (8, 32, 32), None), ("layers.1", (8, 32, 32), "layers.0"),
        ("layers.3", (16, 16, 16), None), ("layers.4", (16, 16, 16), "layers.3"),
        ("layers.6", (16, 8, 8), None), ("layers.7", (16, 8, 8), "layers.6")]
    assert [l.kind for l in layers if l.block_of] == ["ReLU"] * 3


def test_default_layer_is_last_conv_at_least_4x4_read_at_its_block_end_and_says_why():
    model = tiny_model()
    choice = default_layer(model, random_input(size=32))
    # conv layers.6 is chosen; Grad-CAM reads the ReLU after it (layers.7), the end of its block
    assert choice.name == "layers.7"
    assert "layers.6 is the last conv layer" in choice.reason and "8×8" in choice.reason
    assert "after its ReLU (layers.7)" in choice.reason
    # At 12×12 the last conv's output is 3×3: too coarse, so the middle one (6×6) wins.
    choice = default_layer(model, random_input(size=12))
    assert choice.name == "layers.4"
    assert "6×6" in choice.reason and "too coarse" in choice.reason and "3×3" in choice.reason


def test_block_output_skips_batch_norm_and_activation_but_not_pooling():
    from cnnkit.explain.layers import block_output

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3), nn.MaxPool2d(2), nn.Flatten())
    assert block_output(model, "0") == "2"      # conv → BN → ReLU: the ReLU's output
    assert block_output(model, "4") is None     # conv → pool: the conv itself stays
    wrapped = nn.Sequential()
    wrapped.add_module("features", model)
    assert block_output(wrapped, "features.0") == "features.2"
    assert default_layer(wrapped, torch.randn(1, 3, 20, 20)).name == "features.4"  # 7×7 conv with no block end


def test_an_explicit_conv_layer_is_read_exactly_there():
    model = tiny_model()
    x = random_input()
    assert explain(model, x, layer_name="layers.6").layer == "layers.6"
    assert explain(model, x).layer == "layers.7"


def test_default_layer_when_nothing_is_4x4_takes_the_largest():
    layers = [LayerInfo("a", "Conv2d", True, (8, 3, 3)), LayerInfo("b", "Conv2d", True, (8, 1, 1))]
    choice = choose_default_layer(layers)
    assert choice.name == "a" and "no conv layer" in choice.reason
    with pytest.raises(ValueError, match="no convolutional layer"):
        choose_default_layer([])


def test_conv_blocks_count_as_candidates():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return torch.relu(self.conv(x)) + x

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Block(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    layers = conv_layers(model, random_input(size=16))
    assert [l.name for l in layers] == ["0", "1.conv", "1"]
    assert not layers[-1].is_conv
    choice = default_layer(model, random_input(size=16))
    assert choice.name == "1" and "conv block" in choice.reason


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_a_normalised_map_of_input_size(method):
    model = tiny_model(seed=5)
    x = random_input(seed=6, size=24)
    result = explain(model, x, method=method, target=1)
    assert result.map.shape == (24, 24)
    assert result.map.dtype == np.float32
    assert result.map.min() >= 0.0 and result.map.max() <= 1.0
    assert result.map.max() == pytest.approx(1.0)  # a real signal, not an empty map
    assert result.seconds >= 0.0
    assert (result.layer is not None) == (method in ("gradcam", "guided_gradcam"))


def test_saliency_matches_the_input_gradient():
    model = tiny_model(seed=7)
    x = random_input(seed=8)
    x_grad = x.clone().requires_grad_(True)
    model(x_grad)[0, 2].backward()
    expected = normalise_map(x_grad.grad[0].abs().max(dim=0).values, clip_percentile=99.5)
    np.testing.assert_allclose(explain(model, x, method="saliency", target=2).map, expected, atol=1e-6)


def test_occlusion_finds_the_only_pixels_that_matter():
    # A "model" whose class-0 score is the sum of a 4×4 patch: covering elsewhere changes nothing.
    class PatchSum(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1, bias=False)
            nn.init.ones_(self.conv.weight)

        def forward(self, x):
            y = self.conv(x)[:, :, 8:12, 20:24].sum(dim=(1, 2, 3))
            return torch.stack([y, -y], dim=1)

    x = torch.ones(1, 1, 32, 32)
    result = explain(PatchSum(), x, method="occlusion", target=0)
    row, col = np.unravel_index(result.map.argmax(), result.map.shape)
    assert 8 <= row < 12 and 20 <= col < 24
    assert result.map[:4, :4].max() == 0.0


def test_top_k_matches_softmax():
    model = tiny_model(seed=9)
    x = random_input(seed=10)
    with torch.no_grad():
        probabilities = torch.softmax(model(x), dim=1)[0]
    rows = top_k(model, x, ["a", "b", "c", "d"], k=3)
    assert [r["index"] for r in rows] == probabilities.argsort(descending=True)[:3].tolist()
    assert rows[0]["class"] == "abcd"[rows[0]["index"]]
    assert rows[0]["probability"] == pytest.approx(float(probabilities.max()), abs=1e-6)
    assert len(top_k(model, x, None, k=10)) == 4  # k capped at the number of classes


def test_prepare_model_keeps_outputs_and_turns_off_inplace_and_relu6():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU6(), nn.ReLU(inplace=True), nn.Flatten(), nn.LazyLinear(2))
    x = random_input(size=8) * 10
    before = model(x).detach()
    prepare_model(model)
    assert not any(getattr(m, "inplace", False) for m in model.modules())
    assert isinstance(model[1], nn.ReLU)  # so captum's guided backprop rectifies it too
    torch.testing.assert_close(model(x).detach(), before)


def test_guided_grad_cam_works_with_inplace_relu():
    model = tiny_model(seed=11)
    maps = [explain(model, random_input(seed=12), method="guided_gradcam", layer_name="layers.6", target=t).map
            for t in range(4)]
    assert all(m.shape == (32, 32) and np.isfinite(m).all() for m in maps)
    # An untrained net's Grad-CAM can be all-negative (so zero) for some classes, not for all.
    assert max(m.max() for m in maps) == pytest.approx(1.0)


def test_resolve_target_and_bad_input_messages():
    classes = ["cat", "dog"]
    assert resolve_target(None, classes, predicted=1, num_classes=2) == 1
    assert resolve_target("Dog", classes, predicted=0, num_classes=2) == 1
    assert resolve_target("0", classes, predicted=1, num_classes=2) == 0
    with pytest.raises(ValueError, match="out of range"):
        resolve_target(5, classes, predicted=0, num_classes=2)
    with pytest.raises(ValueError, match="unknown target class 'horse'"):
        resolve_target("horse", classes, predicted=0, num_classes=2)
    model = tiny_model()
    with pytest.raises(ValueError, match="unknown method"):
        explain(model, random_input(), method="lime")
    with pytest.raises(ValueError, match="no layer called 'nope'"):
        explain(model, random_input(), layer_name="nope")
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        explain(model, torch.zeros(3, 32, 32))


def test_normalise_map_constant_is_zero():
    assert normalise_map(np.full((3, 3), 7.0)).max() == 0.0
    np.testing.assert_allclose(normalise_map(np.array([[1.0, 3.0]])), [[0.0, 1.0]])


def test_normalise_map_clips_sparse_peaks():
    values = np.arange(1000, dtype=np.float32)
    values[-1] = 1e6  # one huge gradient
    plain, clipped = normalise_map(values), normalise_map(values, clip_percentile=99.0)
    assert plain[500] < 0.001  # min-max: everything but the peak is invisible
    assert clipped[500] == pytest.approx(500 / np.percentile(values, 99.0), rel=1e-4)
    assert clipped.max() == 1.0 and (clipped >= 0).all()
    zeros = np.zeros(1000, dtype=np.float32)
    zeros[0] = 1.0  # nearly all zero: the percentile is 0, so the peak keeps the full range
    assert normalise_map(zeros, clip_percentile=99.0)[0] == 1.0


def test_no_hooks_are_left_behind():
    model = tiny_model(seed=13)
    x = random_input(seed=14)
    for method in METHODS:
        explain(model, x, method=method, target=0)
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not module._backward_hooks and not getattr(module, "_backward_pre_hooks", {})
    # And the model still computes what it computed before.
    torch.testing.assert_close(model(x), tiny_model(seed=13)(x))


def test_model_without_conv_layers():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5))
    x = random_input(size=8)
    assert conv_layers(mlp, x) == []
    with pytest.raises(ValueError, match="no convolutional layer"):
        explain(mlp, x, method="gradcam")
    assert explain(mlp, x, method="saliency").map.shape == (8, 8)
