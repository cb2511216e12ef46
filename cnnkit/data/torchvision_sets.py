"""torchvision datasets: read from the data directory when present, downloaded when the network is there.

The registry only checks that the files exist (no decoding). Offline with no files, the
entry says so and what to do instead. A set may also name folder copies of itself (class folders,
e.g. CIFAR-10 saved as JPEGs in <data_dir>/cifar10-jpeg/{train,test}/<class>/): when torchvision's
own files are absent, the first such copy loads under the set's name, labelled in torchvision's
class order, so `dataset = "cifar10"` works wherever either copy is present.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnkit.data.folders import load_folder, split_class_counts
from cnnkit.data.types import DatasetInfo, LoadedDataset, ProgressFn, report
from cnnkit.paths import data_dir, shipped_datasets_dir

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


@dataclass(frozen=True)
class TorchvisionSpec:
    name: str
    class_name: str        # torchvision.datasets.<class_name>
    folder: str            # where torchvision keeps it under root
    files: tuple[str, ...]  # files that must exist (any of name / name.gz) for an offline load
    channels: int
    size: int
    num_train: int
    num_test: int
    classes: tuple[str, ...]
    host: str              # where torchvision downloads it from
    folder_copies: tuple[str, ...] = ()  # folders in data_dir() holding it as train/ and test/ class folders
    shipped_subset: str = ""  # a folder in cnnkit.paths.shipped_datasets_dir(): the offline fallback, if any


CIFAR100_CLASSES = ("apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle",
    "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear",
    "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon",
    "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail",
    "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm")


TORCHVISION_SETS: dict[str, TorchvisionSpec] = {
    "mnist": TorchvisionSpec("mnist", "MNIST", "MNIST/raw",
                             ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
                             1, 28, 60000, 10000, tuple(str(d) for d in range(10)), "ossci-datasets.s3.amazonaws.com"),
    "fashion_mnist": TorchvisionSpec("fashion_mnist", "FashionMNIST", "FashionMNIST/raw",
                                     ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
                                     1, 28, 60000, 10000, tuple(FASHION_CLASSES),
                                     "fashion-mnist.s3-website.eu-central-1.amazonaws.com",
                                     shipped_subset="fashion_mnist-subset"),
    "cifar10": TorchvisionSpec("cifar10", "CIFAR10", "cifar-10-batches-py",
                               ("data_batch_1", "data_batch_5", "test_batch", "batches.meta"),
                               3, 32, 50000, 10000, tuple(CIFAR10_CLASSES), "www.cs.toronto.edu",
                               ("cifar10-jpeg", "cifar10"), "cifar10-subset"),
    "cifar100": TorchvisionSpec("cifar100", "CIFAR100", "cifar-100-python", ("train", "test", "meta"),
                                3, 32, 50000, 10000, CIFAR100_CLASSES, "www.cs.toronto.edu"),
    "svhn": TorchvisionSpec("svhn", "SVHN", ".", ("train_32x32.mat", "test_32x32.mat"),
                            3, 32, 73257, 26032, tuple(str(d) for d in range(10)), "ufldl.stanford.edu"),
}

_NETWORK_CACHE: dict[str, tuple[float, bool]] = {}


def network_available(host: str = "download.pytorch.org", timeout: float = 0.5) -> bool:
    """Can we reach the download host? A quick socket check, cached for a minute per host.

    The real host is checked (not a public IP) because sandboxes often let raw IPs through
    while name resolution, and so every download, fails. CNNKIT_OFFLINE=1 forces offline.
    """
    if os.environ.get("CNNKIT_OFFLINE") == "1":
        return False
    now = time.monotonic()
    hit = _NETWORK_CACHE.get(host)
    if hit and now - hit[0] < 60:
        return hit[1]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            ok = True
    except OSError:
        ok = False
    _NETWORK_CACHE[host] = (now, ok)
    return ok


def files_present(spec: TorchvisionSpec, root: Path | None = None) -> bool:
    folder = (root or data_dir()) / spec.folder
    return all((folder / f).is_file() for f in spec.files)


@dataclass(frozen=True)
class FolderCopy:
    """A folder of class folders holding a torchvision set: where, and how many images per split."""

    path: Path
    num_train: int
    num_test: int

    shipped: bool = False  # the small subset that ships with CNN Lab (offline, no copy in the data directory)

    @property
    def description(self) -> str:
        if self.shipped:
            return (f"the {self.num_train:,} + {self.num_test:,}-image subset that ships with CNN Lab "
                    f"({self.path.name}: offline, for quick lessons; download the full set when online)")
        return (f"from the folder copy {self.path.name}/ in the data directory (class folders, labelled in "
                f"torchvision's class order; torchvision's own files are absent)")


def class_folder(class_name: str) -> str:
    """The folder a class's images are in, in a folder copy: its name, with "/" (not allowed in a file name) as
    "-" (Fashion-MNIST's "T-shirt/top" -> "T-shirt-top")."""
    return class_name.replace("/", "-")


def folder_copy(name: str, root: Path | None = None) -> FolderCopy | None:
    """The first of the set's folder copies whose train/ and test/ class folders are exactly its classes.

    Exactly: a class missing or extra would shift labels against torchvision's, so such a folder is
    not taken for the set (it still lists as a folder dataset under its own name).
    """
    spec = TORCHVISION_SETS[name]
    places = [((root or data_dir()) / sub, False) for sub in spec.folder_copies]
    if spec.shipped_subset and not network_available(spec.host):  # online, the full set downloads instead
        places.append((shipped_datasets_dir() / spec.shipped_subset, True))
    for path, shipped in places:
        counts = split_class_counts(path) if path.is_dir() else None
        if counts and set(counts["train"]) == {class_folder(c) for c in spec.classes} == set(counts["test"]):
            return FolderCopy(path, sum(counts["train"].values()), sum(counts["test"].values()), shipped)
    return None


def torchvision_info(name: str) -> DatasetInfo:
    spec = TORCHVISION_SETS[name]
    present = files_present(spec)
    copy = None if present else folder_copy(name)
    if copy is not None:
        return DatasetInfo(name, list(spec.classes), spec.channels, spec.size, spec.size, copy.num_train,
                           copy.num_test, "torchvision", True, None, copy.description, shipped_subset=copy.shipped)
    available, reason = True, None
    if not present and not network_available(spec.host):
        available = False
        copies = " or ".join(f"{data_dir() / sub}/{{train,test}}/<class>/" for sub in spec.folder_copies)
        reason = (f"not downloaded and no network: put the {spec.class_name} files in "
                  f"{data_dir() / spec.folder} (torchvision's layout)"
                  + (f", or its images in {copies}" if copies else "")
                  + ", point CNNKIT_DATA_DIR at a folder that has them, or import the images as a folder dataset")
    description = "in the data directory (torchvision's files)" if present else "downloaded on first load"
    return DatasetInfo(name, list(spec.classes), spec.channels, spec.size, spec.size, spec.num_train,
                       spec.num_test, "torchvision", available, reason, description)


def _load_folder_copy(spec: TorchvisionSpec, copy: FolderCopy, progress: ProgressFn | None) -> LoadedDataset:
    # Cached under the folder's own name: the same decode cache as loading that folder dataset by name.
    data = load_folder(copy.path, progress, name=copy.path.name)
    folders = [class_folder(c) for c in spec.classes]
    to_torchvision = torch.tensor([folders.index(c) for c in data.classes], dtype=torch.int64)
    return LoadedDataset(spec.name, list(spec.classes), data.train_x, to_torchvision[data.train_y],
                         data.test_x, to_torchvision[data.test_y], [*data.notes, f"read {copy.description}"])


def _to_tensors(dataset, spec: TorchvisionSpec) -> tuple[torch.Tensor, torch.Tensor]:
    data = dataset.data
    if isinstance(data, torch.Tensor):
        x = data
    else:
        x = torch.from_numpy(np.asarray(data))
    if x.ndim == 3:  # MNIST-like: (N, H, W)
        x = x.unsqueeze(1)
    elif x.shape[-1] == 3:  # CIFAR: (N, H, W, C)
        x = x.permute(0, 3, 1, 2)
    targets = getattr(dataset, "targets", None)
    if targets is None:
        targets = dataset.labels  # SVHN
    y = torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    return x.contiguous().to(torch.uint8), y


def load_torchvision(name: str, progress: ProgressFn | None = None) -> LoadedDataset:
    spec = TORCHVISION_SETS[name]
    root = data_dir()
    download = not files_present(spec)
    copy = folder_copy(name) if download else None
    if copy is not None:
        return _load_folder_copy(spec, copy, progress)
    import torchvision.datasets as tvd

    if download and not network_available(spec.host):
        raise ValueError(torchvision_info(name).reason)
    cls = getattr(tvd, spec.class_name)
    report(progress, 0.05, f"{'downloading' if download else 'reading'} {name}")
    try:
        if name == "svhn":
            train = cls(str(root), split="train", download=download)
            test = cls(str(root), split="test", download=download)
        else:
            train = cls(str(root), train=True, download=download)
            report(progress, 0.6, f"reading {name} test split")
            test = cls(str(root), train=False, download=download)
    except (RuntimeError, OSError) as exc:
        raise ValueError(f"could not {'download' if download else 'read'} {name}: {exc}") from None
    train_x, train_y = _to_tensors(train, spec)
    test_x, test_y = _to_tensors(test, spec)
    classes = list(getattr(train, "classes", None) or spec.classes)
    if name == "mnist":
        classes = list(spec.classes)  # torchvision's are "0 - zero"...; the digit alone is clearer
    report(progress, 1.0, f"{name} loaded")
    return LoadedDataset(name, classes, train_x, train_y, test_x, test_y)
