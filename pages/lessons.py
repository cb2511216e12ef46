"""Lessons: the course's lab experiments, one click each. The question, the arms' settings, predict first, Run,
live curves, ours (mean ± std over seeds) beside the report's figures and curves, the conclusion.

?lesson=<id> opens one lesson (a teacher's link); the lessons are data (cnnkit.lessons), this page only shows them."""

from __future__ import annotations

import streamlit as st

from cnnkit import lessons
from cnnkit.classroom import pin
from cnnkit.jobs import get_job_manager
from ui.estimates import cached_measure
from ui.links import share_box
from ui.identity import class_config, current_owner, is_teacher, may_train
from ui.job_follow import follow_jobs
from ui.lessons_links import render_open_buttons
from ui.lessons_resume import offer_going_on
from ui.lessons_results import (render_comparison, render_curves, render_modes, render_per_class, render_predictions,
                                render_resolutions)
from ui.lessons_view import (render_arms, render_class_guesses, render_header, render_index, render_notes,
                             render_predict_first)
from ui.text import escape_markdown
from ui.run_compare import ComparedRun, runs_curve_chart
from ui.shell import ensure_app_shell
from ui.sidebar import device_info

ensure_app_shell()

PAGE = "pages/lessons.py"
MAX_ID_SHOWN = 80  # a link's unknown id is echoed back, cut to this length

owner, teacher = current_owner(), is_teacher()
st.title("Lessons")


@st.cache_data(ttl=5, show_spinner=False)
def statuses(ids: tuple[str, ...]) -> dict[str, str]:
    # One pass over the saved results for every lesson; once every few seconds is enough for the index.
    return lessons.lesson_statuses(list(ids))


@st.cache_data(ttl=10, show_spinner=False)
def verdicts(ids: tuple[str, ...]) -> dict[str, dict[str, str]]:
    # lesson id -> mode -> the index's verdict cell for the result the page shows in that mode
    return {lesson_id: {mode: lessons.index_verdict(lessons.get_lesson(lesson_id),
                                                    lessons.latest_result(lesson_id, mode))
                        for mode in lessons.MODES}
            for lesson_id in ids}


def group_key(lesson_id: str) -> str:
    return f"ls_group_{lesson_id}"


def mode_key(lesson_id: str) -> str:
    return f"ls_mode_{lesson_id}"


def default_mode(lesson) -> str:
    """Quick, unless quick mode cannot show this lesson's effect (quick_limit) and a full result exists."""
    if lesson.quick_limit and lessons.latest_result(lesson.id, "full") is not None:
        return "full"
    return "quick"


def live_details(snaps: list, names: dict[str, str]) -> None:
    """While a lesson runs: each arm's curves so far (ours only; the report's come with the results).
    names: job id -> "arm · seed" (lessons.lesson_jobs)."""
    runs = [ComparedRun(key=s.job_id, label=names.get(s.job_id, s.label), config=s.meta.get("config", {}),
                        history=list(s.history or [])) for s in snaps if s.history]
    if not runs:
        return
    cols = st.columns(2)
    for col, metric in zip(cols, ("loss", "accuracy")):
        chart = runs_curve_chart(runs, metric, 0.0)
        if chart is not None:
            col.altair_chart(chart, width="stretch")


def follow_group(lesson_id: str, group: str) -> None:
    """This session follows the lesson's group `group` (a new Run, or one that goes on) and collects it once."""
    st.session_state[group_key(lesson_id)] = group
    st.session_state.pop(f"ls_collected_{lesson_id}", None)
    statuses.clear()


def run_section(lesson) -> bool:
    """Run (quick or full, N seeds) as one job group, followed live; Stop; the result is collected once.
    Returns whether a run of the lesson is under way."""
    st.subheader("Run it")
    gpu = device_info().kind == "cuda"
    cols = st.columns([2, 1, 1])
    mode = cols[0].radio("Mode", lessons.MODES, key=mode_key(lesson.id), horizontal=True,
                         help="quick: a subset and fewer epochs (minutes on a laptop CPU); full: the report's settings. "
                              "It also picks which mode's result is shown below.")
    seeds = cols[1].number_input("Seeds per arm", 1, 5, lessons.default_seeds("cuda" if gpu else "cpu"),
                                 key=f"ls_seeds_{lesson.id}",
                                 help="Each arm repeats with this many seeds: the table then shows mean ± std, so you "
                                      "see whether a difference is bigger than the seeds' spread.")
    if mode == "quick" and lesson.quick_note:
        note = lesson.quick_note   # most notes begin "Quick mode trains …": not said twice
        st.caption(escape_markdown(note if note.lower().startswith("quick mode") else f"Quick mode: {note}"))
    if mode == "quick" and lesson.quick_changes():
        st.caption(escape_markdown("Quick mode changes the report's settings: " + "; ".join(lesson.quick_changes())))
    if mode == "quick" and lesson.quick_limit:
        st.warning(escape_markdown(f"Quick mode cannot show this lesson's effect: {lesson.quick_limit}"))
    for caveat in lessons.data_caveats(lesson, mode):  # the data here is not what this mode promises
        st.warning(escape_markdown(caveat))
    try:
        # both modes' times, so the choice is an informed one
        for each in sorted(lessons.MODES, key=lambda m: m != mode):
            # arms without a measured pace in a result get a few of their steps timed here (cached)
            estimate = lessons.estimate_lesson_seconds(lesson, each, device="cuda" if gpu else "cpu",
                                                       seeds=int(seeds), measure=cached_measure)
            st.caption(escape_markdown(f"{each.capitalize()} mode takes {estimate.text}."))
    except (ValueError, KeyError):
        pass
    group = st.session_state.get(group_key(lesson.id))
    if not group:
        # Someone else's run of this lesson (the teacher's, on the projector): the class watches it live too.
        group = next(iter(lessons.running_groups(lesson.id)), None)
    if not group:
        offer_going_on(lesson, owner, teacher, lambda stopped: follow_group(lesson.id, stopped))
    snaps = get_job_manager().list(group=group) if group else []
    running = any(not s.finished for s in snaps)
    if cols[2].button("Run", type="primary", key=f"ls_run_{lesson.id}", disabled=running,
                      help=f"Queues every arm ({len(lesson.arms)}) × {int(seeds)} seed(s) as one group."):
        allowed, why = may_train()
        try:
            if not allowed:
                raise ValueError(why)
            group = lessons.submit_lesson(lesson.id, mode=mode, seeds=int(seeds), owner=owner, teacher=teacher,
                                          limits=None if teacher else class_config())  # the class's limits
        except (ValueError, KeyError) as exc:
            st.error(escape_markdown(exc.args[0] if exc.args else exc))  # may quote a lesson file
        else:
            follow_group(lesson.id, group)
    if not group:
        return False
    labels = {arm.id: arm.label for arm in lesson.arms}
    try:
        names = {job["job_id"]: f"{labels.get(job['arm_id'], job['arm_id'])} · seed {job['seed']}"
                 for job in lessons.lesson_jobs(group)}
    except (KeyError, ValueError, FileNotFoundError):  # an older group: the jobs' own labels then
        names = {}
    snaps = follow_jobs(group=group, key=f"ls_{lesson.id}", stop_label="Stop the lesson",
                        stop_help="Stops every run of this lesson; the arms that finished are kept.",
                        details=lambda snaps: live_details(snaps, names))
    if snaps and all(s.finished for s in snaps) and st.session_state.get(f"ls_collected_{lesson.id}") != group:
        st.session_state[f"ls_collected_{lesson.id}"] = group
        try:
            result = lessons.collect_result(lesson.id, group)
        except (ValueError, KeyError) as exc:
            st.error(escape_markdown(f"The lesson's results could not be collected: {exc}"))
        else:
            statuses.clear()
            if result.status not in ("done", "partial"):
                st.warning(escape_markdown(f"The lesson ended {result.status}: {result.message}"))
    return any(not s.finished for s in snaps)


def lesson_page(lesson) -> None:
    st.page_link(PAGE, label="All lessons", icon="⬅️")
    render_header(lesson)
    if teacher:
        teacher_tools(lesson)
    render_notes(lesson)
    if mode_key(lesson.id) not in st.session_state:
        st.session_state[mode_key(lesson.id)] = default_mode(lesson)
    mode = st.session_state[mode_key(lesson.id)]
    render_arms(lesson, mode)
    if lesson.look_at:
        st.markdown("**What to look at**\n\n" + "\n".join(f"- {escape_markdown(x)}" for x in lesson.look_at))
    revealed = render_predict_first(lesson, owner)  # before any result: a guess, or skip
    running = run_section(lesson)
    mode = st.session_state.get(mode_key(lesson.id), mode)
    # Each mode's own newest result: a quick run never hides the full one (nor the other way round).
    results = {each: lessons.latest_result(lesson.id, each, owner=owner) for each in lessons.MODES}
    result = results[mode]
    if not any(results.values()) and not running:
        st.info("No results yet: press Run. Quick mode takes a few minutes on a laptop CPU.")
    if not any(results.values()) or not revealed:
        render_open_buttons(lesson, None)
        return
    render_modes(lesson, results, mode)
    if result is None:
        st.info(escape_markdown(f"No {mode}-mode result yet: press Run, or switch Mode to see the other mode's."))
        render_open_buttons(lesson, None, mode)
        return
    render_comparison(lesson, result)
    render_curves(lesson, result)
    render_resolutions(lesson, result)
    render_per_class(lesson, result)
    render_predictions(lesson, result, owner, teacher)
    if lesson.conclusion:
        st.subheader("Conclusion")
        st.markdown(escape_markdown(lesson.conclusion))
    render_open_buttons(lesson, result)


def teacher_tools(lesson) -> None:
    """The teacher's link to this lesson (for the class) and a pin on Home."""
    st.caption("Teacher: send the class to this lesson, or pin it to the Home page.")
    share_box("pages/lessons.py", {"lesson": lesson.id}, what="this lesson")
    if st.button("Pin to Home", key=f"ls_pin_{lesson.id}"):
        pin("lesson", lesson.id, teacher=teacher)  # the gate checks it is the teacher
        st.toast("Pinned to the Home page.")
    render_class_guesses(lesson)


all_lessons = lessons.list_lessons()
by_id = {lesson.id: lesson for lesson in all_lessons}
wanted = st.query_params.get("lesson")
if wanted and wanted in by_id:
    lesson_page(by_id[wanted])
else:
    if wanted:
        # The id is only looked up among the listed lessons (never a path); shown back as plain text.
        st.text(f"There is no lesson {wanted[:MAX_ID_SHOWN]!r}. Pick one from the list below.")
    st.caption("The course's lab experiments, one click each: read the question, predict the result, run it, and "
               "compare ours with the report's figures. Lessons with shipped results open with them at once.")
    render_index(all_lessons, statuses(tuple(by_id)), PAGE, verdicts(tuple(by_id)))
    broken = lessons.lesson_file_errors()
    if broken:
        with st.expander(f"{len(broken)} lesson file(s) of this class cannot be used"):
            for error in broken:
                st.text(str(error))
    unreadable = lessons.damaged_results()
    if unreadable:
        with st.expander(f"{len(unreadable)} saved lesson result(s) cannot be read (left out)"):
            for line in unreadable:
                st.text(line)
