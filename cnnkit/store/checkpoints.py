"""Tensor files of a run (weights, the end-of-epoch state): written atomically, read with a clear error."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from cnnkit.fileio import atomic_write_bytes


class CheckpointError(ValueError):
    """A checkpoint file that is missing, empty, damaged or not what it should be."""


def save_tensors(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, lambda handle: torch.save(obj, handle))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    # torch's unpickler hint ("... set weights_only=False ...") is advice we must not give: cut it off
    line = text[0] if text else type(error).__name__
    return line.split(" WeightsUnpickler error:")[0].split("Weights only load failed")[0].strip() or \
        "it holds something other than tensors"


def load_tensors(path: Path, device: str | torch.device = "cpu") -> Any:
    """torch.load(weights_only=True), with every failure as "this checkpoint cannot be loaded: <file>: <reason>"."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise CheckpointError(f"this checkpoint cannot be loaded: {path}: the file is empty")
        return torch.load(path, map_location=device, weights_only=True)
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"this checkpoint cannot be loaded: {path}: the file does not exist") from None
    except pickle.UnpicklingError:
        raise CheckpointError(f"this checkpoint cannot be loaded: {path}: it holds something other than tensors "
                              "(only weights are loaded, never code)") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError, AttributeError) as error:
        raise CheckpointError(f"this checkpoint cannot be loaded: {path}: damaged or not a PyTorch file "
                              f"({_first_line(error)[:160]})") from None


def state_dict_of(obj: Any, path: Path) -> dict:
    """A loaded weights file as a state_dict (name -> tensor), or CheckpointError."""
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"this checkpoint cannot be loaded: {path}: it does not hold a network's weights")
    return obj


def load_weights_into(model: torch.nn.Module, weights: dict, path: Path) -> None:
    """model.load_state_dict with a mismatch (another network, other class count) said in one line."""
    try:
        model.load_state_dict(state_dict_of(weights, path))
    except RuntimeError as error:
        lines = [l.strip() for l in str(error).splitlines() if l.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else ""
        raise CheckpointError(f"this checkpoint cannot be loaded: {path}: its weights do not fit the network "
                              f"the run's settings build ({detail[:200]})") from None
