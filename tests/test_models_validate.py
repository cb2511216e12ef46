"""Every validation case gets a message naming the layer and the fix, raised as SpecError(ValueError)."""

import pytest

from cnnkit.models import LayerSpec, ModelSpec, SpecError, build_model, check, summarize


def spec_of(*layers, shape=(3, 32, 32), classes=10):
    return ModelSpec("t", shape, classes, [LayerSpec(t, p) for t, p in layers])


HEAD = [("flatten", {}), ("linear", {"out_features": 10})]


def expect_error(spec, index, *parts):
    with pytest.raises(SpecError) as err:
        build_model(spec)
    assert err.value.layer_index == index
    for part in parts:
        assert part in str(err.value), str(err.value)
    assert isinstance(err.value, ValueError)
    assert check(spec) == str(err.value)
    with pytest.raises(SpecError):
        summarize(spec)
    return str(err.value)


def test_map_shrinks_below_one_pixel_names_pool_and_conv_before_it():
    spec = spec_of(("conv2d", {"out_channels": 8, "padding": 1}), ("relu", {}), ("maxpool2d", {}),
                   ("conv2d", {"out_channels": 8, "padding": 1}), ("maxpool2d", {}), ("maxpool2d", {}),
                   ("conv2d", {"out_channels": 8, "kernel_size": 1}), ("maxpool2d", {}), *HEAD, shape=(1, 8, 8))
    message = expect_error(spec, 7, "layer 7 (MaxPool2d) receives a 1×1 map", "remove it or add padding to layer 6")
    assert message.startswith("layer 7 (MaxPool2d) receives a 1×1 map")


def test_pool_without_conv_before_suggests_larger_input():
    expect_error(spec_of(("avgpool2d", {"kernel_size": 4}), *HEAD, shape=(1, 3, 3)), 0,
                 "layer 0 (AvgPool2d) receives a 3×3 map", "use a larger input")


def test_linear_on_a_map_needs_flatten():
    expect_error(spec_of(("conv2d", {"out_channels": 8}), ("linear", {"out_features": 10})), 1,
                 "layer 1 (Linear) receives a 8×30×30 feature map", "add a Flatten or GlobalAvgPool before it")


def test_batchnorm1d_after_conv():
    expect_error(spec_of(("conv2d", {"out_channels": 8}), ("batchnorm1d", {}), *HEAD), 1,
                 "layer 1 (BatchNorm1d)", "use BatchNorm2d after conv layers")


def test_batchnorm2d_and_dropout2d_and_gap_on_flat_vectors():
    expect_error(spec_of(("flatten", {}), ("batchnorm2d", {}), ("linear", {})), 1,
                 "layer 1 (BatchNorm2d) needs a C×H×W feature map but receives a flat vector of 3072",
                 "use BatchNorm1d")
    expect_error(spec_of(("flatten", {}), ("dropout2d", {}), ("linear", {})), 1, "use Dropout on flat features")
    expect_error(spec_of(("global_avg_pool", {}), ("global_avg_pool", {}), ("linear", {})), 1,
                 "layer 1 (GlobalAvgPool)", "remove it")


def test_conv_after_flatten():
    expect_error(spec_of(("flatten", {}), ("conv2d", {}), ("linear", {})), 1,
                 "layer 1 (Conv2d) needs a C×H×W feature map", "move it before the Flatten")


def test_zero_channels():
    expect_error(spec_of(("conv2d", {"out_channels": 0}), *HEAD), 0,
                 "layer 0 (Conv2d) has 0 output channels; give it at least 1")
    expect_error(spec_of(("flatten", {}), ("linear", {"out_features": 0}), ("linear", {})), 1,
                 "layer 1 (Linear) has 0 output features; give it at least 1")
    expect_error(spec_of(*HEAD, shape=(0, 32, 32)), None, "the input has 0 channels")
    expect_error(spec_of(("residual", {"out_channels": 0}), *HEAD), 0, "layer 0 (Residual) has 0 output channels")


def test_kernel_larger_than_input():
    expect_error(spec_of(("conv2d", {"out_channels": 4, "kernel_size": 5}), *HEAD, shape=(1, 4, 4)), 0,
                 "layer 0 (Conv2d) has a 5×5 kernel but receives a 4×4 map",
                 "use a smaller kernel, add padding, or remove a pooling layer before it")
    expect_error(spec_of(("conv2d", {"out_channels": 4, "kernel_size": 3, "dilation": 3}), *HEAD, shape=(1, 6, 6)),
                 0, "dilation 3 spans 7×7", "receives a 6×6 map")
    # The same kernel fits once padding is added.
    assert check(spec_of(("conv2d", {"out_channels": 4, "kernel_size": 5, "padding": 1}), *HEAD,
                         shape=(1, 4, 4))) is None


def test_groups_must_divide_channels():
    expect_error(spec_of(("conv2d", {"out_channels": 8, "groups": 2}), *HEAD), 0,
                 "layer 0 (Conv2d): groups=2 must divide both its 3 input and 8 output channels")
    assert check(spec_of(("conv2d", {"out_channels": 9, "groups": 3}), *HEAD)) is None


def test_other_mistakes():
    expect_error(spec_of(("conv2d", {"out_channels": 8}), ("relu", {})), None, "no Linear output layer",
                 "end it with Flatten")
    # A shape problem comes first, even when the Linear is missing too.
    expect_error(spec_of(("conv2d", {"kernel_size": 7}), shape=(1, 5, 5)), 0, "7×7 kernel")
    expect_error(spec_of(), None, "no Linear output layer")
    expect_error(spec_of(("convolution", {}), *HEAD), 0, "unknown type 'convolution'", "conv2d")
    expect_error(spec_of(("conv2d", {"kernal_size": 3}), *HEAD), 0, "no parameter 'kernal_size'", "kernel_size")
    expect_error(spec_of(("dropout", {"p": 1.5}), *HEAD), 0, "dropout probability must be in [0, 1)")
    expect_error(spec_of(("conv2d", {"padding": "same", "stride": 2}), *HEAD), 0, "padding 'same' needs stride 1")
    expect_error(spec_of(("conv2d", {"padding": "valid"}), *HEAD), 0, "padding must be a whole number or 'same'")
    expect_error(spec_of(("maxpool2d", {"kernel_size": 2, "padding": 2}), *HEAD), 0, "use at most 1")
    expect_error(spec_of(("conv2d", {"kernel_size": 2.5}), *HEAD), 0, "kernel_size must be a whole number")
    expect_error(spec_of(("conv2d", {"bias": "yes"}), *HEAD), 0, "bias must be true or false")
    expect_error(spec_of(("conv2d", {"stride": 0}), *HEAD), 0, "stride must be at least 1")
    expect_error(spec_of(*HEAD, shape=(3, 0, 32)), None, "input size 0×32 is empty")


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_valid_edge_cases_build_like_torch():
    import torch

    # 'same' padding with an even kernel, strided pooling with padding, pooling down to exactly 1×1.
    spec = spec_of(("conv2d", {"out_channels": 4, "kernel_size": 4, "padding": "same"}),
                   ("maxpool2d", {"kernel_size": 3, "stride": 2, "padding": 1}), ("avgpool2d", {"kernel_size": 4}),
                   ("gelu", {}), ("elu", {}), ("sigmoid", {}), ("tanh", {}), ("leakyrelu", {}), *HEAD,
                   shape=(2, 7, 7))
    summary = summarize(spec)
    assert [r.output_shape for r in summary.rows[:3]] == [[4, 7, 7], [4, 4, 4], [4, 1, 1]]
    assert build_model(spec)(torch.zeros(1, 2, 7, 7)).shape == (1, 10)
