"""A tiny, deterministic 3-epoch run for the reliability tests, in this process or in a child that may be killed.

`python -m tests.helpers.runs <checkpoint_dir>` trains it (CNNKIT_TEST_CRASH_AT set by the caller
makes the run writer die at one point of one epoch's commit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.helpers.train import patch_dataset, tiny_dataset, tiny_spec

ROOT = Path(__file__).resolve().parents[2]


def tiny_config(**overrides):
    from cnnkit.train import TrainConfig

    base = dict(dataset="tiny", model=tiny_spec(), epochs=3, batch_size=16, lr=0.01, val_fraction=0.25,
                device="cpu", log_every=2, seed=0)
    base.update(overrides)
    return TrainConfig(**base)


def train_in_child(checkpoints: Path, crash_at: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, CNNKIT_CHECKPOINT_DIR=str(checkpoints), OMP_NUM_THREADS="1")
    env.pop("CNNKIT_TEST_CRASH_AT", None)
    if crash_at:
        env["CNNKIT_TEST_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "tests.helpers.runs", str(checkpoints)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def only_run(checkpoints: Path) -> Path:
    runs = [p for p in Path(checkpoints).iterdir() if (p / "run.json").is_file()]
    assert len(runs) == 1, runs
    return runs[0]


def _main(checkpoints: str) -> None:
    import pytest

    from cnnkit.train import train

    torch.set_num_threads(1)  # the same arithmetic as the parent's reference run
    with pytest.MonkeyPatch.context() as mp:
        patch_dataset(mp, tiny_dataset())
        train(tiny_config(), checkpoint_root=Path(checkpoints))


if __name__ == "__main__":
    _main(sys.argv[1])
