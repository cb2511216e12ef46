"""Tiny datasets and specs for the training-engine tests (no dataset files, seconds per test)."""

from __future__ import annotations

import torch

from cnnkit.data import LoadedDataset

TINY_CLASSES = [f"c{i}" for i in range(4)]


def tiny_spec(width: int = 8, dropout: float | None = None) -> dict:
    layers = [{"type": "conv2d", "params": {"out_channels": width, "kernel_size": 3, "padding": 1}},
              {"type": "batchnorm2d", "params": {}},
              {"type": "relu", "params": {}},
              {"type": "maxpool2d", "params": {"kernel_size": 2}},
              {"type": "conv2d", "params": {"out_channels": 2 * width, "kernel_size": 3, "padding": 1}},
              {"type": "relu", "params": {}},
              {"type": "global_avg_pool", "params": {}}]
    if dropout is not None:
        layers.append({"type": "dropout", "params": {"p": dropout}})
    layers.append({"type": "linear", "params": {"out_features": 4}})
    return {"name": "tiny", "input_shape": [3, 16, 16], "num_classes": 4, "layers": layers}


def mlp_spec() -> dict:
    return {"name": "tiny_mlp", "input_shape": [3, 8, 8], "num_classes": 4,
            "layers": [{"type": "flatten", "params": {}}, {"type": "linear", "params": {"out_features": 64}},
                       {"type": "relu", "params": {}}, {"type": "linear", "params": {"out_features": 4}}]}


def tiny_dataset(n_train: int = 96, n_test: int = 40, size: int = 16, seed: int = 0) -> LoadedDataset:
    """Four colour classes (red, green, blue, grey) under heavy noise: learnable in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    y = torch.arange(n) % 4
    y = y[torch.randperm(n, generator=g)]
    base = torch.tensor([[150, 60, 60], [60, 150, 60], [60, 60, 150], [100, 100, 100]], dtype=torch.float32)
    noise = torch.randn(n, 3, size, size, generator=g) * 60
    x = (base[y].view(n, 3, 1, 1) + noise).clamp(0, 255).to(torch.uint8)
    return LoadedDataset(name="tiny", classes=TINY_CLASSES, train_x=x[:n_train], train_y=y[:n_train],
                         test_x=x[n_train:], test_y=y[n_train:])


def random_dataset(n_train: int = 64, n_test: int = 16, size: int = 8, seed: int = 0) -> LoadedDataset:
    """Random pixels with random labels: only memorisation can fit them."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n_train + n_test, 3, size, size), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 4, (n_train + n_test,), generator=g)
    return LoadedDataset(name="random", classes=TINY_CLASSES, train_x=x[:n_train], train_y=y[:n_train],
                         test_x=x[n_train:], test_y=y[n_train:])


def patch_dataset(monkeypatch, dataset: LoadedDataset) -> None:
    """Make load_dataset(anything) in the trainer and evaluator return `dataset`."""
    import cnnkit.data
    import cnnkit.train.loop

    monkeypatch.setattr(cnnkit.train.loop, "load_dataset", lambda name, progress=None: dataset)
    monkeypatch.setattr(cnnkit.data, "load_dataset", lambda name, progress=None: dataset)
