"""The live ETA (cnnkit.train.eta): nothing from warm-up steps, measured throughput after, validation included."""

from __future__ import annotations

import pytest

from cnnkit.train.eta import EVAL_COST_RATIO, FINISH_SECONDS, WARMUP_STEPS, EtaEstimator, eval_cost_ratio


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run_steps(eta: EtaEstimator, clock: FakeClock, durations: list[float]) -> None:
    for seconds in durations:
        clock.now += seconds
        eta.step()


def test_estimating_until_warm_then_steps_left_times_the_warm_step():
    clock = FakeClock()
    eta = EtaEstimator(total_steps=100, steps_per_epoch=50, batch_size=10, clock=clock)
    # a slow start (allocation, autotuning): 5 s, then 2 s, then 1 s steps
    run_steps(eta, clock, [5.0, 2.0, 1.0])
    assert eta.eta(3) is None  # still warming up: the page says "estimating…"
    run_steps(eta, clock, [1.0] * 5)
    assert eta.seconds_per_step == pytest.approx(1.0)  # the slow first steps are not in the average
    # 92 steps left at 1 s, two validations of 0 images, no test images
    assert eta.eta(8) == pytest.approx(92.0 + FINISH_SECONDS)


def test_validation_and_test_are_included_first_assumed_then_measured():
    clock = FakeClock()
    eta = EtaEstimator(total_steps=20, steps_per_epoch=10, batch_size=10, val_images=100, test_images=200,
                       clock=clock)
    run_steps(eta, clock, [1.0] * (WARMUP_STEPS + 3))
    steps = WARMUP_STEPS + 3
    # before an epoch ended: validation assumed at 0.35 × a training step's per-image cost
    per_image = 0.35 * 1.0 / 10
    assert eta.eta(steps) == pytest.approx((20 - steps) + 2 * 100 * per_image + 200 * per_image + FINISH_SECONDS)
    run_steps(eta, clock, [1.0] * (10 - steps))
    eta.epoch_done(epoch_seconds=14.0, train_seconds=10.0)  # the epoch's validation and commit took 4 s
    eta.begin_epoch()
    run_steps(eta, clock, [1.0] * 3)
    # one validation left, as measured; the test pass at the validation's measured cost per image (4 s / 100)
    assert eta.eta(13) == pytest.approx(7 + 4.0 + 200 * 0.04 + FINISH_SECONDS)


def test_a_resumed_run_does_not_pay_the_finished_epochs_again():
    clock = FakeClock()
    eta = EtaEstimator(total_steps=30, steps_per_epoch=10, batch_size=10, val_images=100, epochs_done_before=2,
                       clock=clock)
    run_steps(eta, clock, [1.0] * (WARMUP_STEPS + 3))
    assert eta.eta(26) == pytest.approx(4 + 100 * 0.35 / 10 + FINISH_SECONDS)


def test_a_slowdown_shows_within_the_next_epoch():
    clock = FakeClock()
    eta = EtaEstimator(total_steps=40, steps_per_epoch=20, batch_size=10, clock=clock)
    run_steps(eta, clock, [1.0] * 20)
    eta.epoch_done(20.0, 20.0)
    eta.begin_epoch()
    run_steps(eta, clock, [3.0] * 4)  # another job started on the same CPU
    assert eta.seconds_per_step == pytest.approx(3.0)


def test_a_frozen_backbone_evaluates_at_about_the_cost_of_its_training_step():
    assert eval_cost_ratio(1000, 0) == pytest.approx(EVAL_COST_RATIO)  # backward ≈ 2 forwards
    assert eval_cost_ratio(10, 990) == pytest.approx(EVAL_COST_RATIO + (1 - EVAL_COST_RATIO) * 0.99)
    assert eval_cost_ratio(0, 0) == pytest.approx(EVAL_COST_RATIO)
