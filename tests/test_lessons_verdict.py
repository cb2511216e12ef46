"""Verdicts: does ours reproduce the report's direction (arm minus first arm), per arm and per lesson."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.lessons import parse_lesson
from cnnkit.lessons.results import ArmResult, LessonResult, metric_summary
from cnnkit.lessons.verdict import (NO_FIGURE, NO_RESULT, NO_VERDICT, NOT_REPRODUCED, NOT_RUN, REPRODUCED, SMALL,
                                    WITHIN_NOISE, index_verdict, judge, lesson_verdict)

LESSON = """
id = "v-demo"
title = "Verdicts"
topic = "architecture and depth"
question = "?"
[defaults]
dataset = "shapes"
epochs = 1
[[arms]]
id = "a"
config = {{ model = "cnn2" }}
[arms.reported]
{a}
[[arms]]
id = "b"
config = {{ model = "cnn3", seed = 10 }}
[arms.reported]
{b}
[[arms]]
id = "c"
config = {{ model = "cnn3" }}
[arms.reported]
{c}
"""


def lesson(a="test_accuracy = 70.0", b="test_accuracy = 73.0", c="test_accuracy = 65.0"):
    return parse_lesson(LESSON.format(a=a, b=b, c=c), "v.toml")


def arm(arm_id: str, seeds: list[int], accuracies: list[float]) -> ArmResult:
    return ArmResult(arm_id=arm_id, seeds=seeds, metrics={"test_accuracy": metric_summary(accuracies)})


def result(*arms: ArmResult) -> LessonResult:
    return LessonResult(lesson_id="v-demo", mode="quick", device="cpu", seeds=[0, 1, 2], arms=list(arms))


@pytest.mark.parametrize("report, ours, verdict, mean, std", [
    (3.0, [2.0, 4.0, 3.0], REPRODUCED, 3.0, 1.0),                 # mean 3 > std 1, same sign
    (3.0, [-2.0, -4.0, -3.0], NOT_REPRODUCED, -3.0, 1.0),
    (3.0, [1.0, -1.0, 3.0], WITHIN_NOISE, 1.0, 2.0),              # std 2 >= |mean| 1
    (3.0, [0.5], REPRODUCED, 0.5, None),                          # one seed: by sign, no spread
    (-3.0, [0.5], NOT_REPRODUCED, 0.5, None),
    (3.0, [0.0], WITHIN_NOISE, 0.0, None),
    (0.6, [5.0, 6.0], SMALL, 5.5, math.sqrt(0.5)),                # |report| <= 1: not counted
    (None, [5.0], NO_FIGURE, 5.0, None),
    (3.0, [], NO_RESULT, None, None),
])
def test_judge_follows_the_documented_rules(report, ours, verdict, mean, std):
    got, got_mean, got_std, one_seed = judge(report, ours)
    assert got == verdict
    assert got_mean == pytest.approx(mean) if mean is not None else got_mean is None
    assert got_std == pytest.approx(std) if std is not None else got_std is None
    assert one_seed == (len(ours) == 1)


def test_arms_pair_by_seed_offset_and_the_lesson_takes_the_worst():
    # b's own seed is 10, so its seeds 10, 11, 12 pair with a's 0, 1, 2; c misses seed 1
    found = lesson_verdict(lesson(), result(arm("a", [0, 1, 2], [60.0, 62.0, 61.0]),
                                            arm("b", [12, 10, 11], [66.0, 64.0, 63.0]),
                                            arm("c", [0, 2], [58.0, 63.0])))
    b, c = found.arms
    assert (b.report_diff, b.seeds, b.ours_diffs) == (3.0, [0, 1, 2], [4.0, 1.0, 5.0])
    assert b.mean == pytest.approx(10 / 3) and b.std == pytest.approx(math.sqrt(13 / 3))  # deviations 2/3, -7/3, 5/3
    assert (b.verdict, b.agreeing, b.counted, b.one_seed) == (REPRODUCED, 3, True, False)
    # c: report -5; ours -2 and +2: mean 0 -> within noise
    assert (c.report_diff, c.seeds, c.ours_diffs, c.verdict, c.agreeing) == (-5.0, [0, 2], [-2.0, 2.0],
                                                                             WITHIN_NOISE, 1)
    assert (found.verdict, found.counted, found.reproduced) == (WITHIN_NOISE, 2, 1)
    assert found.text == "within noise: 1 of 2 differences reproduced"
    assert "± 2.08 over 3 seeds" in b.text and "3 of 3 seeds" in b.text
    assert json.loads(json.dumps(found.to_dict()))["arms"][0]["ours_diffs"] == [4.0, 1.0, 5.0]


def test_validation_figures_stand_in_where_the_report_gives_no_test_accuracy_for_both():
    found = lesson_verdict(lesson(a="val_accuracy = 77.43", b="test_accuracy = 85.24\nval_accuracy = 83.47",
                                  c="macro_f1 = 0.7"),
                           result(arm("a", [0], [50.0]), arm("b", [10], [49.0]), arm("c", [0], [55.0])))
    b, c = found.arms
    assert b.report_metric == "val_accuracy" and b.report_diff == pytest.approx(6.04)
    assert (b.verdict, b.one_seed) == (NOT_REPRODUCED, True)
    assert (c.verdict, c.counted, c.report_diff) == (NO_FIGURE, False, None)
    assert (found.verdict, found.counted, found.one_seed) == (NOT_REPRODUCED, 1, True)


def test_one_seed_that_ties_the_first_arm_is_within_noise_and_says_so():
    # accuracies on 1,000 test images move in steps of 0.1: one seed of an arm can tie the first arm exactly
    found = lesson_verdict(lesson(), result(arm("a", [0], [51.2]), arm("b", [10], [51.2]), arm("c", [0], [50.0])))
    b, c = found.arms
    assert (b.verdict, b.mean, b.std, b.one_seed) == (WITHIN_NOISE, 0.0, None, False)
    assert b.text == ("within noise: report +3.00, ours +0.00 (one seed: spread unknown; 0 of 1 seeds in the "
                      "report's direction)")
    assert (c.verdict, c.one_seed) == (REPRODUCED, True) and found.verdict == WITHIN_NOISE


def test_no_result_and_no_verdict():
    assert lesson_verdict(lesson(), None).verdict == NO_RESULT
    small = lesson_verdict(lesson(b="test_accuracy = 70.5", c="test_accuracy = 69.5"),
                           result(arm("a", [0], [50.0]), arm("b", [10], [49.0]), arm("c", [0], [55.0])))
    assert small.verdict == NO_VERDICT and small.counted == 0 and "1 point or less" in small.text
    assert [a.verdict for a in small.arms] == [SMALL, SMALL]


# LESSON with its first arm only
ONE_ARM = LESSON[:LESSON.index("[[arms]]", LESSON.index("[[arms]]") + 1)].replace('id = "v-demo"', 'id = "v-one"')


def test_the_index_cell_says_not_run_one_arm_figures_or_the_verdict_with_its_seed_count():
    assert index_verdict(lesson(), None) == NOT_RUN
    one_seed = result(arm("a", [0], [60.0]), arm("b", [10], [64.0]), arm("c", [0], [58.0]))
    assert index_verdict(lesson(), one_seed) == "reproduced (1 seed)"
    three = result(arm("a", [0, 1, 2], [60.0, 62.0, 61.0]), arm("b", [10, 11, 12], [63.0, 66.0, 64.0]),
                   arm("c", [0, 1, 2], [55.0, 57.0, 56.0]))
    assert index_verdict(lesson(), three) == REPRODUCED
    single = parse_lesson(ONE_ARM.format(a="test_accuracy = 73.79"), "one.toml")
    ours = LessonResult(lesson_id="v-one", mode="full", device="cpu", seeds=[0], arms=[arm("a", [0], [73.3])])
    assert index_verdict(single, ours) == "ours 73.30, report 73.79"
    quick = LessonResult(lesson_id="v-one", mode="quick", device="cpu", seeds=[0], arms=[arm("a", [0], [43.5])])
    assert index_verdict(single, quick) == "one arm"   # quick settings are not the report's
    on_validation = parse_lesson(ONE_ARM.format(a="val_accuracy = 77.43"), "one.toml")
    assert index_verdict(on_validation, ours) == "ours 73.30, report 77.43 (validation)"
    no_figure = parse_lesson(ONE_ARM.format(a=""), "one.toml")
    assert index_verdict(no_figure, ours) == "one arm: ours 73.30"
    assert index_verdict(single, LessonResult(lesson_id="v-one", mode="full", device="cpu", seeds=[0])) == \
        f"one arm: {NO_RESULT}"


LAB = """
id = "v-lab"
title = "Resolution"
topic = "resolution"
question = "?"
[[arms]]
id = "lab"
kind = "resolution_lab"
[arms.config]
resolutions = [32, 16, 8]
[arms.config.base]
dataset = "shapes"
epochs = 1
""" + "".join(f"[arms.reported.by_resolution.{method}.{size}]\ntest_accuracy = {value}\n"
             for method, figures in (("TOTV", {32: 75, 16: 41, 8: 24}), ("TVTV", {32: 75, 16: 70, 8: 59}))
             for size, value in figures.items())   # the report's table 1


def test_a_resolution_lab_is_judged_on_tvtv_minus_totv_at_each_lower_resolution():
    lab = parse_lesson(LAB, "lab.toml")

    def summary(values):
        return {"test_accuracy": metric_summary(values)}

    ours = ArmResult(arm_id="lab", seeds=[0, 1, 2], metrics=summary([39.1, 38.1, 38.8]), by_resolution={
        "TOTV": {"32": summary([39.1, 38.1, 38.8]), "16": summary([34.9, 35.9, 35.8]), "8": summary([36.0, 30.9, 33.3])},
        "TVTV": {"32": summary([39.1, 38.1, 38.8]), "16": summary([39.1, 38.5, 38.7]), "8": summary([35.0, 35.7, 36.6])}})
    found = lesson_verdict(lab, LessonResult(lesson_id="v-lab", mode="quick", device="cpu", seeds=[0, 1, 2],
                                             arms=[ours]))
    assert [a.compared for a in found.arms] == ["TVTV − TOTV at 16 px", "TVTV − TOTV at 8 px"]   # not 32: one model
    at16, at8 = found.arms
    assert (at16.report_diff, at8.report_diff) == (29.0, 35.0)
    assert at16.ours_diffs == pytest.approx([4.2, 2.6, 2.9]) and (at16.verdict, at16.agreeing) == (REPRODUCED, 3)
    assert at8.ours_diffs == pytest.approx([-1.0, 4.8, 3.3]) and at8.agreeing == 2
    assert at8.mean == pytest.approx(7.1 / 3) and at8.verdict == WITHIN_NOISE      # |2.37| <= std 3.01
    assert (found.verdict, found.counted, found.reproduced) == (WITHIN_NOISE, 2, 1)
    assert index_verdict(lab, LessonResult(lesson_id="v-lab", mode="quick", device="cpu", seeds=[0, 1, 2],
                                           arms=[ours])) == WITHIN_NOISE   # a lab is not "one arm"


@settings(max_examples=300, deadline=None)
@given(report=st.one_of(st.none(), st.floats(-40, 40, allow_nan=False)),
       base=st.lists(st.integers(0, 1000), min_size=0, max_size=4),
       steps=st.lists(st.integers(-30, 30), min_size=0, max_size=4))
def test_every_arm_verdict_has_a_text_whatever_the_seeds_give(report, base, steps):
    """Per-seed accuracies in the 0.1 steps of a 1,000-image test set, ties and missing seeds included: the verdict is
    one of the documented ones and its text reads (no seed may break the Lessons page)."""
    from cnnkit.lessons.verdict import _judged

    base_acc = {k: a / 10 for k, a in enumerate(base)}
    mine = {k: base_acc[k] + s / 10 for k, s in enumerate(steps) if k in base_acc}
    v = _judged("b", "B", "test_accuracy", report, base_acc, mine)
    assert v.verdict in (REPRODUCED, NOT_REPRODUCED, WITHIN_NOISE, SMALL, NO_FIGURE, NO_RESULT)
    assert isinstance(v.text, str) and v.text.startswith(v.verdict if v.verdict != NO_RESULT else "no result")
    assert len(v.ours_diffs) == len(mine) and (v.std is None) == (len(mine) < 2)
