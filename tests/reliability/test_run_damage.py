"""Damaged runs: validated before anything is written, listed as damaged, named by file and field; damaged
checkpoints say so without torch's hints; an exploding loss stops the run; zero classes are refused."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
import torch

from cnnkit import store
from cnnkit.cli import main as cli_main
from cnnkit.models import ModelSpec, adapt_spec, get_preset
from cnnkit.models.spec import SpecError
from cnnkit.train import TrainConfig, TrainingDiverged, resume, train
from tests.helpers.runs import tiny_config
from tests.helpers.train import patch_dataset, tiny_dataset


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))
    patch_dataset(monkeypatch, tiny_dataset())
    return tmp_path


def _run(epochs_before_cancel=None, **overrides):
    cancel = threading.Event()
    on_progress = None
    if epochs_before_cancel:
        on_progress = lambda e: cancel.set() if e["kind"] == "epoch" and e["row"]["epoch"] >= epochs_before_cancel \
            else None
    result = train(tiny_config(**overrides), on_progress=on_progress, cancel_event=cancel)
    return store.resolve_run_dir(result.run_dir)


def _fingerprint(run_dir):
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(run_dir.iterdir())
            if p.is_file() and p.name != "train.lock"}


def test_a_finished_run_is_not_resumed_nor_rewritten(tiny):
    run_dir = _run(epochs=2)
    (run_dir / "config.json").write_text("{}")  # the damage of the issue: resume rebuilt the default model
    before = _fingerprint(run_dir)
    with pytest.raises(ValueError, match=rf"run {run_dir.name} is finished \(2 of 2 epochs\); nothing to resume"):
        resume(run_dir)
    assert _fingerprint(run_dir) == before and store.load_run(run_dir).status == "done"


@pytest.mark.parametrize("config_text, expected", [
    ("{}", "config.json.*dataset 'shapes' but it was trained on 'tiny'"),
    ('{"dataset": "tiny", "epochs": "3"}', "config.json field 'epochs' should be a whole number"),
    ('{"dataset": "tiny", "lr": "fast"}', "config.json: training setting 'lr' must be a number"),
    ("[1, 2]", "config.json should hold a JSON object"),
])
def test_resume_with_a_damaged_config_writes_nothing(tiny, config_text, expected):
    run_dir = _run(epochs_before_cancel=1)
    (run_dir / "config.json").write_text(config_text)
    before = _fingerprint(run_dir)
    with pytest.raises(ValueError, match=expected):
        resume(run_dir)
    assert _fingerprint(run_dir) == before and store.load_run(run_dir).status in ("cancelled", "damaged")


def test_resume_whose_config_builds_another_network_writes_nothing(tiny):
    run_dir = _run(epochs_before_cancel=1)
    config = json.loads((run_dir / "config.json").read_text())
    config["model"]["layers"][0]["params"]["out_channels"] = 4
    (run_dir / "config.json").write_text(json.dumps(config))
    before = _fingerprint(run_dir)
    with pytest.raises(ValueError, match="build another network.*model_record"):
        resume(run_dir)
    assert _fingerprint(run_dir) == before


def test_a_damaged_run_json_is_listed_as_damaged_and_hides_no_other_run(tiny, capsys):
    good, bad = _run(epochs=1), _run(epochs=1)
    meta = json.loads((bad / "run.json").read_text())
    meta["created"] = None
    (bad / "run.json").write_text(json.dumps(meta))
    runs = {r.run_id: r for r in store.list_runs()}
    assert runs[good.name].status == "done"
    assert runs[bad.name].status == "damaged" and runs[bad.name].run_dir == bad
    assert "run.json field 'created' should be a number (got null)" in runs[bad.name].message
    (good / "run.json").write_text('{"status": 3}')
    assert "run.json field 'status' should be text" in store.load_run(good).message
    assert cli_main(["evaluate", str(bad)]) == 1
    assert "run.json field 'created' should be a number" in capsys.readouterr().err
    assert cli_main(["runs"]) == 0
    assert "damaged" in capsys.readouterr().out


@pytest.mark.parametrize("damage, reason", [
    (lambda p: p.write_bytes(b""), "the file is empty"),
    (lambda p: p.write_bytes(p.read_bytes()[:200]), "damaged or not a PyTorch file"),
    (lambda p: torch.save({"weights": threading.Lock}, p), "holds something other than tensors"),
    (lambda p: torch.save([1, 2, 3], p), "does not hold a network's weights"),
])
def test_damaged_checkpoints_say_which_file_and_why(tiny, damage, reason):
    run_dir = _run(epochs=1)
    damage(run_dir / "best.pt")
    with pytest.raises(ValueError, match="this checkpoint cannot be loaded: .*best.pt: (it )?" + reason) as caught:
        store.load_run_model(run_dir)
    assert "weights_only" not in str(caught.value)


def test_a_damaged_state_stops_resume_before_any_write(tiny):
    run_dir = _run(epochs_before_cancel=1)
    (run_dir / "state.pt").write_bytes(b"not a checkpoint")
    before = _fingerprint(run_dir)
    with pytest.raises(ValueError, match="this checkpoint cannot be loaded: .*state.pt"):
        resume(run_dir)
    assert _fingerprint(run_dir) == before


def test_an_exploding_loss_stops_the_run_like_nan(tiny):
    with pytest.raises(TrainingDiverged, match=r"loss (exploded to .* \(from .* at the start\)|became NaN|became "
                                               r"infinite) at epoch \d, step \d+; lower the learning rate \(now 10000\)"):
        train(tiny_config(optimizer="adam", lr=1e4, epochs=3))
    assert store.list_runs()[0].status == "failed"


def test_zero_classes_are_refused_everywhere(capsys):
    with pytest.raises(SpecError, match="at least 1 class"):
        adapt_spec(get_preset("cnn3"), num_classes=0)
    spec = get_preset("cnn3").to_dict() | {"num_classes": 0}
    with pytest.raises(SpecError, match="at least 1 class"):
        ModelSpec.from_dict(spec)
    assert cli_main(["summary", "cnn3", "--num-classes", "0"]) == 1
    assert "at least 1 class" in capsys.readouterr().err


def test_train_config_types_are_checked():
    with pytest.raises(ValueError, match="must be a JSON object"):
        TrainConfig.from_dict([1, 2])
    with pytest.raises(ValueError, match="training setting 'batch_size' must be a whole number \\(got str \"8\"\\)"):
        TrainConfig.from_dict({"batch_size": "8"})
    assert TrainConfig.from_dict({"epochs": 3.0, "lr": 1}).epochs == 3
