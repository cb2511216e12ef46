"""The course's networks and a few classics as specs. Names are part of the CLI; keep them."""

from __future__ import annotations

from typing import Callable

from cnnkit.models.spec import LayerSpec, ModelSpec


def L(type_: str, **params) -> LayerSpec:
    return LayerSpec(type_, params)


def _conv_stack(channels: list[int], padding: int, bn: bool = False) -> list[LayerSpec]:
    layers: list[LayerSpec] = []
    for c in channels:
        layers.append(L("conv2d", out_channels=c, kernel_size=3, padding=padding))
        if bn:
            layers.append(L("batchnorm2d"))
        layers += [L("relu"), L("maxpool2d", kernel_size=2)]
    return layers


def lenet5() -> ModelSpec:
    return ModelSpec("lenet5", (1, 32, 32), 10, [
        L("conv2d", out_channels=6, kernel_size=5), L("tanh"), L("avgpool2d", kernel_size=2),
        L("conv2d", out_channels=16, kernel_size=5), L("tanh"), L("avgpool2d", kernel_size=2),
        L("conv2d", out_channels=120, kernel_size=5), L("tanh"), L("flatten"),
        L("linear", out_features=84), L("tanh"), L("linear", out_features=10),
    ], "LeNet-5 (LeCun 1998): three 5×5 convs with tanh and average pooling, on 32×32 grey images")


def mlp() -> ModelSpec:
    return ModelSpec("mlp", (3, 32, 32), 10, [
        L("flatten"), L("linear", out_features=256), L("relu"), L("linear", out_features=128), L("relu"),
        L("linear", out_features=10),
    ], "No convolutions: Flatten and three Linear layers, the baseline CNNs are compared against")


def _cnn_k(k: int) -> ModelSpec:
    channels = [32, 64, 128, 256, 256][:k]
    extra = " (the course's baseline)" if k == 3 else ""
    return ModelSpec(f"cnn{k}", (3, 32, 32), 10, _conv_stack(channels, padding=1) + [
        L("flatten"), L("linear", out_features=256), L("relu"), L("linear", out_features=10),
    ], f"Depth study: {k} × [Conv 3×3 pad 1 → ReLU → MaxPool 2] ({', '.join(map(str, channels))} channels), "
       f"then Linear 256 → 10{extra}")


def cnn3_bn() -> ModelSpec:
    return ModelSpec("cnn3_bn", (3, 32, 32), 10, _conv_stack([32, 64, 128], padding=1, bn=True) + [
        L("flatten"), L("linear", out_features=256), L("relu"), L("linear", out_features=10),
    ], "cnn3 with BatchNorm2d after every conv")


def _gap(name: str, channels: list[int], hidden: int, bn: bool, dropout: bool, description: str) -> ModelSpec:
    head = [L("global_avg_pool"), L("linear", out_features=hidden), L("relu")]
    if dropout:
        head.append(L("dropout", p=0.5))
    head.append(L("linear", out_features=10))
    return ModelSpec(name, (3, 64, 64), 10, _conv_stack(channels, padding=0, bn=bn) + head, description)


def cnn4_gap() -> ModelSpec:
    return _gap("cnn4_gap", [32, 64, 128, 256], 512, False, False,
                "4 × [Conv 3×3 no padding → ReLU → MaxPool 2], global average pooling, Linear 512 → 10; "
                "for 64×64 input (at 32×32 the fourth conv gets a 2×2 map)")


def cnn4_gap_half() -> ModelSpec:
    return _gap("cnn4_gap_half", [16, 32, 64, 128], 256, False, False,
                "cnn4_gap with half the channels (16-128) and Linear 256 → 10; 64×64 input")


def cnn4_gap_bn() -> ModelSpec:
    return _gap("cnn4_gap_bn", [32, 64, 128, 256], 512, True, True,
                "cnn4_gap with BatchNorm2d after each conv and Dropout 0.5 after the first Linear; 64×64 input")


def cnn3_dropout() -> ModelSpec:
    """Report 002-Q3's regularised base: the report never says where its dropout sits, so it goes where
    it is most common, after the first Linear (a lesson's `dropout` setting overrides p)."""
    return ModelSpec("cnn3_dropout", (3, 32, 32), 10, _conv_stack([32, 64, 128], padding=1) + [
        L("flatten"), L("linear", out_features=256), L("relu"), L("dropout", p=0.5), L("linear", out_features=10),
    ], "cnn3 with Dropout 0.5 after the first Linear (002-Q3's dropout; its place is our choice)")


def cnn3_bn_dropout() -> ModelSpec:
    return ModelSpec("cnn3_bn_dropout", (3, 32, 32), 10, _conv_stack([32, 64, 128], padding=1, bn=True) + [
        L("flatten"), L("linear", out_features=256), L("relu"), L("dropout", p=0.5), L("linear", out_features=10),
    ], "cnn3 with BatchNorm2d after every conv and Dropout 0.5 after the first Linear (004's second CNN)")


# Report 003's LeNet-style net (Keras, beans at 299×299): three valid convs (6, 16, 120 filters) with max
# pooling after the first two, Flatten, Dense 50, Dense → classes; no activation is printed, ReLU is ours.
# At 64×64 (CIFAR-10 resized, the lessons' stand-in for beans) every kernel size up to 7 still fits.
LENET_LIKE_CHANNELS = (6, 16, 120)


def lenet_like(name: str = "lenet_like", kernel: int = 5, channels: tuple[int, int, int] = LENET_LIKE_CHANNELS,
               ) -> ModelSpec:
    layers: list[LayerSpec] = []
    for i, c in enumerate(channels):
        layers += [L("conv2d", out_channels=c, kernel_size=kernel), L("relu")]
        if i < 2:
            layers.append(L("maxpool2d", kernel_size=2))
    layers += [L("flatten"), L("linear", out_features=50), L("relu"), L("linear", out_features=10)]
    return ModelSpec(name, (3, 64, 64), 10, layers,
                     f"003's LeNet-style net: Conv {kernel}×{kernel} ({', '.join(map(str, channels))} filters, no "
                     f"padding), max-pool after the first two, Flatten, Dense 50 → classes; 64×64 input")


def vgg6() -> ModelSpec:
    def block(c: int) -> list[LayerSpec]:
        return [x for _ in range(3) for x in (L("conv2d", out_channels=c, kernel_size=3), L("relu"))]

    return ModelSpec("vgg6", (3, 32, 32), 10, block(32) + [L("maxpool2d", kernel_size=2), L("dropout", p=0.25)]
                     + block(64) + [L("maxpool2d", kernel_size=2), L("dropout", p=0.25),
                                    L("flatten"), L("linear", out_features=512), L("relu"), L("dropout", p=0.5),
                                    L("linear", out_features=10)],
                     "VGG-style: 3 × Conv 3×3 (32), pool, dropout, 3 × Conv 3×3 (64), pool, dropout, Linear 512 → 10")


def _fashion(name: str, third: bool) -> ModelSpec:
    layers = [L("conv2d", out_channels=64, kernel_size=2), L("relu"), L("maxpool2d", kernel_size=2),
              L("dropout", p=0.25), L("conv2d", out_channels=64, kernel_size=2), L("relu")]
    if third:
        layers += [L("conv2d", out_channels=64, kernel_size=2), L("relu"), L("maxpool2d", kernel_size=2)]
    layers += [L("dropout", p=0.25), L("flatten"), L("linear", out_features=64), L("relu"),
               L("linear", out_features=10)]
    n = 3 if third else 2
    inputs = "1,600" if third else "9,216"
    return ModelSpec(name, (1, 28, 28), 10, layers,
                     f"Fashion-MNIST: {n} convs 2×2 (64 filters) with pooling and dropout 0.25, "
                     f"Linear {inputs} → 64 → 10")


def resnet_small() -> ModelSpec:
    layers = [L("conv2d", out_channels=16, kernel_size=3, padding=1, bias=False), L("batchnorm2d"), L("relu")]
    for c, stride in [(16, 1), (16, 1), (32, 2), (32, 1), (64, 2), (64, 1)]:
        layers.append(L("residual", out_channels=c, stride=stride))
    layers += [L("global_avg_pool"), L("linear", out_features=10)]
    return ModelSpec("resnet_small", (3, 32, 32), 10, layers,
                     "CIFAR-style ResNet-14: 3×3 stem, no initial max-pool, three stages of 2 residual blocks "
                     "(16, 32, 64 channels), global average pooling")


def vgg11_bn() -> ModelSpec:
    layers: list[LayerSpec] = []
    for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
        if v == "M":
            layers.append(L("maxpool2d", kernel_size=2))
        else:
            layers += [L("conv2d", out_channels=v, kernel_size=3, padding=1), L("batchnorm2d"), L("relu")]
    layers += [L("flatten"), L("linear", out_features=10)]
    return ModelSpec("vgg11_bn", (3, 32, 32), 10, layers,
                     "VGG-11 with batch norm for 32×32: 8 convs 3×3 (64-512) and 5 max-pools to 1×1, Linear 512 → 10")


def cnn3_fast() -> ModelSpec:
    """The Training runner's default: small enough that a 2-core CPU trains Shapes past 90% in seconds
    (54k parameters; cnn3_bn has 621k, mostly in its Linear 2048 → 256, and 4× the activations)."""
    layers: list[LayerSpec] = []
    for c in (24, 48, 96):
        # no conv bias: the BatchNorm right after has its own shift
        layers += [L("conv2d", out_channels=c, kernel_size=3, padding=1, bias=False), L("batchnorm2d"), L("relu"),
                   L("maxpool2d", kernel_size=2)]
    layers += [L("global_avg_pool"), L("linear", out_features=10)]
    return ModelSpec("cnn3_fast", (3, 32, 32), 10, layers,
                     "Quick default: 3 × [Conv 3×3 (24, 48, 96 channels, no bias) → BatchNorm → ReLU → MaxPool 2], "
                     "global average pooling, Linear 96 → 10")


def speedrun94() -> ModelSpec:
    """airbench94's network (Keller Jordan 2024) as a spec: a frozen 2×2 patch-whitening stem (24 filters,
    set from the data and frozen by cnnkit.train.recipes.prepare_model before training), then three blocks of
    [Conv 3×3 → MaxPool 2 → BN → GELU → Conv 3×3 → BN → GELU] at 64, 256, 256 channels."""
    # the stem is set and frozen by cnnkit.train.recipes.prepare_model (data-dependent), not in the spec
    layers: list[LayerSpec] = [L("conv2d", out_channels=24, kernel_size=2, padding=0), L("gelu")]
    for c in (64, 256, 256):
        layers += [L("conv2d", out_channels=c, kernel_size=3, padding=1, bias=False), L("maxpool2d", kernel_size=2),
                   L("batchnorm2d"), L("gelu"),
                   L("conv2d", out_channels=c, kernel_size=3, padding=1, bias=False), L("batchnorm2d"), L("gelu")]
    layers += [L("global_avg_pool"), L("linear", out_features=10, bias=False)]
    return ModelSpec("speedrun94", (3, 32, 32), 10, layers,
                     "airbench94-style speedrun net for CIFAR-10: frozen 2×2 whitening stem (24 filters), three "
                     "conv-pool-BN-GELU ×2 blocks (64, 256, 256 channels), global pooling, Linear → 10")


PRESETS: dict[str, Callable[[], ModelSpec]] = {
    "lenet5": lenet5,
    "mlp": mlp,
    "cnn2": lambda: _cnn_k(2),
    "cnn3": lambda: _cnn_k(3),
    "cnn4": lambda: _cnn_k(4),
    "cnn5": lambda: _cnn_k(5),
    "cnn3_bn": cnn3_bn,
    "cnn4_gap": cnn4_gap,
    "cnn4_gap_half": cnn4_gap_half,
    "cnn4_gap_bn": cnn4_gap_bn,
    "vgg6": vgg6,
    "fashion_arc2": lambda: _fashion("fashion_arc2", False),
    "fashion_arc3": lambda: _fashion("fashion_arc3", True),
    "resnet_small": resnet_small,
    "vgg11_bn": vgg11_bn,
    "speedrun94": speedrun94,
    "cnn3_fast": cnn3_fast,
    # the course's lessons (cnnkit/lessons/course): 002-Q3, 004-Q4/5 and 003-Q2's kernel studies
    "cnn3_dropout": cnn3_dropout,
    "cnn3_bn_dropout": cnn3_bn_dropout,
    "lenet_like": lenet_like,
    "lenet_like_k3": lambda: lenet_like("lenet_like_k3", kernel=3),
    "lenet_like_k7": lambda: lenet_like("lenet_like_k7", kernel=7),
    "lenet_like_narrow": lambda: lenet_like("lenet_like_narrow", channels=(3, 8, 60)),
    "lenet_like_wide": lambda: lenet_like("lenet_like_wide", channels=(12, 32, 240)),
}


def get_preset(name: str) -> ModelSpec:
    """A fresh copy of the named preset (edit it freely)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None


def list_presets() -> list[dict]:
    """{name, description, input_shape, num_classes, params} for every preset."""
    from cnnkit.models.summary import summarize

    out = []
    for name in PRESETS:
        spec = get_preset(name)
        out.append({"name": name, "description": spec.description, "input_shape": list(spec.input_shape),
                    "num_classes": spec.num_classes, "params": summarize(spec).total_params})
    return out
