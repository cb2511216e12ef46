"""The arithmetic view recomputes the framework's values: conv (padding, stride, dilation, groups), pooling,
ReLU, batch norm with running statistics, softmax; other layers get an explanation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnkit.inspect import (NotArithmeticLayer, batchnorm_breakdown, breakdown_at, conv_breakdown, output_size,
                            pool_breakdown, softmax_breakdown, window_diagram)


def _io(module: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        out = module(x)
    return x[0].double().numpy(), out[0].double().numpy()


@pytest.mark.parametrize("settings", [
    dict(kernel_size=3, padding=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, dilation=2, padding=2),
    dict(kernel_size=5, stride=2, padding=0, dilation=1),
    dict(kernel_size=3, padding=1, groups=2),
    dict(kernel_size=3, padding=1, groups=4, bias=False),  # depthwise
    dict(kernel_size=2, stride=1, padding=1),  # even kernel, output larger than the input
])
def test_conv_breakdown_reproduces_every_output_checked(settings):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 8, **settings).eval()
    x = torch.randn(1, 4, 9, 9)
    layer_input, output = _io(conv, x)
    c, h, w = output.shape
    for at in [(0, 0, 0), (c - 1, h - 1, w - 1), (c // 2, h // 2, w - 1), (3, 1, 2)]:
        b = conv_breakdown(conv, layer_input, output, at)
        assert b.matches and b.value == pytest.approx(float(output[at]), abs=1e-5)
        assert b.products is not None and b.weights is not None
        assert b.inputs.shape == b.weights.shape == (4 // conv.groups, *conv.kernel_size)
        assert np.allclose(b.products, b.inputs * b.weights)
        assert b.value == pytest.approx(b.products.sum() + b.bias)


def test_conv_padding_cells_are_zero_and_marked():
    conv = nn.Conv2d(1, 1, 3, padding=1)
    x = torch.arange(1, 26, dtype=torch.float32).view(1, 1, 5, 5)
    b = conv_breakdown(conv, *_io(conv, x), (0, 0, 0))
    assert b.rows == [-1, 0, 1] and b.cols == [-1, 0, 1]
    assert b.inputs[0, 0].tolist() == [0, 0, 0] and b.inputs[0, 1].tolist() == [0, 1, 2]


@pytest.mark.parametrize("pool", [nn.MaxPool2d(2), nn.MaxPool2d(3, stride=2, padding=1), nn.AvgPool2d(2),
                                  nn.AvgPool2d(3, stride=2, padding=1),
                                  nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)])
def test_pool_breakdown_reproduces_the_framework(pool):
    torch.manual_seed(1)
    x = torch.randn(1, 3, 7, 7) - 2  # mostly negative: max pooling must not pick a padding zero
    layer_input, output = _io(pool, x)
    c, h, w = output.shape
    for at in [(0, 0, 0), (2, h - 1, w - 1), (1, h // 2, 0)]:
        b = pool_breakdown(pool, layer_input, output, at)
        assert b.matches, (pool, at, b.value, b.framework_value)


def test_batchnorm_uses_the_running_statistics():
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        bn.running_var.copy_(torch.tensor([4.0, 0.25, 1.0]))
        bn.weight.copy_(torch.tensor([2.0, 1.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    bn.eval()
    x = torch.randn(1, 3, 4, 4)
    b = batchnorm_breakdown(bn, *_io(bn, x), (1, 2, 3))
    assert b.matches
    assert b.terms["μ (running mean)"] == -1.0 and b.terms["σ² (running var)"] == 0.25
    expected = 1.0 * (float(x[0, 1, 2, 3]) + 1.0) / np.sqrt(0.25 + bn.eps) + 0.2
    assert b.value == pytest.approx(expected)


def test_breakdown_at_dispatches_and_explains_other_layers():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5)).eval()
    x = torch.randn(1, 3, 8, 8)
    assert breakdown_at(model, x, "0", (1, 2, 3)).kind == "conv"
    # The in-place ReLU overwrites the batch norm's output: the breakdown still sees the values before it.
    bn = breakdown_at(model, x, "1", (0, 0, 0))
    assert bn.kind == "batchnorm" and bn.matches
    relu = breakdown_at(model, x, "2", (0, 0, 0))
    assert relu.kind == "relu" and relu.matches and relu.value == max(relu.terms["x"], 0.0)
    assert breakdown_at(model, x, "3", (3, 1, 1)).kind == "maxpool"
    with pytest.raises(NotArithmeticLayer, match="Linear layer multiplies"):
        breakdown_at(model, x, "5", (0,))
    with pytest.raises(ValueError, match="outside 0's output"):
        breakdown_at(model, x, "0", (4, 0, 0))


def test_softmax_turns_logits_into_probabilities():
    b = softmax_breakdown(np.array([2.0, 1.0, 0.1, 1000.0]))
    assert b.matches and b.probabilities.sum() == pytest.approx(1.0)
    assert np.isfinite(b.exponentials).all()  # the max is subtracted first


def test_output_size_formula_and_windows():
    result = output_size(7, kernel=3, stride=2, padding=1)
    assert result.size == 4 and result.windows[-1] == (6, 8) and result.unused == 0
    assert result.formula.endswith("= 4")
    assert output_size(32, 5).size == 28 and output_size(10, 3, dilation=2).size == 6
    assert output_size(6, 2, stride=3).unused == 1
    for n in range(1, 12):
        for k, s, p, d in [(3, 1, 1, 1), (2, 2, 0, 1), (3, 2, 1, 2)]:
            if d * (k - 1) + 1 <= n + 2 * p:
                expected = nn.Conv2d(1, 1, k, s, p, d)(torch.zeros(1, 1, n, n)).shape[-1]
                assert output_size(n, k, s, p, d).size == expected
    with pytest.raises(ValueError, match="the window spans 5 pixels"):
        output_size(2, 3, dilation=2)
    cells = window_diagram(output_size(5, 3, 1, 1), padding=1, output_index=0)[0]
    assert cells[:4] == ["pad-seen", "in-seen", "in-seen", "in"] and cells[-1] == "pad"


def test_tensorflow_same_padding_conv_is_reproduced():
    # EfficientNet-Lite's convs pad inside forward (one more pixel right/bottom); their child module must
    # not hide the conv from the capture either.
    class StaticSameConv(nn.Conv2d):
        def __init__(self):
            super().__init__(2, 3, 3, stride=2, bias=True)
            self.static_padding = nn.ZeroPad2d((0, 1, 0, 1))

        def forward(self, x):
            return super().forward(self.static_padding(x))

    torch.manual_seed(5)
    model = nn.Sequential(StaticSameConv(), nn.ReLU()).eval()
    x = torch.randn(1, 2, 8, 8)
    from cnnkit.inspect import capture_activations

    assert capture_activations(model, x).names == ["0", "1"]
    last = breakdown_at(model, x, "0", (2, 3, 3))
    assert last.matches and last.rows == [6, 7, -1] and last.cols == [6, 7, -1]
    assert breakdown_at(model, x, "0", (0, 0, 0)).rows == [0, 1, 2]
