"""`python -m cnnkit transfer`: the trainer's JSON keys plus the parameter counts; clear errors."""

from __future__ import annotations

import json

from cnnkit.cli import main
from tests.test_transfer_builder import write_shapes_folder

TRAIN_KEYS = {"run_id", "run_dir", "status", "dataset", "model", "device", "epochs", "seconds", "train_img_per_s",
              "test_acc", "macro_f1", "per_class", "best_val_acc", "trainable_params", "frozen_params", "message",
              "macro_precision", "macro_recall", "top_k"}


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_transfer_json_has_the_trainer_keys_and_counts(capsys):
    dataset = write_shapes_folder("cli3", (0, 1, 2), 6, 3, seed=7)
    code = main(["transfer", "--source", "efficientnet_lite0", "--dataset", dataset, "--strategy", "head",
                 "--epochs", "1", "--image-size", "32", "--batch-size", "9", "--val-fraction", "0", "--device", "cpu",
                 "--json"])
    assert code == 0
    data = last_json(capsys.readouterr().out)
    assert TRAIN_KEYS <= set(data)
    assert data["trainable_params"] == 1280 * 3 + 3
    assert data["trainable_params"] + data["frozen_params"] > 3_000_000
    assert data["strategy"] == "head" and data["source"] == "efficientnet_lite0"
    assert data["status"] == "done" and data["epochs"] == 1 and 0 <= data["test_acc"] <= 1
    assert data["seconds_per_epoch"] > 0


def test_transfer_estimate_reports_counts_and_cost(capsys):
    dataset = write_shapes_folder("cli3", (0, 1, 2), 6, 3, seed=7)
    code = main(["transfer", "--source", "efficientnet_lite0", "--dataset", dataset, "--strategy", "last:1",
                 "--image-size", "32", "--estimate", "--json"])
    assert code == 0
    data = last_json(capsys.readouterr().out)
    assert data["trainable_params"] == 1280 * 3 + 3 + 320 * 1280 + 2 * 1280
    assert data["input_shape"] == [3, 32, 32]
    assert data["seconds_per_epoch"] > 0 and data["estimate"]["image_size"] == 32
    assert data["blocks"][0] == "stem" and len(data["blocks"]) == 18


def test_transfer_errors_are_one_line(capsys):
    assert main(["transfer", "--source", "nothing", "--dataset", "shapes"]) == 1
    assert "error: unknown transfer source 'nothing'" in capsys.readouterr().err
    assert main(["transfer", "--source", "efficientnet_lite0", "--dataset", "shapes", "--strategy", "last:x"]) == 1
    assert "write last:N with N a whole number" in capsys.readouterr().err


def test_transfer_estimate_prices_two_stage_per_stage(capsys, monkeypatch):
    """Two-stage: the head-only epochs at the head's cost, the rest at the unfrozen strategy's (the
    CLI once priced every epoch at the head's). A fake probe keeps the timings exact."""
    from cnnkit.transfer import estimate
    from cnnkit.transfer.estimate import EpochCost

    per_image = {"head": 1.0, "full": 2.0}
    seen = []

    def probe(model_dict, data_shape, num_classes, batch_size, device):
        seen.append((model_dict["strategy"], device))
        return EpochCost(image_size=32, batch_size=batch_size, train_images=1, eval_images=1,
                         train_seconds_per_image=per_image[model_dict["strategy"]], eval_seconds_per_image=0.0,
                         seconds_per_epoch=per_image[model_dict["strategy"]], device=device)

    monkeypatch.setattr(estimate, "probe_network", probe)
    dataset = write_shapes_folder("cli3", (0, 1, 2), 6, 3, seed=7)
    code = main(["transfer", "--source", "efficientnet_lite0", "--dataset", dataset, "--strategy", "two-stage",
                 "--head-epochs", "1", "--epochs", "3", "--image-size", "32", "--device", "cpu", "--estimate", "--json"])
    assert code == 0
    data = last_json(capsys.readouterr().out)
    # 18 training images: 2 for validation (10 %), 16 trained on per epoch
    assert seen == [("head", "cpu"), ("full", "cpu")]
    assert [(s["strategy"], s["epochs"], s["seconds_per_epoch"]) for s in data["estimate"]["stages"]] == [
        ("head", 1, 16.0), ("full", 2, 32.0)]
    assert data["total_seconds"] == 16 + 2 * 32
    assert abs(data["seconds_per_epoch"] - (16 + 2 * 32) / 3) < 1e-9
    assert data["estimate"]["image_size"] == 32 and data["strategy"] == "two-stage"
