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
