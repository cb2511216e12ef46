"""`python -m cnnkit transfer`: the trainer's JSON keys plus the parameter counts; clear errors."""

from __future__ import annotations

import json

from cnnkit.cli import main
from tests.helpers.folders import write_shapes_folder

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


# flags `python -m cnnkit transfer --help` listed before the TrainConfig flags were shared with train
TRANSFER_FLAGS_BEFORE = {"--source", "--dataset", "--strategy", "--epochs", "--image-size", "--lr",
                         "--backbone-lr-factor", "--head-epochs", "--unfreeze", "--unfreeze-lr-factor", "--batch-size",
                         "--optimizer", "--scheduler", "--train-subset", "--val-fraction", "--seed", "--device", "--name",
                         "--estimate", "--json"}


def _subparser(name: str):
    from cnnkit.cli import build_parser

    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[name]


def _flag_value(field, default):
    """A value other than the default, as text for the flag and as the config should hold it."""
    import typing

    from cnnkit.train import TrainConfig

    hint = typing.get_type_hints(TrainConfig)[field.name]
    if field.metadata.get("choices"):
        value = next(c for c in field.metadata["choices"] if c != default)
        return value, value
    if hint is bool:
        return str(not default).lower(), not default
    if hint is int:
        return str(default + 3), default + 3
    if hint is float:
        return "0.375", 0.375
    if hint is str:
        return "cpu" if field.name == "device" else "abc", "cpu" if field.name == "device" else "abc"
    return "24", 24  # Optional[int] / Optional[float]


def test_train_and_transfer_read_every_train_config_flag_back():
    from cnnkit.cli import train_cmd
    from cnnkit.cli.common import config_flag_fields
    from cnnkit.train import TrainConfig

    for command, skip in (("train", set()), ("transfer", {"image_size"})):
        parser = _subparser(command)
        argv, expected = ["--dataset", "shapes"], {}
        for field in config_flag_fields():
            if field.name in skip or field.name == "dataset":
                continue
            text, value = _flag_value(field, getattr(TrainConfig(), field.name))
            argv += ["--" + field.name.replace("_", "-"), text]
            expected[field.name] = value
        argv += ["--hflip", "--cutout", "6", "--rotation", "12.5"]
        if command == "transfer":
            argv += ["--source", "efficientnet_lite0", "--strategy", "two-stage", "--image-size", "48"]
        args = parser.parse_args(argv)
        config = train_cmd.config_from_args(args) if command == "train" else _transfer_config(args)
        assert {name: getattr(config, name) for name in expected} == expected, command
        assert config.augment == {"hflip": True, "cutout": 6, "rotation": 12.5}
        if command == "transfer":
            assert config.model["strategy"] == "two-stage" and config.model["image_size"] == 48
            assert config.image_size is None  # the transfer model's input size, not the trainer's


def _transfer_config(args):
    from cnnkit.cli.common import config_from_flags
    from cnnkit.cli.transfer_cmd import _defaults, model_dict_from_args

    # as transfer_cmd.config_from_args, without validate(): the test's values are not all in range
    return config_from_flags(args, _defaults().to_dict() | {"model": model_dict_from_args(args)})


def test_transfer_keeps_its_flags_and_defaults():
    from cnnkit.cli.transfer_cmd import config_from_args

    parser = _subparser("transfer")
    flags = {option for action in parser._actions for option in action.option_strings}
    assert TRANSFER_FLAGS_BEFORE <= flags
    assert {"--momentum", "--weight-decay", "--hflip", "--precision"} <= flags  # train's, shared
    config = config_from_args(parser.parse_args(["--source", "efficientnet_lite0", "--dataset", "shapes"]))
    assert (config.epochs, config.batch_size, config.scheduler, config.lr) == (3, 32, "constant", 1e-3)
    assert "default: 3" in parser.format_help()
    train_flags = {o for a in _subparser("train")._actions for o in a.option_strings}
    assert {"--config", "--preset", "--spec", "--json", "--lr", "--l1", "--restore-size", "--log-every"} <= train_flags
