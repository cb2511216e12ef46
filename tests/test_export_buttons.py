"""The run view's download buttons: shown for a run with weights, absent before its first epoch."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from cnnkit import store
from tests.helpers.export import untrained_run


def _script(run_dir: str) -> None:
    from ui.export_buttons import render_export_buttons

    render_export_buttons(run_dir, key="probe")


def _labels(run_dir) -> list[str]:
    at = AppTest.from_function(_script, args=(str(run_dir),), default_timeout=30)
    at.run()
    assert not at.exception
    return [button.proto.label for button in at.get("download_button")]


def test_buttons_for_a_run_with_weights_only(tmp_path):
    run_dir = untrained_run("cnn3", (3, 32, 32), ["a", "b"], tmp_path)
    assert _labels(run_dir) == ["Download run (.zip)", "Export ONNX"]
    with store.RunWriter.create({"model": "cnn3"}, "cnn3", "fake", tmp_path) as writer:
        empty = writer.run_dir
    assert _labels(empty) == []


def test_a_classmates_run_zip_imported_on_the_runs_tab_is_listed(tmp_path, monkeypatch):
    from cnnkit.export import build_run_zip
    from tests.helpers.app import make_app_test

    source = untrained_run("cnn3", (3, 32, 32), [f"c{i}" for i in range(10)], tmp_path / "elsewhere")
    data = build_run_zip(source)
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "mine"))
    at = make_app_test("training_runner", timeout=120)
    at.file_uploader(key="tr_import_upload").set_value(("friend.zip", b"not a zip at all", "application/zip")).run()
    at.button(key="tr_import_button").click().run()
    assert not at.exception and any("friend.zip" in e.value for e in at.error)  # refused, named, nothing saved
    assert store.list_runs() == []
    at.file_uploader(key="tr_import_upload").set_value(("friend.zip", data, "application/zip")).run()
    at.button(key="tr_import_button").click().run()
    assert not at.exception, at.exception
    imported = store.list_runs()
    assert len(imported) == 1 and imported[0].status == "done"
    assert any(imported[0].run_id in s.value for s in at.success)
