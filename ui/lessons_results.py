"""The Lessons page's results: ours (mean ± std over seeds) against the report's figures, the per-epoch curves
overlaid (the report's dashed), per-class tables and confusion matrices, and the class's predictions.

The rows come from cnnkit.lessons (comparison_rows, curve_rows); this module draws them. Quick results are
labelled "quick" in every table and chart title."""

from __future__ import annotations

import math
import time
from typing import Optional, Sequence

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit import lessons
from cnnkit.classroom.identity import same_person
from cnnkit.classroom.permissions import owner_label
from cnnkit.train.compare import band_rows, ordered_colours
from ui.text import escape_markdown
from ui.run_views import confusion_chart

METRIC_NAMES = {"test_accuracy": "test accuracy (%)", "macro_f1": "macro F1", "precision": "precision",
                "recall": "recall"}
PERCENT = ("test_accuracy",)
CURVE_TITLES = {"train_loss": "Training loss", "val_loss": "Validation loss", "train_acc": "Training accuracy (%)",
                "val_acc": "Validation accuracy (%)", "first_layer_grad": "First layer's mean gradient"}
SOURCE_DASH = alt.Scale(domain=["ours", "report"], range=[[1, 0], [6, 4]])
# Shared by the band and the line layers (one merged legend): full-strength symbols, not the band's faint fill.
ARM_LEGEND = alt.Legend(title="arm", symbolType="stroke", symbolOpacity=1, symbolStrokeWidth=3)
# Shades for the full-mode difference column; the "how close" column says the same in words.
VERDICT_COLOURS = {"close": "#d3f9d8", "ours higher": "#d0ebff", "ours lower": "#ffe3e3", "no report figure": ""}
# Shades of the effect's verdict (cnnkit.lessons.verdict); the verdict column says it in words.
EFFECT_COLOURS = {"reproduced": "#d3f9d8", "not reproduced": "#ffe3e3", "within noise": "#fff3bf"}
EFFECT = "verdict"


def _fmt(metric: str, value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.2f}" if metric in PERCENT else f"{value:.3f}"


def verdict(metric: str, difference: Optional[float], std: Optional[float]) -> str:
    """In words: "close" when ours is within 1 point (0.01 for 0-1 figures) or two of our seeds' standard
    deviations of the report's; else which is higher."""
    if difference is None:
        return "no report figure"
    tolerance = max(1.0 if metric in PERCENT else 0.01, 2 * (std or 0.0))
    if abs(difference) <= tolerance:
        return "close"
    return "ours higher" if difference > 0 else "ours lower"


def result_label(result) -> str:
    """Which result this is, in one line: mode, seeds, where it trained (threads used), when, and whose."""
    when = time.strftime("%Y-%m-%d", time.localtime(result.created)) if result.created else "date not recorded"
    whose = "shipped with the install" if result.shipped else f"run by {owner_label(result.owner)}"
    where = result.device_label or result.device or "device not recorded"
    if result.cpu_instructions:
        where += f", {result.cpu_instructions} instructions"
    return f"{result.mode} mode · {len(result.seeds)} seed(s) per arm · {where} · {when} · {whose}"


def comparison_frame(lesson, result) -> pd.DataFrame:
    """Absolute figures, ours beside the report's. Quick mode trains less, so its absolute figures are lower by
    design: its table has no "how close" judgement (the effect table judges it)."""
    rows = []
    quick = result.mode == "quick"
    for row in lessons.comparison_rows(lesson, result):
        metric = row["metric"]
        ours = _fmt(metric, row["ours_mean"])
        if row["ours_mean"] is not None and row.get("ours_std") is not None:
            ours += f" ± {_fmt(metric, row['ours_std'])}"
        entry = {"arm": row["arm_label"] + (f" · {row['at']}" if row.get("at") else ""),
                 "figure": METRIC_NAMES.get(metric, metric),
                 "ours" + (" (quick)" if quick else ""): ours, "seeds": row["n"],
                 "report": _fmt(metric, row["reported"]),
                 "difference": "—" if row["difference"] is None else
                 f"{row['difference']:+.2f}" if metric in PERCENT else f"{row['difference']:+.3f}"}
        if not quick:
            entry["how close"] = verdict(metric, row["difference"], row.get("ours_std"))
        rows.append(entry)
    return pd.DataFrame(rows)


def effect_frame(lesson, result) -> pd.DataFrame:
    """Each arm's test accuracy minus the first arm's, the report's against ours seed by seed (mean ± std), and the
    verdict (cnnkit.lessons.verdict): the effect a lesson is about, comparable in quick mode too."""
    first = lesson.arms[0]
    rows = []
    for v in lessons.arm_verdicts(lesson, result):
        ours = "—" if v.mean is None else f"{v.mean:+.2f}" + (f" ± {v.std:.2f}" if v.std is not None else "")
        rows.append({"arm": v.compared or f"{v.label} − {first.label}",
                     "report": "—" if v.report_diff is None else f"{v.report_diff:+.2f}",
                     "ours" + (" (quick)" if result.mode == "quick" else ""): ours,
                     "per seed": ", ".join(f"{d:+.1f}" for d in v.ours_diffs) or "—",
                     "seeds agreeing": f"{v.agreeing} of {len(v.ours_diffs)}" if v.ours_diffs else "—",
                     EFFECT: v.verdict + (" (one seed)" if v.one_seed else "")})
    return pd.DataFrame(rows)


def effect_chart(lesson, result) -> Optional[alt.LayerChart]:
    """The effect per seed: each seed of ours a dot, ours' mean ± std a bar, the report's a diamond, per arm."""
    rows = []
    verdicts = lessons.arm_verdicts(lesson, result)
    for v in verdicts:
        for offset, diff in zip(v.seeds, v.ours_diffs):
            rows.append({"arm": v.compared or v.label, "what": "ours, one seed", "points": diff, "seed": offset})
        if v.mean is not None:
            spread = v.std or 0.0
            rows.append({"arm": v.compared or v.label, "what": "ours, mean ± std", "points": v.mean,
                         "low": v.mean - spread, "high": v.mean + spread})
        if v.report_diff is not None:
            rows.append({"arm": v.compared or v.label, "what": "the report", "points": v.report_diff})
    if not any(r["what"] == "ours, one seed" for r in rows):
        return None
    frame = pd.DataFrame(rows)
    order = [v.compared or v.label for v in verdicts]
    shapes = alt.Scale(domain=["ours, one seed", "ours, mean ± std", "the report"],
                       range=["circle", "stroke", "diamond"])
    colours = alt.Scale(domain=["ours, one seed", "ours, mean ± std", "the report"],
                        range=["#0072B2", "#0072B2", "#D55E00"])
    y = alt.Y("arm:N", sort=order, title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False))
    x_title = ("test accuracy difference (points)" if any(v.compared for v in verdicts)
               else f"test accuracy minus {lesson.arms[0].label}'s (points)")
    points = alt.Chart(frame).transform_filter("datum.what != 'ours, mean ± std'").mark_point(
        size=90, filled=True, opacity=0.8).encode(
        x=alt.X("points:Q", title=x_title), y=y, shape=alt.Shape("what:N", scale=shapes, title=None),
        color=alt.Color("what:N", scale=colours, title=None),
        tooltip=["arm:N", "what:N", alt.Tooltip("points:Q", format="+.2f"), "seed:Q"])
    spread = alt.Chart(frame).transform_filter("datum.what == 'ours, mean ± std'")
    bars = spread.mark_rule(strokeWidth=2, color="#0072B2").encode(x="low:Q", x2="high:Q", y=y)
    means = spread.mark_tick(thickness=3, size=22, color="#0072B2").encode(
        x="points:Q", y=y, tooltip=["arm:N", alt.Tooltip("points:Q", format="+.2f", title="ours, mean"),
                                    alt.Tooltip("low:Q", format="+.2f"), alt.Tooltip("high:Q", format="+.2f")])
    zero = alt.Chart(pd.DataFrame({"points": [0.0]})).mark_rule(color="#999", strokeDash=[4, 4]).encode(x="points:Q")
    return (zero + bars + means + points).properties(
        title=alt.TitleParams("The effect, seed by seed", subtitle="dots: our seeds; bar: mean ± std; "
                                                                   "diamond: the report"),
        # Streamlit fits the whole chart (titles, axis, the 3-entry legend) into this height, not only the plot
        height=max(200, 48 * len(order) + 120))


def render_verdict(lesson, result) -> None:
    """The lesson's verdict in one line, coloured by it (and said in words)."""
    verdict_ = lessons.lesson_verdict(lesson, result)
    show = {"reproduced": st.success, "not reproduced": st.error, "within noise": st.warning}.get(verdict_.verdict,
                                                                                                   st.info)
    show(escape_markdown(f"Verdict ({result.mode} mode): {verdict_.text}"))


def chance_notes(lesson, result) -> list[str]:
    """One sentence per arm whose mean test accuracy is near chance (it has not learnt yet)."""
    from cnnkit.train.report import chance_note

    notes = []
    for arm in lesson.arms:
        ours = result.arm(arm.id)
        mean = ours.mean("test_accuracy") if ours is not None else None
        if mean is None or not ours.classes:
            continue
        note = chance_note([mean / 100.0], len(ours.classes), what="arm")
        if note:
            notes.append(f"{arm.label}: {note.replace('This arm ends', 'ends')}")
    return notes


def render_comparison(lesson, result) -> None:
    quick = result.mode == "quick"
    st.subheader(("Quick" if quick else "Full") + "-mode result")
    st.caption(escape_markdown(result_label(result) + ". Ours is the mean ± the standard deviation over the seeds."))
    arithmetic = lessons.arithmetic_note(result)
    if arithmetic:
        st.caption(escape_markdown(arithmetic))
    for note in chance_notes(lesson, result):
        st.warning(escape_markdown(note))
    lab = any(arm.kind == "resolution_lab" for arm in lesson.arms)   # compares within itself: TVTV − TOTV
    if len(lesson.arms) > 1 or lab:
        render_verdict(lesson, result)
        effect = effect_frame(lesson, result)
        if not effect.empty:
            what = ("TVTV's test accuracy minus TOTV's at each lower resolution" if lab and len(lesson.arms) == 1
                    else "each arm's test accuracy minus the first arm's")
            st.markdown(f"**The effect**: {what}, the report's against ours"
                        + (" (the point of quick mode: its absolute figures are lower by design)" if quick else ""))
            styled = effect.style.apply(lambda row: [f"background-color: {EFFECT_COLOURS.get(row[EFFECT].split(' (')[0], '')}"
                                                     if col in (EFFECT, effect.columns[2]) else "" for col in row.index],
                                        axis=1)
            st.dataframe(styled, hide_index=True, width="stretch")
            chart = effect_chart(lesson, result)
            if chart is not None:
                st.altair_chart(chart, width="stretch")
    frame = comparison_frame(lesson, result)
    if frame.empty:
        st.info("No figures to compare yet.")
        return
    st.markdown("**Absolute figures**" + (": quick mode trains on fewer images for fewer epochs, so expect them "
                                           "lower than the report's; the effect above is what to compare"
                                           if quick else ""))
    if quick:
        st.dataframe(frame, hide_index=True, width="stretch")
    else:
        styled = frame.style.apply(lambda row: [f"background-color: {VERDICT_COLOURS.get(row['how close'], '')}"
                                                if col in ("difference", "how close") else "" for col in row.index],
                                   axis=1)
        st.dataframe(styled, hide_index=True, width="stretch")
    for arm in lesson.arms:
        ours = result.arm(arm.id)
        if ours is not None and ours.message:
            st.caption(escape_markdown(f"{arm.label}: {ours.message}"))
        if arm.reported.notes:
            st.caption(escape_markdown(f"The report's figures for {arm.label}: {arm.reported.notes}"))


def modes_frame(lesson, results: dict) -> pd.DataFrame:
    """Quick and full side by side: per arm our mean test accuracy in each mode that has a result (its column says
    the mode, seeds and device), and the report's."""
    rows = []
    for arm in lesson.arms:
        row = {"arm": arm.label}
        for mode, result in results.items():
            if result is None:
                continue
            ours = result.arm(arm.id)
            summary = (ours.metrics.get("test_accuracy") or {}) if ours else {}
            text = _fmt("test_accuracy", summary.get("mean"))
            if summary.get("std") is not None:
                text += f" ± {summary['std']:.2f}"
            row[f"{mode}: {len(result.seeds)} seed(s), {result.device_label or result.device}"] = text
        row["report"] = _fmt("test_accuracy", arm.reported.test_accuracy)
        rows.append(row)
    return pd.DataFrame(rows)


def render_modes(lesson, results: dict, shown: str) -> None:
    """Both modes' results at a glance (a new run of one mode never hides the other's), each labelled."""
    present = {m: r for m, r in results.items() if r is not None}
    if not present:
        return
    st.subheader("Results: quick and full")
    for mode, result in present.items():
        verdict_ = lessons.lesson_verdict(lesson, result) if len(lesson.arms) > 1 else None
        st.caption(escape_markdown(f"{result_label(result)}" + (f" · verdict: {verdict_.verdict}" if verdict_ else "")
                                   + (f" · trained on {result.data}" if result.data else "")))
    st.dataframe(modes_frame(lesson, present), hide_index=True, width="stretch")
    missing = [m for m in results if results[m] is None]
    st.caption(escape_markdown(
        f"Test accuracy (%) per mode. Below: the {shown}-mode result in detail; switch Mode above to see the other."
        + (f" No {missing[0]}-mode result yet." if missing else "")))


def curves_chart(rows: Sequence[dict], curve: str, labels: dict[str, str], quick: bool) -> Optional[alt.LayerChart]:
    """One curve: ours per arm (the mean over seeds, a ± std band when there are several) solid, the report's
    dashed, one stable colour per arm."""
    picked = [r for r in rows if r["curve"] == curve]
    if not picked:
        return None
    lines = []
    for arm_id in dict.fromkeys(r["arm"] for r in picked):
        reported = [r for r in picked if r["arm"] == arm_id and r["source"] == "report"]
        lines += [{"arm": labels[arm_id], "source": "report", "epoch": r["epoch"], "value": r["value"], "std": None}
                  for r in reported]
        seeds: dict = {}
        for r in picked:
            if r["arm"] == arm_id and r["source"] == "ours":
                seeds.setdefault(r["seed"], []).append({"epoch": r["epoch"], "value": r["value"]})
        for band in band_rows(list(seeds.values()), "value"):
            lines.append({"arm": labels[arm_id], "source": "ours", "epoch": band["epoch"], "value": band["mean"],
                          "std": band["std"] if band["n"] > 1 else None, "lower": band["lower"],
                          "upper": band["upper"]})
    frame = pd.DataFrame(lines)
    arm_ids = list(labels)
    colours = ordered_colours(arm_ids)
    scale = alt.Scale(domain=[labels[a] for a in arm_ids], range=[colours[a] for a in arm_ids])
    base = alt.Chart(frame).encode(x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
                                   color=alt.Color("arm:N", scale=scale, legend=ARM_LEGEND))
    line = base.mark_line(strokeWidth=2).encode(
        y=alt.Y("value:Q", title=CURVE_TITLES.get(curve, curve), scale=alt.Scale(zero=False)),
        strokeDash=alt.StrokeDash("source:N", scale=SOURCE_DASH, title=None, legend=alt.Legend(symbolType="stroke", symbolStrokeColor="#333")),
        tooltip=["arm:N", "source:N", "epoch:Q", alt.Tooltip("value:Q", format=".4f"),
                 alt.Tooltip("std:Q", format=".4f", title="± std (ours)")])
    layers = line
    ours = frame[(frame["source"] == "ours") & frame["std"].notna()] if "std" in frame else frame.iloc[0:0]
    if not ours.empty:
        layers = alt.Chart(ours).mark_area(opacity=0.15).encode(
            x="epoch:Q", y="lower:Q", y2="upper:Q", color=alt.Color("arm:N", scale=scale, legend=ARM_LEGEND)) + line
    title = alt.TitleParams(CURVE_TITLES.get(curve, curve),
                            subtitle=f"ours solid{' (quick)' if quick else ''}, the report's dashed")
    return layers.properties(title=title, height=280)


def render_curves(lesson, result) -> None:
    rows = lessons.curve_rows(lesson, result)
    if not rows:
        return
    st.subheader("Per-epoch curves")
    labels = {arm.id: arm.label for arm in lesson.arms}
    quick = result is not None and result.mode == "quick"
    curves = [c for c in lessons.CURVE_NAMES if any(r["curve"] == c for r in rows)]
    for start in range(0, len(curves), 2):
        cols = st.columns(2)
        for col, curve in zip(cols, curves[start:start + 2]):
            chart = curves_chart(rows, curve, labels, quick)
            if chart is not None:
                col.altair_chart(chart, width="stretch")
    for note in lessons.curve_notes(rows, result.mode if result is not None else ""):
        st.caption(note)


def render_per_class(lesson, result) -> None:
    """Per-class figures (the report's beside ours) and our confusion matrices, for the arms that have them."""
    arms = [arm for arm in lesson.arms if arm.reported.per_class or
            (result is not None and result.arm(arm.id) is not None and result.arm(arm.id).confusion)]
    if not arms:
        return
    st.subheader("Per class")
    tabs = st.tabs([escape_markdown(arm.label) for arm in arms])
    for tab, arm in zip(tabs, arms):
        ours = result.arm(arm.id) if result is not None else None
        with tab:
            classes = list(dict.fromkeys([*arm.reported.per_class, *((ours.per_class if ours else {}) or {})]))
            rows = []
            for name in classes:
                row = {"class": name}
                for key in ("precision", "recall", "f1"):
                    row[f"report {key}"] = arm.reported.per_class.get(name, {}).get(key)
                    row[f"ours {key}"] = (ours.per_class.get(name, {}) if ours else {}).get(key)
                rows.append(row)
            if rows:
                frame = pd.DataFrame(rows).dropna(axis=1, how="all")
                st.dataframe(frame, hide_index=True, width="stretch",
                             column_config={c: st.column_config.NumberColumn(format="%.3f")
                                            for c in frame.columns if c != "class"})
            if ours is not None and ours.confusion and ours.classes:
                st.altair_chart(confusion_chart(ours.confusion, ours.classes).properties(
                    title=f"Confusion matrix of ours, {len(ours.seeds)} seed(s) summed (rows: true class)"),
                    width="stretch")


METHOD_COLOURS = alt.Scale(domain=["TOTV", "TVTV"], range=["#D55E00", "#0072B2"])  # Okabe–Ito vermilion, blue


def resolution_rows(arm, ours) -> list[dict]:
    """{method, resolution, source ("ours"|"report"), accuracy, std} of a resolution-lab arm, ours and the report's."""
    rows = []
    for method in ("TOTV", "TVTV"):
        for res, cell in arm.reported.by_resolution.get(method, {}).items():
            if cell.get("test_accuracy") is not None:
                rows.append({"method": method, "resolution": int(res), "source": "report",
                             "accuracy": float(cell["test_accuracy"]), "std": None})
        for res, cell in ((ours.by_resolution if ours else {}) or {}).get(method, {}).items():
            summary = cell.get("test_accuracy") or {}
            if summary.get("mean") is not None:
                rows.append({"method": method, "resolution": int(res), "source": "ours",
                             "accuracy": float(summary["mean"]), "std": summary.get("std")})
    return rows


def render_resolutions(lesson, result) -> None:
    """Resolution-lab arms: test accuracy by resolution, TOTV against TVTV, ours solid and the report's dashed,
    and the per-class accuracies at every resolution."""
    for arm in [a for a in lesson.arms if a.kind == "resolution_lab"]:
        ours = result.arm(arm.id) if result is not None else None
        rows = resolution_rows(arm, ours)
        if not rows:
            continue
        st.subheader("By resolution" + (f": {arm.label}" if len(lesson.arms) > 1 else ""))
        frame = pd.DataFrame(rows)
        order = sorted(frame["resolution"].unique(), reverse=True)
        quick = " (quick)" if result is not None and result.mode == "quick" else ""
        chart = alt.Chart(frame).mark_line(point=True, strokeWidth=2).encode(
            x=alt.X("resolution:O", sort=order, title="test resolution (px)"),
            y=alt.Y("accuracy:Q", title="test accuracy (%)", scale=alt.Scale(domain=[0, 100])),
            color=alt.Color("method:N", scale=METHOD_COLOURS, title="method"),
            strokeDash=alt.StrokeDash("source:N", scale=SOURCE_DASH, title=None,
                                      legend=alt.Legend(symbolType="stroke", symbolStrokeColor="#333")),
            tooltip=["method:N", "resolution:O", "source:N", alt.Tooltip("accuracy:Q", format=".1f"),
                     alt.Tooltip("std:Q", format=".1f", title="± std (ours)")])
        st.altair_chart(chart.properties(title=alt.TitleParams(
            "Test accuracy by resolution: TOTV against TVTV", subtitle=f"ours solid{quick}, the report's dashed"),
            height=300), width="stretch")
        table: dict[str, dict] = {}
        ours_cells = (ours.by_resolution if ours else {}) or {}
        for method in ("TOTV", "TVTV"):
            reported_cells, measured_cells = arm.reported.by_resolution.get(method, {}), ours_cells.get(method, {})
            for res in sorted({*reported_cells, *measured_cells}, key=int, reverse=True):
                reported = reported_cells.get(res, {}).get("per_class", {})
                measured = measured_cells.get(res, {}).get("per_class_accuracy", {})
                for name in dict.fromkeys([*reported, *measured]):
                    row = table.setdefault(name, {"class": name})
                    row[f"{method} {res} px report"] = (reported.get(name) or {}).get("accuracy")
                    row[f"{method} {res} px ours{quick}"] = measured.get(name)
        if table:
            per_class = pd.DataFrame(list(table.values())).dropna(axis=1, how="all")
            st.caption("Per-class test accuracy (%) at each resolution: the report's and ours.")
            st.dataframe(per_class, hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(format="%.1f")
                                        for c in per_class.columns if c != "class"})


def winner(lesson, figures: dict[str, Optional[float]]) -> tuple[Optional[str], Optional[float]]:
    """(the arm with the highest test accuracy, its lead over the next best in points) from {arm id: figure}."""
    known = sorted(((v, a) for a, v in figures.items() if v is not None), reverse=True)
    if not known:
        return None, None
    lead = known[0][0] - known[1][0] if len(known) > 1 else None
    return known[0][1], lead


def render_predictions(lesson, result, owner: str, teacher: bool) -> None:
    """Your guess against the result; for the teacher, the whole class's guesses."""
    labels = {arm.id: arm.label for arm in lesson.arms}
    ours_best, ours_lead = winner(lesson, {a.id: (result.arm(a.id).mean("test_accuracy") if result and result.arm(a.id)
                                                  else None) for a in lesson.arms})
    report_best, report_lead = winner(lesson, {a.id: a.reported.test_accuracy for a in lesson.arms})
    facts = []
    if ours_best:
        facts.append(f"ours: {labels[ours_best]}" + (f" by {ours_lead:.1f} points" if ours_lead is not None else ""))
    if report_best:
        facts.append(f"the report: {labels[report_best]}" + (f" by {report_lead:.1f} points"
                                                              if report_lead is not None else ""))
    if not facts:
        return
    st.subheader("Predictions against the result")
    st.markdown(escape_markdown("Highest test accuracy: " + "; ".join(facts) + "."))
    all_guesses = lessons.predictions(lesson.id)
    mine = [g for g in all_guesses if same_person(g.get("owner"), owner)] if owner else []
    mine = mine or ([st.session_state[f"ls_guess_{lesson.id}"]] if f"ls_guess_{lesson.id}" in st.session_state else [])
    if mine:
        guess = mine[-1]
        right = guess.get("arm_id") == ours_best
        st.markdown(escape_markdown(f"Your guess: {labels.get(guess.get('arm_id'), guess.get('arm_id'))} by "
                                    f"{float(guess.get('margin_points', 0)):.1f} points: "
                                    + ("the right arm." if right else "not the arm that won here.")))
    if teacher and all_guesses and result is not None:
        outcomes = lessons.prediction_outcomes(lesson.id, result)
        right = sum(o["right_arm"] for o in outcomes)
        st.caption(f"The class's guesses against ours, for the discussion: {right} of {len(outcomes)} picked the "
                   "winning arm.")
        st.dataframe(pd.DataFrame([{"student": owner_label(o["owner"], "guest"),
                                    "guessed arm": labels.get(o["arm_id"], o["arm_id"]),
                                    "guessed margin": o["margin_points"],
                                    "right arm": "yes" if o["right_arm"] else "no",
                                    "margin off by": o["margin_error"]} for o in outcomes]),
                     hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.1f")
                                    for c in ("guessed margin", "margin off by")})


__all__ = ["chance_notes", "comparison_frame", "curves_chart", "effect_chart", "effect_frame", "modes_frame",
           "render_comparison", "render_modes", "render_verdict", "result_label", "render_curves", "render_per_class",
           "render_predictions", "render_resolutions", "resolution_rows", "verdict", "winner"]
