"""The demo runs shipped in assets/demo_runs: listed as read-only "demo" choices, loadable, honest about their
accuracy, small, never written; the drawing canvas's value decoding; the page's default and its Draw source."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from cnnkit.explain.viewer import DEMO_DIGITS_KEY, DEMO_SHAPES_KEY, list_demo_choices, list_run_choices, load_choice
from cnnkit.paths import demo_runs_dir
from tests.helpers.app import make_app_test

SHIPPED_FILES = {"config.json", "run.json", "best.pt", "history.json", "results.json"}


def demo_folders():
    return sorted(p for p in demo_runs_dir().iterdir() if (p / "run.json").is_file())


def snapshot(folder):
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


def test_demos_are_listed_as_read_only_demo_choices():
    choices = {c.key: c for c in list_demo_choices()}
    assert set(choices) == {DEMO_SHAPES_KEY, DEMO_DIGITS_KEY}
    shapes = choices[DEMO_SHAPES_KEY]
    assert shapes.kind == "demo" and shapes.available and shapes.dataset == "shapes"
    assert shapes.label.startswith("Demo: Shapes demo cnn3_bn_small on shapes acc ")
    assert choices[DEMO_DIGITS_KEY].dataset == "digits" and choices[DEMO_DIGITS_KEY].classes == list("0123456789")
    assert not any(c.kind == "demo" for c in list_run_choices())  # own runs and demos stay apart


def test_demo_folders_are_small_and_hold_only_what_a_viewer_reads():
    folders = demo_folders()
    assert len(folders) == 2
    for folder in folders:
        assert {p.name for p in folder.iterdir()} == SHIPPED_FILES, folder.name
        assert sum(p.stat().st_size for p in folder.iterdir()) < 1_500_000, folder.name
        meta = json.loads((folder / "run.json").read_text())
        assert meta["status"] == "done" and meta["demo"] is True and "pid" not in meta


def test_another_demo_folder_or_none(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_DEMO_RUNS_DIR", str(tmp_path / "missing"))
    assert list_demo_choices() == []


@pytest.mark.parametrize("demo", ["demo-digits-cnn", pytest.param("demo-shapes-cnn3_bn_small", marks=pytest.mark.slow)])
def test_demo_loads_and_its_recorded_accuracy_is_true(demo):
    from cnnkit.evaluate import evaluate_run
    from cnnkit.store import load_run_model

    folder = demo_runs_dir() / demo
    before = snapshot(folder)
    loaded = load_run_model(folder)
    meta = json.loads((folder / "run.json").read_text())
    assert loaded.classes == meta["classes"] and list(loaded.input_shape) == meta["input_shape"]
    result, _ = evaluate_run(folder)
    assert result.accuracy == pytest.approx(meta["test_accuracy"], abs=1e-6)
    assert result.accuracy == pytest.approx(json.loads((folder / "results.json").read_text())["accuracy"], abs=1e-6)
    assert result.accuracy > {"demo-digits-cnn": 0.9, "demo-shapes-cnn3_bn_small": 0.8}[demo]
    choice = next(c for c in list_demo_choices() if c.source == str(folder))
    model = load_choice(choice)
    assert model.input_shape == tuple(meta["input_shape"]) and model.dataset == meta["dataset"]
    assert snapshot(folder) == before  # read-only: loading and evaluating wrote nothing


def test_canvas_value_decodes_to_png_bytes():
    from ui.draw_canvas import png_from_value

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert png_from_value({"png": url, "strokes": 1}) == buffer.getvalue()
    assert png_from_value(None) is None and png_from_value({"png": "javascript:1"}) is None


@pytest.fixture
def no_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")


def test_inside_network_opens_on_the_shapes_demo_without_runs(no_runs):
    at = make_app_test("inside_network")
    assert not at.exception, at.exception
    assert at.selectbox(key="in_model").value == DEMO_SHAPES_KEY
    assert "Test set" in at.radio(key="in_source").options
    assert "Draw" not in at.radio(key="in_source").options  # a colour model: nothing to draw


def test_digits_demo_offers_draw_and_predicts_a_drawing(no_runs, monkeypatch):
    import ui.draw_canvas

    # The browser's half is the component; here its value is a drawn "1": a white bar on black.
    canvas = np.zeros((196, 196, 3), dtype=np.uint8)
    canvas[20:176, 84:112] = 255
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    drawn = {"png": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), "strokes": 1}
    monkeypatch.setattr(ui.draw_canvas, "_component", lambda **kwargs: drawn)
    at = make_app_test("inside_network")
    at.selectbox(key="in_model").set_value(DEMO_DIGITS_KEY)
    at.run()
    assert "Draw" in at.radio(key="in_source").options
    at.radio(key="in_source").set_value("Draw")
    at.run()
    assert not at.exception, at.exception
    assert any("What the model sees (8×8)" in c for img in at.image for c in img.captions)
    table = at.dataframe[0].value
    assert list(table["class"])[0] == "1", table  # the demo reads the bar as a one
