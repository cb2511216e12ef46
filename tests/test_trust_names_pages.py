"""Issue 29 on the pages (AppTest): the teacher's privacy panel lists a student who has only a claim and a
prediction, as a table; a guest's guess stays in their own tab; the teacher's runs are listed as the teacher's;
a look-alike of a claimed name is refused in the sidebar."""

from __future__ import annotations

import json
import time

import pytest

from cnnkit import lessons
from cnnkit.classroom import use_name
from cnnkit.classroom.permissions import TEACHER_OWNER
from cnnkit.train import TrainConfig
from tests.helpers.app import make_app_test, teacher_token
from tests.helpers.lessons import LESSON_ID, lesson_folders, shipped_result


@pytest.fixture
def folders(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    found = lesson_folders(monkeypatch, tmp_path)
    return found


def fake_run(run_id: str, owner: str) -> None:
    from cnnkit.paths import checkpoint_dir

    folder = checkpoint_dir() / run_id
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(TrainConfig(epochs=1).to_dict()))
    (folder / "run.json").write_text(json.dumps({"status": "done", "dataset": "shapes", "model_name": "cnn3_bn",
                                                 "created": time.time(), "owner": owner, "test_accuracy": 0.5,
                                                 "epochs_done": 1}))


def open_page(page: str, teacher: bool = False, owner: str = "", **params):
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    from tests.helpers.app import ROOT

    PagesManager.uses_pages_directory = None
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(params)
    if teacher:
        at.session_state["cnnlab_teacher"] = teacher_token()
    if owner:
        at.session_state["cnnlab_owner"] = owner
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_privacy_panel_lists_a_student_with_only_a_claim_and_a_prediction(folders):
    use_name("Dora")
    lessons.record_prediction(LESSON_ID, "Dora", "bn", 2.0)
    lessons.record_prediction(LESSON_ID, "anna@school.example", "bn", 1.0)  # a signed-in student
    at = open_page("class_board", teacher=True)
    assert at.selectbox(key="pv_student").options == ["anna@school.example", "Dora"]
    at.selectbox(key="pv_student").set_value("Dora").run()
    listed = next(df.value for df in at.dataframe if list(df.value.columns) == ["kind", "item", "busy"])
    assert sorted(listed["kind"]) == ["name", "predictions"]
    assert f"lesson {LESSON_ID}: guessed bn wins by 2.0 points" in list(listed["item"])
    assert not any("{" in item for item in listed["item"])  # a table of words, not raw JSON
    at.checkbox(key="pv_sure").check().run()
    at.button(key="pv_erase").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="pv_student").options == ["anna@school.example"]
    assert [p["owner"] for p in lessons.predictions(LESSON_ID)] == ["anna@school.example"]


def test_a_guests_guess_stays_in_their_tab_and_is_not_shared(folders):
    shipped_result(folders)
    at = make_app_test("lessons", timeout=120)
    at.query_params["lesson"] = LESSON_ID
    at.run()
    at.radio(key=f"ls_pred_arm_{LESSON_ID}").set_value("bn")
    at.button(key=f"ls_pred_save_{LESSON_ID}").click().run()
    assert not at.exception, at.exception
    assert lessons.predictions(LESSON_ID) == []   # nothing on the server for every guest to share
    assert any("Your guess" in m.value for m in at.markdown)   # this tab remembers its own
    other = make_app_test("lessons", timeout=120)
    other.query_params["lesson"] = LESSON_ID
    other.run()
    assert "Predict first" in [h.value for h in other.subheader]  # another guest guesses for themselves


def test_the_teachers_runs_are_listed_as_the_teachers(folders):
    fake_run("t-run", TEACHER_OWNER)
    fake_run("g-run", "")
    at = open_page("training_runner", teacher=True)
    assert len(at.selectbox(key="tr_run_pick").options) == 1 and at.selectbox(key="tr_run_pick").value == "t-run"
    at.toggle(key="tr_runs_everyone").set_value(True).run()
    owners = next(df.value for df in at.dataframe if "owner" in df.value.columns)["owner"].tolist()
    assert sorted(owners) == ["guest", "the teacher"]
    board = open_page("class_board", teacher=True)
    rows = next(df.value for df in board.dataframe if "rank" in df.value.columns)
    assert rows["owner"].tolist() == ["the teacher", "guest"] or sorted(rows["owner"]) == ["guest", "the teacher"]


def test_a_look_alike_of_a_claimed_name_is_refused_in_the_sidebar(folders):
    use_name("Anna")
    from tests.helpers.app import ROOT
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["name"] = "\u0410nna"   # Cyrillic А: looks like Anna
    at.run()
    assert any("this name is taken: use your own link, or ask the teacher" in e.value for e in at.sidebar.error)
    assert "You are" not in " ".join(m.value for m in at.sidebar.markdown)
