"""plan_cost: a transfer run's cost per stage and in all, measured by a probe (a fake one here, so
these tests take milliseconds; the real probe runs in tests/test_transfer_builder.py and the CLI test)."""

from __future__ import annotations

import pytest

from cnnkit.data import DatasetInfo
from cnnkit.device import resolve_device
from cnnkit.train import TrainConfig
from cnnkit.transfer import estimate
from cnnkit.transfer.estimate import EpochCost, plan_cost, split_sizes

# seconds per training image and per validation image, by what trains
PER_IMAGE = {"head": (1.0, 0.5), "last:2": (2.0, 0.5), "full": (3.0, 0.5)}
INFO = DatasetInfo(name="fake", classes=["a", "b", "c"], channels=3, height=32, width=32, num_train=100,
                   num_test=10, source="folder", available=True)


class FakeProbe:
    """Records its calls; answers PER_IMAGE for the strategy, at 64 px."""

    def __init__(self):
        self.calls = []

    def __call__(self, model_dict, data_shape, num_classes, batch_size, device) -> EpochCost:
        self.calls.append({"model": model_dict, "data_shape": data_shape, "num_classes": num_classes,
                           "batch_size": batch_size, "device": device})
        train, val = PER_IMAGE[model_dict["strategy"]]
        return EpochCost(image_size=64, batch_size=batch_size, train_images=1, eval_images=1,
                         train_seconds_per_image=train, eval_seconds_per_image=val, seconds_per_epoch=train + val,
                         device=device)


def transfer_config(strategy: str, epochs: int = 5, **model) -> TrainConfig:
    return TrainConfig(dataset="fake", epochs=epochs, batch_size=16, val_fraction=0.1, device="cpu",
                       model={"kind": "transfer", "source": "efficientnet_lite0", "strategy": strategy,
                              "image_size": 64, **model})


def test_two_stage_prices_head_epochs_at_the_head_cost_and_the_rest_unfrozen():
    probe = FakeProbe()
    cost = plan_cost(transfer_config("two-stage", epochs=5, head_epochs=2, unfreeze="last:2"), "cpu", info=INFO,
                     probe=probe)
    # 100 images: 10 validation, 90 training
    assert (cost.train_images, cost.eval_images) == (90, 10)
    head, unfrozen = cost.stages
    assert (head.strategy, head.epochs, head.seconds_per_epoch) == ("head", 2, 90 * 1.0 + 10 * 0.5)
    assert (unfrozen.strategy, unfrozen.epochs, unfrozen.seconds_per_epoch) == ("last:2", 3, 90 * 2.0 + 10 * 0.5)
    assert cost.total_seconds == pytest.approx(2 * 95 + 3 * 185)
    assert cost.seconds_per_epoch == pytest.approx((2 * 95 + 3 * 185) / 5)
    assert cost.image_size == 64 and cost.epochs == 5
    assert cost.per_epoch_text() == "1 min 35 s → 3 min 05 s"
    assert "then" in cost.describe() and "of last:2" in cost.describe()
    # the probe sees only what changes the network's cost, the data's shape and the device
    assert [c["model"]["strategy"] for c in probe.calls] == ["head", "last:2"]
    assert probe.calls[0] == {"model": {"kind": "transfer", "source": "efficientnet_lite0", "strategy": "head",
                                        "image_size": 64},
                              "data_shape": (3, 32, 32), "num_classes": 3, "batch_size": 16, "device": "cpu"}
    data = cost.to_dict()
    assert data["total_seconds"] == cost.total_seconds and data["text"] == cost.describe()
    assert [s["strategy"] for s in data["stages"]] == ["head", "last:2"]


def test_two_stage_that_never_unfreezes_is_all_head_epochs():
    cost = plan_cost(transfer_config("two-stage", epochs=2, head_epochs=3), "cpu", info=INFO, probe=FakeProbe())
    assert [(s.strategy, s.epochs) for s in cost.stages] == [("head", 2)]
    assert " → " not in cost.per_epoch_text()


def test_one_stage_strategies_and_the_train_subset():
    probe = FakeProbe()
    config = transfer_config("full", epochs=3)
    config.train_subset = 40
    cost = plan_cost(config, "cpu", info=INFO, probe=probe)
    assert [(s.strategy, s.epochs) for s in cost.stages] == [("full", 3)]
    assert cost.seconds_per_epoch == pytest.approx(40 * 3.0 + 10 * 0.5)
    assert cost.total_seconds == pytest.approx(3 * cost.seconds_per_epoch)
    assert "per epoch at 64×64 px" in cost.describe()
    assert split_sizes(100, 0.0) == (100, 0) and split_sizes(100, 0.25, 50) == (50, 25)


def test_the_device_is_resolved_and_reaches_the_probe():
    """auto becomes the real device (the page caches by it): a GPU server's estimate is timed on its GPU."""
    probe = FakeProbe()
    config = transfer_config("head")
    config.device = "auto"
    cost = plan_cost(config, None, info=INFO, probe=probe)
    expected = str(resolve_device("auto"))
    assert probe.calls[0]["device"] == expected and cost.device == expected
    plan_cost(config, "cpu", info=INFO, probe=probe)  # an explicit device wins over the config's
    assert probe.calls[-1]["device"] == "cpu"


def test_the_default_probe_is_probe_network(monkeypatch):
    probe = FakeProbe()
    monkeypatch.setattr(estimate, "probe_network", probe)
    plan_cost(transfer_config("head"), "cpu", info=INFO)
    assert len(probe.calls) == 1


def test_bad_input_says_what_to_change():
    with pytest.raises(ValueError, match="for transfer runs"):
        plan_cost(TrainConfig(dataset="fake"), "cpu", info=INFO, probe=FakeProbe())
    missing = DatasetInfo(name="gone", classes=[], channels=3, height=32, width=32, num_train=0, num_test=0,
                          source="folder", available=False, reason="no such folder")
    with pytest.raises(ValueError, match="not available: no such folder"):
        plan_cost(transfer_config("head"), "cpu", info=missing, probe=FakeProbe())
    with pytest.raises(ValueError, match="last:N"):
        plan_cost(transfer_config("last:x"), "cpu", info=INFO, probe=FakeProbe())
