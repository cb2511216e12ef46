"""Time estimates before a run (cnnkit.train.estimate): measured steps scaled to the run's steps, validation,
test and fixed costs; the lab's estimate sums its trainings."""

from __future__ import annotations

import pytest

from cnnkit.data import DatasetInfo
from cnnkit.train import TrainConfig
from cnnkit.train.estimate import (EPOCH_COMMIT_SECONDS, FINISH_SECONDS, StepCost, estimate_runs, estimate_training,
                                   measure_step_cost, split_sizes)

INFO = DatasetInfo(name="toy", classes=["a", "b"], channels=1, height=8, width=8, num_train=1000, num_test=200,
                   source="builtin", available=True)


def fake_measure(seconds_per_step: float = 0.1, eval_per_image: float = 0.001):
    calls = []

    def measure(config, data_shape, num_classes, device):
        calls.append((config.batch_size, tuple(data_shape), num_classes))
        return StepCost(seconds_per_step, eval_per_image, "cpu", tuple(data_shape))

    measure.calls = calls
    return measure


def test_the_estimate_scales_the_measured_step_to_the_run():
    measure = fake_measure()
    config = TrainConfig(dataset="toy", model="mlp", epochs=3, batch_size=64, val_fraction=0.1)
    estimate = estimate_training(config, info=INFO, measure=measure)
    assert measure.calls == [(64, (1, 8, 8), 2)]
    assert (estimate.train_images, estimate.val_images, estimate.steps_per_epoch) == (900, 100, 15)  # ⌈900/64⌉
    per_epoch = 15 * 0.1 + 100 * 0.001 + EPOCH_COMMIT_SECONDS
    assert estimate.seconds_per_epoch == pytest.approx(per_epoch)
    assert estimate.total_seconds == pytest.approx(3 * per_epoch + 200 * 0.001 + FINISH_SECONDS)
    assert "3 epoch(s) on cpu" in estimate.describe()
    assert estimate_runs([config, config], info=INFO, measure=measure) == pytest.approx(2 * estimate.total_seconds)


def test_the_subset_and_an_unavailable_dataset():
    assert split_sizes(1000, 0.1, train_subset=300) == (300, 100)
    missing = DatasetInfo(**{**INFO.__dict__, "available": False, "reason": "not downloaded"})
    with pytest.raises(ValueError, match="dataset toy is not available: not downloaded"):
        estimate_training(TrainConfig(dataset="toy"), info=missing, measure=fake_measure())


def test_a_real_measurement_of_a_tiny_network_is_positive_and_quick():
    config = TrainConfig(dataset="toy", model="mlp", batch_size=16)
    cost = measure_step_cost(config, (1, 8, 8), 2, "cpu", measure_seconds=0.05)
    assert 0 < cost.seconds_per_step < 5 and 0 < cost.eval_seconds_per_image < 1
    assert cost.input_shape == (1, 8, 8)


def test_the_lab_estimate_sums_its_trainings(monkeypatch):
    from cnnkit.labs import ResolutionLabConfig, estimate_lab
    from cnnkit.labs import resolution

    monkeypatch.setattr(resolution, "dataset_info", lambda name: INFO)
    measure = fake_measure()
    base = TrainConfig(dataset="toy", model="mlp", epochs=1, batch_size=100)
    config = ResolutionLabConfig(base=base.to_dict(), resolutions=[8, 4])
    one = estimate_training(base, info=INFO, measure=measure).total_seconds
    # two trainings (TOTV 8 px, TVTV 4 px) and the TOTV model's extra test at 4 px
    assert estimate_lab(config, measure=measure) == pytest.approx(2 * one + 200 * 0.001)


def test_evaluation_batches_hold_about_as_many_pixels_as_500_images_of_32_px():
    from cnnkit.evaluate import eval_batch_size

    assert eval_batch_size(32, 32) == 500
    assert eval_batch_size(8, 8) == 500  # never more than the limit
    assert eval_batch_size(96, 96) == 500 * 32 * 32 // (96 * 96) == 55
    assert eval_batch_size(224, 224) == 16  # at least 16
