"""AppTest of the Lessons page: the index by topic, a lesson with shipped results and its table (Predict first
before it), a recorded guess, an unknown ?lesson= id shown as plain text, and Home's course section.

A teacher lesson file (tests/helpers/lessons.py) and a result shipped with the engine's own ship_result, both in
temporary folders: the test does not depend on the course's files or on shipped results being committed."""

from __future__ import annotations

import json

import pytest

from cnnkit import lessons
from tests.helpers.app import make_app_test, teacher_token
from tests.helpers.lessons import LESSON_ID, lesson_folders, shipped_result


@pytest.fixture(autouse=True)
def folders(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    return lesson_folders(monkeypatch, tmp_path)


def open_lesson(lesson_id: str = LESSON_ID, name: str = ""):
    at = make_app_test("lessons", timeout=120)
    at.query_params["lesson"] = lesson_id
    if name:
        at.session_state["cnnlab_owner"] = name   # as ui/identity keeps a typed name
    at.run()
    assert not at.exception, at.exception
    return at


def chart_titles(at) -> str:
    return " | ".join(str(json.loads(c.proto.spec).get("title", "")) for c in at.get("vega_lite_chart"))


def comparison_table(at):
    """The absolute figures (ours beside the report's); full mode adds a "how close" column."""
    return next(df.value for df in at.dataframe if "figure" in df.value.columns and "report" in df.value.columns)


def shown(elements) -> list[str]:
    """Element texts without Markdown escapes (the page escapes what it writes: plain text)."""
    return [e.value.replace("\\", "") for e in elements]


def effect_table(at):
    return next(df.value for df in at.dataframe if "verdict" in df.value.columns and "per seed" in df.value.columns)


def full_result(folders, accuracies=None, created: float = 1796000000.0, data: str = ""):
    """A full-mode result of the test lesson beside the quick one (one seed per arm, 1 thread; `data`: which data
    made it, in words)."""
    from cnnkit.lessons import ArmResult, LessonResult, metric_summary, ship_result

    accuracies = accuracies or {"base": [73.0], "bn": [77.5]}
    arms = [ArmResult(arm_id=a, seeds=[0], metrics={"test_accuracy": metric_summary(v)}, classes=["circle", "square"])
            for a, v in accuracies.items()]
    result = LessonResult(lesson_id=LESSON_ID, mode="full", device="cpu", seeds=[0], arms=arms, seconds=600.0,
                          status="done", created=created, device_label="CPU (1 thread)", data=data)
    return ship_result(result, folder=folders["shipped"] / f"{LESSON_ID}-full")


def test_index_lists_lessons_by_topic_with_status(folders):
    shipped_result(folders)
    at = make_app_test("lessons", timeout=120)
    assert not at.exception, at.exception
    assert at.title[0].value == "Lessons"
    assert "Regularisation" in [h.value for h in at.header]
    assert any("Batch norm on shapes" in link.proto.label for link in at.get("page_link"))
    assert "shipped results" in [c.value for c in at.caption]


def test_a_lesson_with_shipped_results_shows_the_table_after_predict_first(folders):
    shipped_result(folders)
    at = open_lesson()
    assert at.header[0].value == "Batch norm on shapes \\(test\\)"   # a file's text, escaped: plain text
    # The arms side by side: the setting that differs is marked in words too.
    arms = next(df.value for df in at.dataframe if "setting" in df.value.columns)
    assert arms.iloc[0]["setting"] == "model" and arms.iloc[0]["differs"] == "yes"
    # What the file does not set comes from the lessons' documented defaults, said on the page
    assert any("Not set in the lesson's file, so the lessons' defaults: nesterov False" in c for c in shown(at.caption))
    # beside Mode: what quick mode changes (Lesson.quick_changes)
    assert any(c == "Quick mode changes the report's settings: epochs: 2 → 1; train_subset: all → 64"
               for c in shown(at.caption)), shown(at.caption)
    # Predict first: no results until a guess is recorded or skipped.
    assert not [df for df in at.dataframe if "figure" in df.value.columns]
    assert "Predict first" in [h.value for h in at.subheader]
    at.button(key=f"ls_pred_skip_{LESSON_ID}").click().run()
    assert not at.exception, at.exception
    table = comparison_table(at)
    base = table[(table["arm"] == "Base CNN") & (table["figure"] == "test accuracy (%)")].iloc[0]
    # per seed 69.5 and 70.5: mean 70, sample std sqrt(0.5) = 0.71; absolute figures shown plainly in quick mode:
    # no "how close" judgement (no red "ours lower" on every row; the effect is judged instead)
    assert base["ours (quick)"] == "70.00 ± 0.71" and base["report"] == "73.79" and base["difference"] == "-3.79"
    assert "how close" not in table.columns
    assert base["seeds"] == 2
    titles = chart_titles(at)
    assert "'text': 'Training loss', 'subtitle': \"ours solid (quick), the report's dashed\"" in titles
    assert "Confusion matrix of ours" in titles
    # every class named on the confusion matrix (Vega's overlap culling dropped every other one)
    confusion = next(json.loads(c.proto.spec) for c in at.get("vega_lite_chart") if "Confusion" in str(
        json.loads(c.proto.spec).get("title")))
    assert json.dumps(confusion).count('"labelOverlap": false') >= 2
    assert any("quick mode · 2 seed(s) per arm" in c for c in shown(at.caption))
    assert any("Batch norm ends higher" in m.value for m in at.markdown)   # the conclusion


def test_predict_first_records_the_guess_and_compares_it(folders):
    shipped_result(folders)
    at = open_lesson(name="alice")
    at.radio(key=f"ls_pred_arm_{LESSON_ID}").set_value("bn")
    at.number_input(key=f"ls_pred_margin_{LESSON_ID}").set_value(5.0)
    at.button(key=f"ls_pred_save_{LESSON_ID}").click().run()
    assert not at.exception, at.exception
    saved = lessons.predictions(LESSON_ID)
    assert [(p["owner"], p["arm_id"], p["margin_points"]) for p in saved] == [("alice", "bn", 5.0)]
    assert comparison_table(at) is not None
    said = " ".join(m.value for m in at.markdown)
    assert "Your guess" in said and "the right arm" in said   # bn wins ours: 76 against 70
    # A new session of the same student opens on the results: the guess is on record.
    again = open_lesson(name="alice")
    assert comparison_table(again) is not None


def test_an_unknown_lesson_id_is_shown_as_plain_text():
    at = open_lesson("**nope**")
    assert any("There is no lesson '**nope**'" in t.value for t in at.text)
    assert at.title[0].value == "Lessons"
    assert not any("The question" in m.value for m in at.markdown)   # no lesson opened
    assert "Regularisation" in [h.value for h in at.header]           # the index instead


def test_home_lists_the_course_lessons_with_shipped_results(folders):
    shipped_result(folders)
    from ui.lessons_home import shipped_lessons

    shipped_lessons.clear()
    at = make_app_test()
    assert not at.exception, at.exception
    assert "The course" in [h.value for h in at.subheader]
    assert any("Batch norm on shapes" in link.proto.label for link in at.get("page_link"))


def test_an_arm_opens_in_the_training_runner_with_its_settings(folders):
    shipped_result(folders)
    at = open_lesson()
    at.button(key=f"ls_pred_skip_{LESSON_ID}").click().run()
    at.selectbox(key=f"ls_open_arm_{LESSON_ID}").set_value("bn").run()
    # A shipped result has no trained weights here: the viewers wait for a run of ours, and say so.
    assert at.button(key=f"ls_open_gc_{LESSON_ID}").disabled
    at.button(key=f"ls_open_tr_{LESSON_ID}").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Training runner"
    assert at.slider(key="tr_epochs").value == 1                      # the quick settings
    assert at.selectbox(key="tr_preset").value == "cnn3_bn"
    assert at.select_slider(key="tr_lr").value == 0.001
    assert any("lesson Batch norm on shapes (test), arm Base CNN + BatchNorm (quick)" in c.value for c in at.caption)


def test_an_arm_with_a_run_of_ours_opens_in_the_grad_cam_viewer(folders, monkeypatch):
    from pathlib import Path

    from cnnkit.train import TrainConfig, train
    from tests.helpers.train import patch_dataset, tiny_dataset, tiny_spec

    patch_dataset(monkeypatch, tiny_dataset())
    run = train(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=1, lr=0.01, name="bn arm"))
    shipped_result(folders, run_ids={"bn": [Path(run.run_dir).name]})
    at = open_lesson()
    at.button(key=f"ls_pred_skip_{LESSON_ID}").click().run()
    at.selectbox(key=f"ls_open_arm_{LESSON_ID}").set_value("bn").run()
    at.button(key=f"ls_open_gc_{LESSON_ID}").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Grad-CAM viewer"
    assert at.selectbox(key="gc_model").value == f"run:{Path(run.run_dir)}"
    assert any("Lesson Batch norm on shapes" in i.value and "BatchNorm" in i.value for i in at.info)  # the note


def test_the_teacher_sees_the_class_guesses_against_the_result(folders):
    shipped_result(folders)
    lessons.record_prediction(LESSON_ID, "bob", "base", 3.0)
    lessons.record_prediction(LESSON_ID, "carol", "bn", 6.0)
    at = open_lesson()
    at.session_state["cnnlab_teacher"] = teacher_token()
    at.button(key=f"ls_pred_skip_{LESSON_ID}").click().run()
    assert not at.exception, at.exception
    guesses = next(df.value for df in at.dataframe if "right arm" in df.value.columns)
    assert guesses["student"].tolist() == ["bob", "carol"]
    assert guesses["right arm"].tolist() == ["no", "yes"]
    # ours: bn 78 against base 70, a lead of 8 points; carol guessed 6 -> off by -2
    assert guesses["margin off by"].tolist()[1] == pytest.approx(-2.0)
    assert any("1 of 2 picked the winning arm" in c.value for c in at.caption)
    assert any("Quick mode takes" in c.value for c in at.caption)   # the engine's time estimates beside Run
    assert any("Full mode takes" in c.value for c in at.caption)
    # The teacher's link for the class, and a pin on Home.
    assert any(c.value.endswith(f"/lessons?lesson={LESSON_ID}") and "://" in c.value for c in at.code)  # absolute
    at.button(key=f"ls_pin_{LESSON_ID}").click().run()
    from cnnkit.classroom import load_pins

    assert {"kind": "lesson", "id": LESSON_ID, "note": ""} in load_pins()


def test_a_training_runner_link_loads_a_lessons_arm(folders):
    at = make_app_test("training_runner", timeout=120)
    at.query_params.update({"lesson": LESSON_ID, "arm": "bn"})
    at.run()
    assert not at.exception, at.exception
    assert at.slider(key="tr_epochs").value == 1 and at.selectbox(key="tr_preset").value == "cnn3_bn"
    at = make_app_test("training_runner", timeout=120)
    at.query_params.update({"lesson": "no-such", "arm": "**x**"})
    at.run()
    assert any("no lesson" in e.value and "no-such" in e.value for e in at.error)   # ui.text.plain: as typed
    assert at.slider(key="tr_epochs").value == 8                                     # the defaults stay


def test_a_resolution_lab_lesson_by_resolution_and_opened_in_the_lab(folders):
    from tests.helpers.lessons import RESOLUTION_ID, resolution_lesson

    resolution_lesson(folders)
    at = open_lesson(RESOLUTION_ID)
    at.button(key=f"ls_pred_skip_{RESOLUTION_ID}").click().run()
    assert not at.exception, at.exception
    table = comparison_table(at)
    row = table[table["arm"] == "Resolution lab · TOTV 16 px"].iloc[0]
    assert row["ours (quick)"] == "60.00" and row["report"] == "41.00" and row["difference"] == "+19.00"
    assert "Test accuracy by resolution: TOTV against TVTV" in chart_titles(at)
    per_class = next(df.value for df in at.dataframe if "TOTV 16 px report" in df.value.columns)
    circle = per_class[per_class["class"] == "circle"].iloc[0]
    assert circle["TOTV 16 px report"] == pytest.approx(44.6) and circle["TOTV 16 px ours (quick)"] == 55.0
    # Opened in the Resolution lab: its resolutions and training settings (quick mode) are in the form.
    at.button(key=f"ls_open_rl_{RESOLUTION_ID}").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Resolution lab"
    assert at.multiselect(key="rl_resolutions").value == [32, 16, 8]
    assert at.slider(key="rl_epochs").value == 1


def test_a_transfer_arm_opens_in_transfer_learning(folders):
    from tests.helpers.lessons import TRANSFER_ID, transfer_lesson

    transfer_lesson(folders)
    at = open_lesson(TRANSFER_ID)
    at.selectbox(key=f"ls_open_arm_{TRANSFER_ID}").set_value("fine-tuned").run()
    at.button(key=f"ls_open_tl_{TRANSFER_ID}").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Transfer learning"
    assert at.selectbox(key="tl_pretrained").value == "efficientnet_lite0"
    assert at.selectbox(key="tl_dataset").value == "shapes"
    assert at.radio(key="tl_strategy").value == "last:N"
    assert any(r"Strategy last\:2" in i.value for i in at.info)   # escaped: shown as "last:2"


def test_a_run_over_the_class_limits_is_refused_with_a_message(folders, monkeypatch, tmp_path):
    config = tmp_path / "cnnlab.toml"
    config.write_text('[limits]\npresets = ["cnn2"]\n')   # the lesson's arms use cnn3 and cnn3_bn
    monkeypatch.setenv("CNNLAB_CONFIG", str(config))
    at = open_lesson()
    at.button(key=f"ls_run_{LESSON_ID}").click().run()
    assert not at.exception, at.exception
    assert at.error and "cnn3" in at.error[0].value
    from cnnkit.jobs import get_job_manager

    assert not [s for s in get_job_manager().list() if LESSON_ID in s.group]   # nothing queued


def test_the_effect_table_judges_each_arm_by_its_difference_seed_by_seed(folders):
    shipped_result(folders)
    at = open_lesson()
    at.button(key=f"ls_pred_skip_{LESSON_ID}").click().run()
    effect = effect_table(at)
    # ours per seed: 77 - 69.5 = +7.5, 79 - 70.5 = +8.5: mean +8.00 ± 0.71; the report's 77.71 - 73.79 = +3.92
    assert effect.iloc[0].tolist() == ["Base CNN + BatchNorm − Base CNN", "+3.92", "+8.00 ± 0.71", "+7.5, +8.5",
                                       "2 of 2", "reproduced"]
    assert any("Verdict (quick mode): reproduced: 1 of 1 differences reproduced" in s for s in shown(at.success))
    # each seed a dot, the mean ± std a bar, the report a diamond
    assert "The effect, seed by seed" in chart_titles(at)
    from ui.lessons_results import effect_chart

    chart = effect_chart(lessons.get_lesson(LESSON_ID), lessons.latest_result(LESSON_ID, "quick")).to_dict()
    values = [row for data in chart["datasets"].values() for row in data]
    assert sorted(r["points"] for r in values if r.get("what") == "ours, one seed") == [7.5, 8.5]
    assert [r["points"] for r in values if r.get("what") == "the report"] == [pytest.approx(3.92)]


def test_quick_and_full_results_side_by_side_and_the_mode_radio_picks_the_detail(folders):
    shipped_result(folders)
    full_result(folders)
    at = open_lesson()
    at.button(key=f"ls_pred_skip_{LESSON_ID}").click().run()
    assert not at.exception, at.exception
    both = next(df.value for df in at.dataframe if "arm" in df.value.columns and any(
        c.startswith("full:") for c in df.value.columns))
    assert list(both.columns) == ["arm", "quick: 2 seed(s), cpu", "full: 1 seed(s), CPU (1 thread)", "report"]
    assert both.iloc[0].tolist() == ["Base CNN", "70.00 ± 0.71", "73.00", "73.79"]
    labels = shown(at.caption)
    assert any(c.startswith("full mode · 1 seed(s) per arm · CPU (1 thread) · 2026-") for c in labels)
    assert "Quick-mode result" in [h.value for h in at.subheader]
    assert "how close" not in comparison_table(at).columns
    # The Mode radio changes what is shown: the full result in detail, judged against the report's figures.
    at.radio(key=f"ls_mode_{LESSON_ID}").set_value("full").run()
    assert not at.exception, at.exception
    assert "Full-mode result" in [h.value for h in at.subheader] and "Quick-mode result" not in [
        h.value for h in at.subheader]
    table = comparison_table(at)
    base = table[(table["arm"] == "Base CNN") & (table["figure"] == "test accuracy (%)")].iloc[0]
    assert base["ours"] == "73.00" and base["how close"] == "close"


def test_a_new_quick_run_does_not_hide_the_full_result(folders):
    """This install's own quick result is the newest: the shipped full one is still listed and can be opened."""
    from cnnkit.lessons import ArmResult, LessonResult, metric_summary
    from cnnkit.lessons.results import save_result
    from cnnkit.labs.saved import labs_dir

    full_result(folders)
    mine = LessonResult(lesson_id=LESSON_ID, mode="quick", device="cpu", seeds=[0], status="done", created=1.8e9,
                        arms=[ArmResult(arm_id="base", seeds=[0], metrics={"test_accuracy": metric_summary([50.0])}),
                              ArmResult(arm_id="bn", seeds=[0], metrics={"test_accuracy": metric_summary([55.0])})],
                        lab_id="lesson-test-bn-000000-abcd", owner="", device_label="CPU (1 thread)")
    mine.lab_dir = str(labs_dir() / mine.lab_id)
    save_result(mine)
    at = open_lesson()
    at.button(key=f"ls_pred_skip_{LESSON_ID}").click().run()
    both = next(df.value for df in at.dataframe if any(c.startswith("full:") for c in df.value.columns))
    assert both.iloc[0, 1:].tolist() == ["50.00", "73.00", "73.79"]
    at.radio(key=f"ls_mode_{LESSON_ID}").set_value("full").run()
    assert "Full-mode result" in [h.value for h in at.subheader]


def test_an_arm_near_chance_says_it_has_not_learnt(folders):
    full_result(folders, {"base": [50.5], "bn": [52.0]})   # two classes: chance is 50 %
    at = open_lesson()
    at.button(key=f"ls_pred_skip_{LESSON_ID}").click().run()
    at.radio(key=f"ls_mode_{LESSON_ID}").set_value("full").run()
    notes = shown(at.warning)
    assert any(n.startswith("Base CNN: ends near chance (50 % for 2 classes): this network has not learnt yet")
               for n in notes), notes


def test_the_index_shows_each_lessons_verdict_per_mode(folders):
    shipped_result(folders)
    full_result(folders, {"base": [73.0], "bn": [72.0]})
    at = make_app_test("lessons", timeout=120)
    assert not at.exception, at.exception
    index = next(df.value for df in at.dataframe if "verdict (quick)" in df.value.columns)
    row = index[index["lesson"] == "Batch norm on shapes (test)"].iloc[0]
    assert row["verdict (quick)"] == "reproduced" and row["verdict (full)"] == "not reproduced (1 seed)"


def test_the_teacher_sees_each_guess_and_its_margin_before_the_results(folders):
    lessons.record_prediction(LESSON_ID, "bob", "base", 3.0)
    lessons.record_prediction(LESSON_ID, "carol", "bn", 6.5)
    at = open_lesson()
    at.session_state["cnnlab_teacher"] = teacher_token()
    at.run()
    guesses = next(df.value for df in at.dataframe if "by (points)" in df.value.columns)
    assert guesses.values.tolist() == [["bob", "Base CNN", 3.0], ["carol", "Base CNN + BatchNorm", 6.5]]


def test_a_lesson_someone_else_runs_is_followed_live(folders, monkeypatch):
    import threading

    from cnnkit.jobs import get_job_manager, new_group_id

    release = threading.Event()
    group = new_group_id(f"lesson-{LESSON_ID}-")
    manager = get_job_manager()
    job = manager.submit(lambda context: release.wait(30), label="the teacher's run", group=group, owner="teacher")
    try:
        at = open_lesson()
        assert at.button(key=f"ls_run_{LESSON_ID}").disabled                 # one run of the lesson at a time
        assert any("the teacher's run" in m.value for m in at.markdown)       # its progress, live
        assert any("Only its owner or the teacher can stop it." in c.value for c in at.caption)
    finally:
        release.set()
        manager.wait(job, timeout=30)


@pytest.mark.slow  # every arm of the course (about 50 page switches): about half a minute
def test_every_course_arm_opens_in_its_page_with_its_settings():
    """The forms accept every course arm's quick settings (a value outside a widget's options would fail here).
    One session goes from arm to arm and back to the Lessons page each time, as a student clicking through would
    (a new AppTest per arm recompiled every page and rebuilt Shapes each time)."""
    failures = []
    course = [lesson for lesson in lessons.list_lessons() if lesson.source == "course"]
    assert len(course) >= 20
    at = open_lesson(course[0].id)
    for lesson in course:
        for arm in lesson.arms:
            at.switch_page("pages/lessons.py")
            at.query_params["lesson"] = lesson.id
            at.run()
            assert not at.exception and at.title[0].value == "Lessons", (lesson.id, at.exception)
            at.selectbox(key=f"ls_open_arm_{lesson.id}").set_value(arm.id).run()
            transfer = isinstance(arm.config.get("model"), dict) and arm.config["model"].get("kind") == "transfer"
            target = "rl" if arm.kind == "resolution_lab" else "tl" if transfer else "tr"
            at.button(key=f"ls_open_{target}_{lesson.id}").click().run()
            if at.exception or at.error or len(at.title) == 0 or at.title[0].value == "Lessons":
                failures.append((lesson.id, arm.id, target, [e.value for e in at.exception],
                                 [e.value for e in at.error]))
    assert not failures, failures


def test_a_lesson_chain_says_where_each_arm_starts_and_what_data_stands_in():
    at = open_lesson("000-p4-transfer-chain")
    captions = shown(at.caption)
    assert any("P4a: FC layers only, new data starts from the trained network of “Phase 3's network on CIFAR-10 "
               "(the starting point)”" in c for c in captions), captions
    assert any(c.startswith("Quick mode: the first arm trains on 1,000 CIFAR-10 images") for c in captions)
    assert any("cifar10-3, CIFAR-10's cat, dog and horse images" in i for i in shown(at.info))   # the substitute


def test_the_page_says_before_run_when_the_data_is_not_here_and_which_data_made_a_result(folders):
    """A lesson on a dataset this offline machine does not have warns in the mode shown, before anyone presses
    Run; a result says which data it trained on (a fresh install trains on the shipped subset)."""
    from tests.helpers.lessons import LESSON_TOML

    (folders["data"] / "lessons" / "mnist.toml").write_text(
        LESSON_TOML.replace('id = "test-bn"', 'id = "test-mnist"').replace('"shapes"', '"mnist"'))
    at = open_lesson("test-mnist")
    warnings = shown(at.warning)
    assert any(w.startswith("mnist is not on this machine") and w.endswith("cannot run in quick mode.")
               for w in warnings), warnings
    at = open_lesson()   # Shapes: nothing to warn about
    assert not any("is not on this machine" in w for w in shown(at.warning))
    full_result(folders, data="cifar10: the 6,000 + 1,000-image subset that ships with CNN Lab")
    at = open_lesson()
    at.button(key=f"ls_pred_skip_{LESSON_ID}").click().run()
    assert any(c.startswith("full mode · ") and c.endswith(
        "trained on cifar10: the 6,000 + 1,000-image subset that ships with CNN Lab") for c in shown(at.caption))


def _stopped_group(owner: str) -> str:
    """A quick run of the test lesson queued by a process that is gone (as after an app restart)."""
    import subprocess

    from cnnkit.lessons.results import save_result
    from cnnkit.lessons.runner import _result_of_group

    group = lessons.submit_lesson(LESSON_ID, mode="quick", seeds=1, device="cpu", owner=owner, queue=False)
    gone = subprocess.Popen(["true"])
    gone.wait()
    result = _result_of_group(group)
    result.runner = f"{result.runner.rpartition(':')[0]}:{gone.pid}"
    save_result(result)
    return group


def test_a_run_stopped_by_a_restart_goes_on_from_the_page(folders):
    from cnnkit.jobs import get_job_manager
    from cnnkit.lessons.runner import wait_for_group

    group = _stopped_group("ana")
    assert [r.group for r in lessons.stopped_groups(LESSON_ID)] == [group]
    assert lessons.lesson_status(LESSON_ID) == lessons.lesson_statuses([LESSON_ID])[LESSON_ID] == "stopped"
    index = make_app_test("lessons", timeout=120)
    assert any("stopped: go on from its page" in c.value for c in index.caption)   # the index says so
    someone = open_lesson(name="bob")
    assert any("stopped before its end (0 of 2 runs finished)" in text for text in shown(someone.info))
    someone.button(key=f"ls_resume_{LESSON_ID}").click().run()
    assert any("belongs to ana: only they or the teacher can resume it" in text for text in shown(someone.error))
    assert get_job_manager().list(group=group) == []                        # nothing queued for bob
    at = open_lesson(name="ana")
    at.button(key=f"ls_resume_{LESSON_ID}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(get_job_manager().list(group=group)) == 2                    # ana's, under her name
    assert {s.owner for s in get_job_manager().list(group=group)} == {"ana"}
    wait_for_group(group, get_job_manager())
    assert lessons.stopped_groups(LESSON_ID) == []
    assert lessons.collect_result(LESSON_ID, group).status == "done"
    assert not any(b.key == f"ls_resume_{LESSON_ID}" for b in open_lesson(name="ana").button)
