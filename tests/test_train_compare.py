"""Run comparison (cnnkit.train.compare): every expected value below is worked out by hand in the comments."""

from __future__ import annotations

import math

import pytest

from cnnkit.train import compare


def test_ema_is_tensorboards_debiased_average():
    # w = 0.5: last = 0.5·1 = 0.5, debias 0.5 -> 1; last = 0.25 + 1 = 1.25, debias 0.75 -> 5/3;
    # last = 0.625 + 1.5 = 2.125, debias 0.875 -> 17/7
    assert compare.ema([1, 2, 3], 0.5) == pytest.approx([1.0, 5 / 3, 17 / 7])
    assert compare.ema([4.0, 1.0], 0.0) == [4.0, 1.0]           # weight 0: the raw values
    assert compare.ema([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])  # a constant stays put


def test_ema_skips_missing_values_and_rejects_bad_weights():
    smooth = compare.ema([1.0, None, math.nan, 3.0], 0.5)
    assert smooth[0] == 1.0 and smooth[1] is None and math.isnan(smooth[2])
    assert smooth[3] == pytest.approx(7 / 3)  # last = 0.25 + 1.5 = 1.75, debias 0.75
    with pytest.raises(ValueError, match="between 0 and 0.999"):
        compare.ema([1.0], 1.0)


def test_smooth_rows_smooths_each_series_on_its_own_and_keeps_the_raw_value():
    rows = [{"run": "a", "epoch": 2, "value": 3.0}, {"run": "b", "epoch": 1, "value": 10.0},
            {"run": "a", "epoch": 1, "value": 1.0}]
    out = compare.smooth_rows(rows, 0.5, series=("run",))
    a = [r for r in out if r["run"] == "a"]
    assert [r["epoch"] for r in a] == [1, 2]
    assert a[1]["value"] == pytest.approx(7 / 3) and a[1]["raw"] == 3.0   # (0.25 + 1.5) / 0.75
    assert [r["value"] for r in out if r["run"] == "b"] == [10.0]        # not pulled by run a


def test_decimate_series_caps_points_per_series_and_keeps_the_ends():
    rows = [{"run": r, "step": i, "value": float(i)} for r in ("a", "b") for i in range(1000)]
    out = compare.decimate_series(rows, 10, series=("run",))
    assert len(out) == 20
    assert [r["step"] for r in out if r["run"] == "a"][0] == 0
    assert [r["step"] for r in out if r["run"] == "b"][-1] == 999


def test_colours_are_stable_distinct_and_order_free():
    keys = [f"run-{i}" for i in range(7)]
    colours = compare.assign_colours(keys)
    assert len(set(colours.values())) == 7                       # 7 runs, the 7 Okabe–Ito colours used
    assert set(colours.values()) == set(compare.OKABE_ITO)
    assert compare.assign_colours(reversed(keys)) == colours     # the order given does not matter
    alone = compare.assign_colours(["run-3"])["run-3"]
    pair = compare.assign_colours(["run-3", "zzz-other"])        # a run alone keeps its colour beside a later key
    assert pair["run-3"] == alone
    assert len(set(compare.assign_colours([f"k{i}" for i in range(12)]).values())) == 7  # beyond 7: repeats
    assert "#F0E442" not in compare.OKABE_ITO                    # the faint yellow is left out


def test_ordered_colours_follow_the_order_given():
    assert compare.ordered_colours(["base", "bn", "base"]) == {"base": "#0072B2", "bn": "#E69F00"}
    assert compare.ordered_colours([str(i) for i in range(8)])["7"] == "#0072B2"   # the 8th wraps round


def test_group_by_a_setting_and_by_the_seedless_config():
    configs = {"r1": {"optimizer": "sgd", "lr": 0.1, "seed": 0},
               "r2": {"optimizer": "sgd", "lr": 0.1, "seed": 1},
               "r3": {"optimizer": "adam", "lr": 0.001, "seed": 0},
               "r4": {"optimizer": "sgd", "lr": 0.01, "seed": 0}}
    assert compare.group_runs(configs, by="optimizer") == {"optimizer=sgd": ["r1", "r2", "r4"],
                                                          "optimizer=adam": ["r3"]}
    assert compare.group_runs(configs) == {"lr=0.1, optimizer=sgd": ["r1", "r2"],
                                          "lr=0.001, optimizer=adam": ["r3"],
                                          "lr=0.01, optimizer=sgd": ["r4"]}
    assert compare.groupable_settings(configs.values()) == ["lr", "optimizer"]  # seed is never one
    assert compare.group_runs({"a": {"seed": 0}, "b": {"seed": 1}}) == {"same settings": ["a", "b"]}


def test_a_run_without_a_dropout_setting_joins_dropout_0():
    configs = {"a": {"dropout": None, "seed": 0}, "b": {"dropout": 0.0, "seed": 1}, "c": {"dropout": 0.5, "seed": 0}}
    assert compare.group_runs(configs, by="dropout") == {"dropout=0": ["a", "b"], "dropout=0.5": ["c"]}
    assert compare.group_runs(configs) == {"dropout=0": ["a", "b"], "dropout=0.5": ["c"]}


def test_mean_std_uses_the_sample_std():
    # [1, 2, 3]: mean 2, squared deviations 1 + 0 + 1 = 2, / (n - 1) = 1 -> std 1
    assert compare.mean_std([1, 2, 3]) == (2.0, 1.0, 3)
    assert compare.mean_std([0.5]) == (0.5, 0.0, 1)
    mean, std, n = compare.mean_std([None, math.nan])
    assert n == 0 and math.isnan(mean)


def test_band_rows_over_seeds_of_different_lengths():
    seed0 = [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.7}]
    seed1 = [{"epoch": 1, "val_acc": 0.7}, {"epoch": 2, "val_acc": 0.9}, {"epoch": 3, "val_acc": 0.95}]
    rows = compare.band_rows([seed0, seed1], "val_acc")
    # epoch 1: mean 0.6, deviations ±0.1, sample std sqrt(0.02 / 1) = 0.1414
    assert rows[0]["epoch"] == 1 and rows[0]["mean"] == pytest.approx(0.6)
    assert rows[0]["std"] == pytest.approx(math.sqrt(0.02))
    assert rows[0]["lower"] == pytest.approx(0.6 - math.sqrt(0.02)) and rows[0]["n"] == 2
    assert rows[2] == {"epoch": 3, "mean": 0.95, "std": 0.0, "lower": 0.95, "upper": 0.95, "n": 1}


def test_group_bands_smooths_each_run_before_the_statistics():
    a = [{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 3.0}]
    b = [{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 5.0}]
    rows = compare.group_bands({"g": [a, b]}, ["loss"], weight=0.5)
    # smoothed: a -> [1, 7/3], b -> [3, 13/3]; epoch 2 mean (7/3 + 13/3) / 2 = 10/3
    assert rows[1]["mean"] == pytest.approx(10 / 3) and rows[1]["group"] == "g" and rows[1]["column"] == "loss"
    raw = compare.group_bands({"g": [a, b]}, ["loss"])
    assert raw[1]["mean"] == pytest.approx(4.0)


def test_axis_positions_linear_log_and_categories():
    assert compare.axis_positions([32, 64, 128]) == ([0.0, pytest.approx(1 / 3), 1.0], "linear")  # 32/96
    positions, scale = compare.axis_positions([0.001, 0.01, 0.1])      # log10: -3, -2, -1
    assert scale == "log" and positions == pytest.approx([0.0, 0.5, 1.0])
    assert compare.axis_positions(["sgd", "adam", "sgd", "rmsprop"]) == ([1.0, 0.0, 1.0, 0.5], "category")
    assert compare.axis_positions([0.5, 0.5]) == ([0.5, 0.5], "linear")
    assert compare.axis_positions([0.0, 0.25, 1.0]) == ([0.0, 0.25, 1.0], "linear")  # a zero: never log


def test_parallel_rows_one_per_run_and_axis_with_the_metric_last():
    points = [{"run": "a", "lr": 0.1, "optimizer": "sgd", "test acc": 0.8},
              {"run": "b", "lr": 0.001, "optimizer": "adam", "test acc": 0.6},
              {"run": "c", "lr": 0.01, "optimizer": "adam", "test acc": None}]   # unfinished: left out
    rows = compare.parallel_rows(points, ["lr", "optimizer"], "test acc")
    assert len(rows) == 6 and {r["run"] for r in rows} == {"a", "b"}
    by = {(r["run"], r["axis"]): r for r in rows}
    assert by[("a", "lr")]["position"] == 1.0 and by[("b", "lr")]["position"] == 0.0   # log: 0.001 .. 0.1
    assert by[("a", "optimizer")]["position"] == 1.0 and by[("a", "optimizer")]["value"] == "sgd"
    assert by[("a", "test acc")]["order"] == 2 and by[("b", "test acc")]["position"] == 0.0
    assert by[("b", "lr")]["value"] == "0.001" and by[("b", "lr")]["test acc"] == 0.6


def test_near_chance_by_the_number_of_classes():
    from cnnkit.train import report

    assert report.near_chance(0.117, 10) and not report.near_chance(0.2, 10)
    assert report.near_chance(0.40, 3) and not report.near_chance(0.45, 3)
    assert not report.near_chance(None, 10) and not report.near_chance(0.5, 1)
    assert report.chance_note([0.8, 0.9], 10) == ""
    assert report.chance_note([0.11], 10).startswith("This run ends near chance (10 % for 10 classes)")
