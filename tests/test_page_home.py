"""Home: the first screen teaches. Demos with their accuracy, one click inside, every page, the name box;
pinned runs as links that keep the student's name, and for the teacher an absolute link with a QR code."""

from __future__ import annotations

import json
import time

import pytest

from cnnkit.train import TrainConfig


@pytest.fixture
def home_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    monkeypatch.setenv("CNNLAB_CONFIG", str(tmp_path / "cnnlab.toml"))
    monkeypatch.delenv("CNNLAB_TEACHER_PASSWORD", raising=False)
    (tmp_path / "cnnlab.toml").write_text("")
    return tmp_path


def home(**params):
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    from tests.helpers.app import ROOT

    PagesManager.uses_pages_directory = None
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def links(at) -> dict[str, object]:
    return {link.proto.label: link.proto for link in at.get("page_link")}


def test_home_shows_the_demos_one_click_inside_and_every_page(home_dirs):
    at = home()
    accuracy = {m.value for m in at.metric if m.label == "Test accuracy"}
    assert accuracy == {"85.0%", "97.5%"}  # the two shipped demo runs (assets/demo_runs)
    found = links(at)
    assert found["Look inside the demo"].page == "inside_network"
    for title in ("Data explorer", "Architecture builder", "Training runner", "Class board", "Resolution lab",
                  "Transfer learning", "Grad-CAM viewer", "Inside the network"):
        assert title in found, title
    text = " ".join(m.value for m in at.markdown)
    assert "Type your name" in text  # the name box is part of the first steps
    assert len(at.get("vega_lite_chart")) == 2  # something to look at: each demo's learning curve
    assert any("Validation accuracy rose from" in c.value for c in at.caption)  # its text alternative


def test_class_config_hides_pages_from_the_tour(home_dirs):
    (home_dirs / "cnnlab.toml").write_text('[class]\npages = ["Training runner"]\n')
    at = home()
    found = links(at)
    assert "Training runner" in found and "Transfer learning" not in found and "Look inside the demo" not in found


def _pinned_run(home_dirs, run_id: str = "run-ben") -> None:
    folder = home_dirs / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(TrainConfig(dataset="shapes", epochs=1).to_dict()))
    (folder / "run.json").write_text(json.dumps({"status": "done", "dataset": "shapes", "model_name": "cnn3_bn",
                                                 "created": time.time(), "owner": "Ben", "test_accuracy": 0.75,
                                                 "epochs_done": 1}))
    from cnnkit.classroom import pin

    pin("run", run_id, teacher=True)


def test_a_pinned_run_link_keeps_the_students_name(home_dirs):
    _pinned_run(home_dirs)
    at = home(name="Anna Lee")
    assert any("Run run-ben: cnn3_bn, on shapes, test accuracy 75.0%, by Ben" in t.value for t in at.text)
    link = links(at)["Open its settings in the Training runner"]
    assert link.page == "training_runner"
    assert "run=run-ben" in link.query_string and "name=Anna+Lee" in link.query_string
    assert not at.code  # the share box (absolute URL, QR code) is the teacher's


def test_the_teacher_gets_an_absolute_link_without_their_own_name_and_a_qr_code(home_dirs, monkeypatch):
    (home_dirs / "cnnlab.toml").write_text('[class]\nteacher_password = "owl"\n')
    _pinned_run(home_dirs)
    at = home(name="Teacher")
    at.sidebar.text_input(key="cnnlab_teacher_pw").input("owl").run()
    url = at.code[0].value
    assert url.startswith("http") and url.endswith("/training_runner?run=run-ben")  # absolute; no teacher's name
    assert any("Scan to open" in c for img in at.image for c in img.captions)
