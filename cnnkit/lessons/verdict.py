"""Does ours reproduce the report's direction? Per lesson and per arm, the effect (arm minus the lesson's first arm)
in the report against ours, seed by seed.

For every arm after the first:
- report_diff = report(arm) - report(first arm), in accuracy points: the report's test accuracy, or its validation
  accuracy where it gives no test figure for both arms (000-P2: 77.43 -> 74.60 on validation only);
- ours, per seed: ours(arm, seed) - ours(first arm, seed), test accuracy, paired by seed offset (seed k of every arm
  is the arm's own seed + k, as `lesson run --seeds` makes them); mean and sample std of those differences;
- the verdict:
  "no report figure"             the report has no figure for the arm or for the first arm (not counted);
  "report difference ≤ 1 point"  |report_diff| <= 1: too small to call a direction (not counted);
  "no result"                    no seed of ours has both arms finished;
  "within noise"                 two or more seeds and |mean| <= std (the seeds disagree more than the arms differ),
                                 or a difference of exactly 0;
  "reproduced"                   mean has the report's sign and |mean| > std;
  "not reproduced"               mean has the opposite sign and |mean| > std.
  One seed has no spread: its verdict is "reproduced" / "not reproduced" by sign alone, with one_seed = True (the
  page says "one seed: spread unknown"; run more seeds to tell an effect from noise).
A resolution lab (001-Q1) compares within itself: at each resolution where the report's TOTV and TVTV figures
differ, TVTV minus TOTV, judged as above (compared = "TVTV − TOTV at 16 px").
A lesson's verdict is the worst over its counted arms (not reproduced < no result < within noise < reproduced), or
"no verdict" when no arm is counted (a one-arm lesson, or no report differences over 1 point).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from cnnkit.lessons.results import ArmResult, LessonResult
from cnnkit.lessons.schema import Lesson

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
WITHIN_NOISE = "within noise"
NO_RESULT = "no result"
NO_FIGURE = "no report figure"
SMALL = "report difference ≤ 1 point"
NO_VERDICT = "no verdict"
ARM_VERDICTS = (REPRODUCED, NOT_REPRODUCED, WITHIN_NOISE, NO_RESULT, NO_FIGURE, SMALL)
LESSON_VERDICTS = (REPRODUCED, NOT_REPRODUCED, WITHIN_NOISE, NO_RESULT, NO_VERDICT)
COUNTED = (REPRODUCED, NOT_REPRODUCED, WITHIN_NOISE, NO_RESULT)   # verdicts of arms the goal counts
WORST_FIRST = (NOT_REPRODUCED, NO_RESULT, WITHIN_NOISE, REPRODUCED)
MIN_REPORT_DIFF = 1.0            # accuracy points: a smaller report difference has no direction to reproduce
REPORT_METRICS = ("test_accuracy", "val_accuracy")   # the report's figure: test accuracy, else validation


@dataclass
class ArmVerdict:
    arm_id: str
    label: str
    verdict: str                   # one of ARM_VERDICTS
    report_metric: str = ""        # "test_accuracy" or "val_accuracy": which of the report's figures (ours: test)
    report_diff: Optional[float] = None     # report(arm) - report(first arm), points
    seeds: list[int] = field(default_factory=list)        # the seed offsets paired (0 = each arm's own seed)
    ours_diffs: list[float] = field(default_factory=list)  # per paired seed: ours(arm) - ours(first arm), points
    mean: Optional[float] = None
    std: Optional[float] = None    # sample std of ours_diffs; None with one seed
    agreeing: int = 0              # seeds whose difference has the report's sign
    one_seed: bool = False         # the verdict rests on one seed: no spread to compare with
    counted: bool = False          # the arm counts for "quick mode agrees with the report"
    text: str = ""                 # one line for the page and the CLI
    compared: str = ""             # what minus what, when it is not "this arm − the first arm" (a resolution lab)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LessonVerdict:
    lesson_id: str
    verdict: str                   # one of LESSON_VERDICTS
    mode: str = ""                 # the result's mode ("quick" / "full"), "" without a result
    first_arm: str = ""
    arms: list[ArmVerdict] = field(default_factory=list)    # every arm after the first
    counted: int = 0               # arms the verdict is over
    reproduced: int = 0            # of those, how many are "reproduced"
    one_seed: bool = False         # some counted arm's verdict rests on one seed
    text: str = ""

    def arm(self, arm_id: str) -> Optional[ArmVerdict]:
        return next((a for a in self.arms if a.arm_id == arm_id), None)

    def to_dict(self) -> dict:
        return asdict(self)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def judge(report_diff: Optional[float], ours_diffs: list[float]) -> tuple[str, Optional[float], Optional[float], bool]:
    """(verdict, mean, std, one_seed) of one arm from the report's difference and ours per seed (the rules above)."""
    diffs = [float(d) for d in ours_diffs if d is not None and math.isfinite(float(d))]
    mean = statistics.fmean(diffs) if diffs else None
    std = statistics.stdev(diffs) if len(diffs) > 1 else None
    one_seed = len(diffs) == 1
    if report_diff is None:
        return NO_FIGURE, mean, std, one_seed
    if abs(report_diff) <= MIN_REPORT_DIFF:
        return SMALL, mean, std, one_seed
    if mean is None:
        return NO_RESULT, None, None, False
    if mean == 0 or (std is not None and abs(mean) <= std):
        return WITHIN_NOISE, mean, std, one_seed
    return (REPRODUCED if _sign(mean) == _sign(report_diff) else NOT_REPRODUCED), mean, std, one_seed


def _report_diff(lesson: Lesson, arm_index: int) -> tuple[str, Optional[float]]:
    first, arm = lesson.arms[0].reported, lesson.arms[arm_index].reported
    for metric in REPORT_METRICS:
        a, b = arm.value(metric), first.value(metric)
        if a is not None and b is not None:
            return metric, float(a) - float(b)
    return "", None


def _per_offset(lesson: Lesson, result: Optional[LessonResult], arm_index: int,
                summary: Callable[[ArmResult], Optional[dict]] = lambda ours: ours.metrics.get("test_accuracy")
                ) -> dict[int, float]:
    """seed offset -> our test accuracy (percent) for one arm's finished seeds; `summary` picks the figure's
    summary from the arm's result (default its test accuracy; a resolution lab's method at one resolution)."""
    arm = lesson.arms[arm_index]
    ours = result.arm(arm.id) if result is not None else None
    if ours is None:
        return {}
    values = (summary(ours) or {}).get("per_seed") or []
    base = lesson.arm_seed(arm)
    return {int(seed) - base: float(v) for seed, v in zip(ours.seeds, values)
            if v is not None and math.isfinite(float(v))}


def _arm_text(v: ArmVerdict) -> str:
    if v.verdict in (NO_FIGURE, SMALL):
        return v.verdict + ("" if v.report_diff is None else f" (report {v.report_diff:+.2f})")
    if v.verdict == NO_RESULT:
        return f"no result (report {v.report_diff:+.2f})"
    # one seed has no spread, whatever its verdict (a tie, 0.00, is within noise)
    spread = "one seed: spread unknown" if v.std is None else f"± {v.std:.2f} over {len(v.ours_diffs)} seeds"
    return (f"{v.verdict}: report {v.report_diff:+.2f}, ours {v.mean:+.2f} ({spread}; "
            f"{v.agreeing} of {len(v.ours_diffs)} seeds in the report's direction)")


def _judged(arm_id: str, label: str, metric: str, report_diff: Optional[float], base: dict[int, float],
            mine: dict[int, float], compared: str = "") -> ArmVerdict:
    """An ArmVerdict of `mine` minus `base` (seed offset -> test accuracy), paired by seed offset."""
    offsets = sorted(set(base) & set(mine))
    diffs = [mine[k] - base[k] for k in offsets]
    verdict, mean, std, one_seed = judge(report_diff, diffs)
    agreeing = sum(1 for d in diffs if report_diff is not None and _sign(d) == _sign(report_diff) != 0)
    v = ArmVerdict(arm_id=arm_id, label=label, verdict=verdict, report_metric=metric, report_diff=report_diff,
                   seeds=offsets, ours_diffs=diffs, mean=mean, std=std, agreeing=agreeing,
                   one_seed=one_seed and verdict in (REPRODUCED, NOT_REPRODUCED), counted=verdict in COUNTED,
                   compared=compared)
    v.text = _arm_text(v)
    return v


def _lab_verdicts(lesson: Lesson, result: Optional[LessonResult]) -> list[ArmVerdict]:
    """A resolution lab's effect: at each resolution where the report's TOTV and TVTV differ, TVTV minus TOTV
    (trained at the test resolution against trained at full size), the report's against ours seed by seed."""
    out = []
    for index, arm in enumerate(lesson.arms):
        reported = arm.reported.by_resolution if arm.kind == "resolution_lab" else {}
        totv, tvtv = reported.get("TOTV") or {}, reported.get("TVTV") or {}
        for resolution in sorted(set(totv) & set(tvtv), key=lambda r: -int(r) if str(r).isdigit() else 0):
            theirs = [(tvtv[resolution] or {}).get("test_accuracy"), (totv[resolution] or {}).get("test_accuracy")]
            if None in theirs or theirs[0] == theirs[1]:      # the native size: one model for both
                continue
            report_diff = float(theirs[0]) - float(theirs[1])
            trained, tested = (_per_offset(lesson, result, index, lambda ours, m=method, r=str(resolution):
                                           ((ours.by_resolution.get(m) or {}).get(r) or {}).get("test_accuracy"))
                               for method in ("TVTV", "TOTV"))
            out.append(_judged(f"{arm.id}@{resolution}", f"{resolution} px", "test_accuracy", report_diff, tested,
                               trained, compared=f"TVTV − TOTV at {resolution} px"))
    return out


def arm_verdicts(lesson: Lesson, result: Optional[LessonResult]) -> list[ArmVerdict]:
    """One ArmVerdict per arm after the lesson's first, then one per resolution of a resolution lab whose report
    gives different TOTV and TVTV figures there (TVTV minus TOTV)."""
    first = _per_offset(lesson, result, 0)
    out = []
    for index in range(1, len(lesson.arms)):
        arm = lesson.arms[index]
        metric, report_diff = _report_diff(lesson, index)
        out.append(_judged(arm.id, arm.label, metric, report_diff, first, _per_offset(lesson, result, index)))
    return out + _lab_verdicts(lesson, result)


def lesson_verdict(lesson: Lesson, result: Optional[LessonResult]) -> LessonVerdict:
    """The lesson's verdict from one result (None: no result yet, so every counted arm is "no result")."""
    arms = arm_verdicts(lesson, result)
    counted = [a for a in arms if a.counted]
    if not counted:
        verdict = NO_VERDICT
        text = ("no verdict: the report gives no figures to compare" if not any(a.report_diff is not None for a in arms)
                else "no verdict: the report's differences are all 1 point or less") if arms else \
            "no verdict: one arm, nothing to compare"
    else:
        verdict = next(v for v in WORST_FIRST if any(a.verdict == v for a in counted))
        done = sum(a.verdict == REPRODUCED for a in counted)
        text = f"{verdict}: {done} of {len(counted)} differences reproduced"
        if any(a.one_seed for a in counted):
            text += " (one seed: spread unknown)"
    return LessonVerdict(lesson_id=lesson.id, verdict=verdict, mode=result.mode if result else "",
                         first_arm=lesson.arms[0].id if lesson.arms else "", arms=arms, counted=len(counted),
                         reproduced=sum(a.verdict == REPRODUCED for a in counted),
                         one_seed=any(a.one_seed for a in counted), text=text)


NOT_RUN = "not run yet"
ONE_ARM = "one arm"


def index_verdict(lesson: Lesson, result: Optional[LessonResult]) -> str:
    """The lesson's cell in the index's verdict column of the result's mode, in words a teacher reads at a glance:
    "not run yet" without a result; for a one-arm lesson (nothing to compare) ours against the report's figure in
    full mode (the report's settings; quick mode's figure is not the report's, so it says only "one arm"); else the
    verdict, with "1 seed" where a counted arm's verdict rests on one seed (no spread to judge noise by)."""
    if result is None:
        return NOT_RUN
    alone = len(lesson.arms) == 1 and lesson.arms[0].kind != "resolution_lab"   # a lab compares within itself
    if alone and result.mode != "full":
        return ONE_ARM
    if alone:
        arm = lesson.arms[0]
        ours = result.arm(arm.id)
        mine = ours.mean("test_accuracy") if ours is not None else None
        if mine is None:
            return f"{ONE_ARM}: {NO_RESULT}"
        metric = next((m for m in REPORT_METRICS if arm.reported.value(m) is not None), "")
        if not metric:
            return f"{ONE_ARM}: ours {mine:.2f}"
        which = " (validation)" if metric == "val_accuracy" else ""
        return f"ours {mine:.2f}, report {float(arm.reported.value(metric)):.2f}{which}"
    verdict = lesson_verdict(lesson, result)
    return verdict.verdict + (" (1 seed)" if verdict.one_seed else "")


__all__ = ["ARM_VERDICTS", "ArmVerdict", "COUNTED", "LESSON_VERDICTS", "LessonVerdict", "MIN_REPORT_DIFF",
           "NOT_REPRODUCED", "NOT_RUN", "NO_FIGURE", "NO_RESULT", "NO_VERDICT", "REPRODUCED", "SMALL",
           "WITHIN_NOISE", "arm_verdicts", "index_verdict", "judge", "lesson_verdict"]
