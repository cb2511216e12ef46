"""AppTests of the classroom: a name per session (kept in ?name=), mine/everyone's runs, the class
board, teacher mode, deep links (?run=, ?preset=, ?lesson=), class limits; owners recorded by train()."""

from __future__ import annotations

import json
import time

import pytest

from cnnkit import store
from cnnkit.train import TrainConfig, train
from tests.helpers.train import patch_dataset, tiny_dataset, tiny_spec


@pytest.fixture
def class_dirs(tmp_path, monkeypatch):
    """An empty checkpoint folder and no class config unless a test writes one."""
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    monkeypatch.setenv("CNNLAB_CONFIG", str(tmp_path / "cnnlab.toml"))
    monkeypatch.delenv("CNNLAB_TEACHER_PASSWORD", raising=False)
    (tmp_path / "cnnlab.toml").write_text("")
    return tmp_path


def fake_run(root, run_id: str, owner: str, acc: float | None = 0.5, dataset: str = "shapes", **config) -> None:
    """A finished run folder as RunWriter leaves it (run.json and config.json only)."""
    folder = root / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(TrainConfig(dataset=dataset, epochs=1, **config).to_dict()))
    (folder / "run.json").write_text(json.dumps({"status": "done", "dataset": dataset, "model_name": "cnn3_bn",
                                                 "created": time.time(), "owner": owner, "test_accuracy": acc,
                                                 "epochs_done": 1}))


def app(page: str | None = None, **params):
    """app.py with these query-string parameters (as a browser opening that link), already run."""
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    from tests.helpers.app import ROOT

    PagesManager.uses_pages_directory = None
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(params)
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py")
        at.run()
    assert not at.exception, at.exception
    return at


def join_key(name: str) -> str:
    """The key of `name`'s join link, made by the teacher's tools (a name that owns runs is theirs to hand out)."""
    from cnnkit.classroom import use_name

    return use_name(name, teacher=True)[1]


def sidebar_text(at) -> str:
    return " ".join(m.value for m in at.sidebar.markdown)


def test_a_typed_name_is_kept_in_the_address(class_dirs):
    at = app()
    assert "You are" not in sidebar_text(at)  # nobody named: the guest, who can still train
    at.sidebar.text_input(key="cnnlab_name_input").input("  Anna ").run()
    assert "**You are** Anna" in sidebar_text(at)
    assert at.query_params["name"] == ["Anna"] or at.query_params["name"] == "Anna"
    key = at.query_params["key"][0] if isinstance(at.query_params["key"], list) else at.query_params["key"]
    reloaded = app(name="Anna", key=key)  # a reload opens the same address, the name's key with it
    assert "**You are** Anna" in sidebar_text(reloaded)


def test_runs_tab_shows_mine_by_default_and_everyones_on_request(class_dirs):
    fake_run(class_dirs, "run-anna", "Anna")
    fake_run(class_dirs, "run-ben", "Ben")
    at = app("training_runner", name="Anna", key=join_key("Anna"))
    assert len(at.selectbox(key="tr_run_pick").options) == 1 and at.selectbox(key="tr_run_pick").value == "run-anna"
    at.toggle(key="tr_runs_everyone").set_value(True).run()
    labels = at.selectbox(key="tr_run_pick").options
    assert len(labels) == 2 and any(label.endswith("· Ben") for label in labels)
    owners = next(df.value for df in at.dataframe if "owner" in df.value.columns)["owner"].tolist()
    assert sorted(owners) == ["Anna", "Ben"]
    # Ben's run: Anna may look at it but not delete it.
    at.selectbox(key="tr_run_pick").set_value("run-ben").run()
    at.checkbox(key="tr_delete_confirm").check().run()
    assert at.button(key="tr_delete").disabled
    at.selectbox(key="tr_run_pick").set_value("run-anna").run()
    assert not at.button(key="tr_delete").disabled


def test_class_board_lists_each_owners_best_run(class_dirs):
    fake_run(class_dirs, "a1", "Anna", acc=0.6)
    fake_run(class_dirs, "a2", "Anna", acc=0.9, lr=0.01)
    fake_run(class_dirs, "b1", "Ben", acc=0.7)
    fake_run(class_dirs, "c1", "Cleo", acc=0.99, dataset="digits")
    at = app("class_board", name="Ben", key=join_key("Ben"))
    assert at.title[0].value == "Class board"
    at.selectbox(key="cb_dataset").set_value("shapes").run()
    board = at.dataframe[0].value
    assert board["owner"].tolist() == ["Anna", "Ben"] and board["run"].tolist() == ["a2", "b1"]
    assert any("number 2 of 2" in c.value for c in at.caption)
    at.selectbox(key="cb_dataset").set_value("digits").run()
    assert at.dataframe[0].value["owner"].tolist() == ["Cleo"]


def test_teacher_mode_unlocks_deleting_anyones_run_and_pinning(class_dirs):
    (class_dirs / "cnnlab.toml").write_text('[class]\nteacher_password = "owl"\n')
    fake_run(class_dirs, "run-ben", "Ben")
    # (AppTest of a navigation app draws the sidebar in a session's first two runs only: one try per session.)
    at = app()
    at.sidebar.text_input(key="cnnlab_teacher_pw").input("wrong").run()
    assert any("not the teacher password" in e.value for e in at.sidebar.error)
    at = app()
    at.sidebar.text_input(key="cnnlab_teacher_pw").input("owl").run()
    assert any(s.value == "Teacher mode" for s in at.sidebar.success)
    at.switch_page("pages/training_runner.py").run()
    at.toggle(key="tr_runs_everyone").set_value(True).run()
    at.checkbox(key="tr_delete_confirm").check().run()
    assert not at.button(key="tr_delete").disabled
    assert any("training_runner?run=run-ben" in c.value for c in at.code)
    at.button(key="tr_pin").click().run()
    from cnnkit.classroom import load_pins
    assert load_pins() == [{"kind": "run", "id": "run-ben", "note": ""}]
    at.button(key="tr_delete").click().run()
    assert not (class_dirs / "runs" / "run-ben").exists()


def test_links_preload_settings(class_dirs):
    fake_run(class_dirs, "run-lr", "Ben", lr=0.05, batch_size=32)
    at = app("training_runner", run="run-lr", name="Anna")
    assert any("Settings of run run-lr (link)" in c.value for c in at.caption)
    assert at.select_slider(key="tr_batch_size").value == 32
    at = app("training_runner", preset="lenet5")
    assert at.selectbox(key="tr_preset").value == "lenet5"
    at = app("training_runner", lesson="week3")  # not a lesson: said, in plain text; nothing else changes
    assert any("The link's lesson cannot be loaded" in e.value and "week3" in e.value for e in at.error)
    at = app("training_runner", run="../etc")
    assert any("is not a run id" in e.value for e in at.error)


def test_class_limits_refuse_an_over_limit_run_and_names_can_be_required(class_dirs):
    (class_dirs / "cnnlab.toml").write_text('[limits]\nmax_epochs = 1\n[class]\nrequire_names = true\n')
    at = app("training_runner")
    at.button(key="tr_train").click().run()
    assert any("Type your name in the sidebar first" in e.value for e in at.error)
    at = app()
    at.sidebar.text_input(key="cnnlab_name_input").input("Anna").run()
    at.switch_page("pages/training_runner.py").run()
    at.slider(key="tr_epochs").set_value(3)
    at.button(key="tr_train").click().run()
    assert any("3 epochs is over this class's limit of 1: lower the epochs" in e.value for e in at.error)
    assert "tr_current" not in at.session_state


def test_train_records_its_owner_in_run_json(class_dirs, monkeypatch):
    patch_dataset(monkeypatch, tiny_dataset(n_train=32, n_test=8))
    result = train(TrainConfig(model=tiny_spec(), epochs=1, batch_size=16, device="cpu"), owner="Anna")
    record = store.load_run(result.run_dir)
    assert record.owner == "Anna"
    assert [r.owner for r in store.list_runs()] == ["Anna"]


# --- issue 22: names that cannot be borrowed, text as text, a config that fails closed ----------------------
def _param(at, name: str) -> str:
    value = at.query_params[name]
    return value[0] if isinstance(value, list) else value


def test_a_second_session_typing_a_claimed_name_is_refused(class_dirs):
    fake_run(class_dirs, "run-anna", "Anna")
    anna = app(name="Anna", key=join_key("Anna"))
    assert "**You are** Anna" in sidebar_text(anna) and _param(anna, "key")
    intruder = app(name="Anna")  # the name without its key: refused, a guest
    assert any("this name is taken: use your own link, or ask the teacher" in e.value for e in intruder.sidebar.error)
    assert "You are" not in sidebar_text(intruder)
    intruder.switch_page("pages/training_runner.py").run()
    assert "run-anna" not in intruder.session_state["tr_jobs"] and "tr_run_pick" not in intruder.session_state
    guessed = app(name="Anna", key="guess")
    assert "You are" not in sidebar_text(guessed)
    again = app("training_runner", name="Anna", key=_param(anna, "key"))  # her own link, in another browser
    assert "**You are** Anna" in sidebar_text(again)
    assert again.selectbox(key="tr_run_pick").value == "run-anna"


def test_link_parameters_and_run_notes_are_shown_as_text(class_dirs):
    at = app("training_runner", lesson="[x](http://evil.example)![i](http://evil.example/i.png)")
    shown = " ".join(e.value for e in at.error)  # not a lesson: said, with the link's text escaped
    assert "\\[x\\]\\(http\\:" in shown and "](http" not in shown
    at = app("training_runner", preset="![i](http://evil.example/i.png)")
    assert any("is not a model this app knows" in e.value and "](http" not in e.value for e in at.error)


def test_a_broken_config_stops_the_app_with_its_error(class_dirs):
    (class_dirs / "cnnlab.toml").write_text('[limits]\nmax_epochs = "2"\n[class]\nteacher_password = 918273\n')
    at = app()
    errors = " ".join(e.value for e in at.error)
    assert "class config is wrong" in errors and "max_epochs must be a whole number" in errors
    assert "918273" not in errors
    assert not at.sidebar.text_input  # nothing runs: no name box, no page


def test_teacher_panel_makes_join_links_with_qr_codes_and_releases_names(class_dirs):
    from cnnkit.classroom import claimed_names
    from cnnkit.classroom.teacher import GUARD

    (class_dirs / "cnnlab.toml").write_text('[class]\nteacher_password = "owl"\n')
    at = app()
    at.sidebar.text_input(key="cnnlab_teacher_pw").input("owl").run()
    at.switch_page("pages/class_board.py").run()
    at.text_area(key="ca_names").input("Anna\nBen").run()
    at.button(key="ca_make").click().run()
    links = [c.value for c in at.code if "name=" in c.value]
    assert len(links) == 2 and "name=Anna&key=" in links[0] and len(at.get("image")) == 2
    assert [row["name"] for row in claimed_names()] == ["Anna", "Ben"]
    at.button(key="ca_release_0").click().run()
    assert [row["name"] for row in claimed_names()] == ["Ben"]
    # Links for a lesson open that lesson (the Lessons page with ?lesson=), not Home.
    at.selectbox(key="ca_target").set_value("002-q4-batchnorm").run()
    at.text_area(key="ca_names").input("Cleo").run()
    at.button(key="ca_make").click().run()
    links = [c.value for c in at.code if "name=" in c.value]
    assert len(links) == 1 and "/lessons?lesson=002-q4-batchnorm&name=Cleo&key=" in links[0]
    GUARD.sign_out(at.session_state["cnnlab_teacher"])


def test_identity_params_carry_the_name_and_its_key_and_nothing_of_the_teacher(class_dirs):
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from ui.identity import identity_params

        st.session_state["cnnlab_teacher"] = "a-teacher-token"  # never in a link
        st.json(identity_params())

    at = AppTest.from_function(script)
    at.query_params.update(name="Anna")
    at.run()
    params = json.loads(at.json[0].value)
    assert params["name"] == "Anna" and len(params["key"]) >= 16 and set(params) == {"name", "key"}
    guest = AppTest.from_function(script)
    guest.run()
    assert json.loads(guest.json[0].value) == {}


def test_login_is_looked_up_once_per_check_period_not_on_every_page_run(monkeypatch):
    """Without a secrets file every st.user read reopens the secrets paths under one lock: asked once, then kept."""
    import ui.identity as identity

    class User:
        reads = 0

        def to_dict(self):
            User.reads += 1
            return {}

    monkeypatch.setattr(identity.st, "user", User())
    monkeypatch.setattr(identity, "_login_checked", [float("-inf"), False])
    assert [identity._signed_in_user() for _ in range(5)] == [{}] * 5 and not identity.login_configured()
    assert User.reads == 1
    monkeypatch.setattr(identity, "_login_checked", [identity.time.monotonic() - identity.LOGIN_CHECK_S - 1, False])
    User.to_dict = lambda self: {"is_logged_in": True, "email": "ann@school.example"}
    assert identity._signed_in_user()["email"] == "ann@school.example"   # configured since: seen after the period
