"""AppTests of privacy on the pages: the teacher's panel on the Class board (what is kept; erase one student
after a confirmation), hidden from students; the class's retention applied at start; an image uploaded to the
Grad-CAM viewer or Inside the network is used in memory and never written under the data or checkpoint
folders."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from cnnkit.train import TrainConfig
from tests.helpers.app import ROOT, teacher_token


@pytest.fixture
def class_dirs(tmp_path, monkeypatch):
    for name in ("data", "runs"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("CNNKIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    monkeypatch.setenv("CNNLAB_CONFIG", str(tmp_path / "cnnlab.toml"))
    monkeypatch.delenv("CNNLAB_TEACHER_PASSWORD", raising=False)
    (tmp_path / "cnnlab.toml").write_text('[class]\nteacher_password = "owl"\n')
    return tmp_path


def fake_run(root: Path, run_id: str, owner: str, created: float | None = None) -> Path:
    folder = root / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(TrainConfig(epochs=1).to_dict()))
    (folder / "run.json").write_text(json.dumps({"status": "done", "dataset": "shapes", "model_name": "cnn3_bn",
                                                 "created": created or time.time(), "owner": owner,
                                                 "test_accuracy": 0.5, "epochs_done": 1}))
    return folder


def app(page: str, teacher: bool = False):
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    PagesManager.uses_pages_directory = None
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if teacher:
        at.session_state["cnnlab_teacher"] = teacher_token()
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def expander_labels(at) -> list[str]:
    return [e.label for e in at.expander]


def test_students_do_not_see_the_privacy_panel(class_dirs):
    fake_run(class_dirs, "r-anna", "Anna")
    at = app("class_board")
    assert not any("Privacy" in label for label in expander_labels(at))
    assert "pv_erase" not in [b.key for b in at.button] and "pv_student" not in [s.key for s in at.selectbox]


def test_the_teacher_sees_what_is_kept_and_erases_one_student_after_confirming(class_dirs):
    fake_run(class_dirs, "r-anna", "Anna")
    fake_run(class_dirs, "r-ben", "Ben")
    at = app("class_board", teacher=True)
    assert any("Privacy" in label for label in expander_labels(at))
    kinds = list(at.dataframe[0].value["kind"])
    assert {"identity", "runs", "datasets", "labs", "viewer uploads"} <= set(kinds)
    assert at.selectbox(key="pv_student").options == ["Anna", "Ben"]
    at.selectbox(key="pv_student").set_value("Anna").run()
    listed = at.dataframe[1].value
    assert list(listed.columns) == ["kind", "item", "busy"] and any("run r-anna" in item for item in listed["item"])
    assert at.button(key="pv_erase").disabled  # not before the confirmation
    at.checkbox(key="pv_sure").check().run()
    at.button(key="pv_erase").click().run()
    assert not at.exception, at.exception
    assert not (class_dirs / "runs" / "r-anna").exists() and (class_dirs / "runs" / "r-ben").is_dir()
    assert any("Erased 1 item(s)" in s.value for s in at.success)
    assert at.selectbox(key="pv_student").options == ["Ben"]


def test_retention_from_cnnlab_toml_removes_old_runs_when_the_app_starts(class_dirs):
    old = fake_run(class_dirs, "r-old", "Cleo", created=time.time() - 40 * 86400)
    new = fake_run(class_dirs, "r-new", "Cleo")
    (class_dirs / "cnnlab.toml").write_text("[privacy]\nretention_days = 30\n")
    app("home")
    assert not old.exists() and new.is_dir()


def flower_png() -> bytes:
    buffer = io.BytesIO()
    Image.open(ROOT / "assets" / "examples" / "flower.jpg").save(buffer, format="PNG")
    return buffer.getvalue()


def files_under(*roots: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for root in roots for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("page, key", [("gradcam_viewer", "gc_upload"), ("inside_network", "in_upload")])
def test_an_uploaded_image_is_used_in_memory_and_never_written_to_disk(class_dirs, page, key):
    at = app(page)
    roots = (class_dirs / "data", class_dirs / "runs")
    before = files_under(*roots)
    picture = flower_png()
    # the viewers open on the demo and a test image: the upload box comes with the Upload source
    at.radio(key=key.replace("_upload", "_source")).set_value("Upload").run()
    assert not at.exception, at.exception
    at.file_uploader(key=key).set_value(("my-face.png", picture, "image/png"))
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.image) >= 1  # the upload was used: the page shows what the model sees
    after = files_under(*roots)
    assert after == before, sorted(set(after) - set(before))
    # nor anywhere under them holding the picture's bytes
    assert not any(picture[:4096] in Path(path).read_bytes() for path in after)
