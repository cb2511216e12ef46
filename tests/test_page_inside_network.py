"""AppTest of Inside the network: one test per section, on a preset with random weights (fast) and a
hand-made saved run (test split, before/after training); bad files get the Grad-CAM viewer's message."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.app import make_app_test


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")


def png_bytes(size: int = 40) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def opened(model: str = "preset:cnn3_bn"):
    at = make_app_test("inside_network")
    at.selectbox(key="in_model").set_value(model)
    at.run()
    at.radio(key="in_source").set_value("Upload")
    at.run()
    at.file_uploader(key="in_upload").set_value(("noise.png", png_bytes(), "image/png"))
    at.run()
    assert not at.exception, at.exception
    return at


def captions(at) -> str:
    return " ".join(c for img in at.image for c in img.captions) + " " + " ".join(c.value for c in at.caption)


def test_page_asks_for_an_image_and_rejects_a_non_image(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))  # no saved runs, whatever ran before
    monkeypatch.setenv("CNNKIT_DEMO_RUNS_DIR", str(tmp_path / "no-demos"))  # and no shipped demo runs
    at = make_app_test("inside_network")
    assert not at.exception, at.exception
    assert at.title[0].value == "Inside the network"
    # no runs and no demos: a trained ImageNet model before the presets' random weights, on an example photo
    model = at.selectbox(key="in_model")
    assert model.value == "pretrained:efficientnet_lite0"
    assert [o.split(":")[0] for o in model.options][-1] == "Preset"
    assert at.radio(key="in_source").value == "Example" and len(at.image) >= 1
    at.radio(key="in_source").set_value("Upload")
    at.run()
    assert any("Choose an image" in i.value for i in at.info)
    at.file_uploader(key="in_upload").set_value(("notes.txt", b"definitely not a picture", "text/plain"))
    at.run()
    assert not at.exception
    assert any("notes.txt is not an image PIL can read" in e.value for e in at.error)


def test_layers_overview_grid_and_statistics():
    at = opened()
    text = captions(at)
    layer = at.selectbox(key="in_layer:preset:cnn3_bn")
    assert layer.value == "layers.0"
    assert "32 of 32 channels" in text and "black = " in text and "Output 32×32×32" in text
    # the unit starts on the strongest channel, in the middle of the map, and is traced at once
    assert at.number_input(key="in_unit_y").value == 16 and at.number_input(key="in_unit_x").value == 16
    assert any(m.value.startswith("Unit (") and "reads a 3×3 window of the image" in m.value for m in at.markdown)
    layer.set_value("layers.11")  # the last max pool: 128×4×4; the unit is clamped into it
    at.run()
    assert not at.exception
    assert "Output 128×4×4" in captions(at)
    assert at.number_input(key="in_unit_y").value == 3 and at.number_input(key="in_unit_x").value == 3
    at.selectbox(key="in_layer:preset:cnn3_bn").set_value("layers.15")  # flat logits
    at.run()
    assert not at.exception
    assert "is flat" in captions(at) and any("is flat: every value depends" in i.value for i in at.info)


def test_one_unit_drives_window_receptive_field_and_arithmetic():
    at = opened()
    at.selectbox(key="in_layer:preset:cnn3_bn").set_value("layers.4")  # second conv, 16×16
    at.run()
    at.number_input(key="in_unit_y").set_value(0)
    at.number_input(key="in_unit_x").set_value(3)
    at.run()
    assert not at.exception, at.exception
    text = captions(at)
    # conv 3 pad 1 (start −1) → pool 2 (rf 4, jump 2) → conv 3 pad 1: start −3, rf 8; x=3 starts at −3 + 3·2 = 3
    assert "sees rows 0–4, columns 3–10" in text and "8×8 window" in text
    line = next(m.value for m in at.markdown if m.value.startswith("Unit ("))
    # its window: rows −1..1 (−1 is padding), columns 2..4 of the pool below, all 32 channels
    assert "of layers.4" in line and "reads a 2×3 window of layers.3 (rows 0–1, columns 2–4, channels 0–31, " \
                                     "with zero padding)" in line
    assert any("equals the network's value" in s.value for s in at.success)
    assert "kernel offsets (dy, dx)" in text and "which position of layers.3" in text


@pytest.fixture
def tiny_shapes(monkeypatch):
    import cnnkit.data
    from cnnkit.data import SHAPE_CLASSES, LoadedDataset, generate_shapes

    x, y = generate_shapes(150, seed=2)
    data = LoadedDataset("shapes", list(SHAPE_CLASSES), x[:0], y[:0], x, y)
    monkeypatch.setattr(cnnkit.data, "load_dataset", lambda name, progress=None: data)


def test_top_images_filters_arithmetic_and_output_size(tiny_shapes):
    at = opened()
    at.slider(key="in_top_sample").set_value(100)
    at.button(key="in_top_run").click()
    at.run()
    assert not at.exception, at.exception
    channel = at.number_input(key="in_unit_c").value  # the unit's channel drives the other tabs
    assert f"The 8 of 100 test images where channel {channel} of layers.0 is strongest" in captions(at)
    assert "layers.0: 32 filters of 3×3×3 as RGB pictures" in captions(at)
    at.number_input(key="in_unit_c").set_value(5)
    at.number_input(key="in_unit_y").set_value(0)
    at.number_input(key="in_unit_x").set_value(31)
    at.run()
    assert not at.exception
    assert any("equals the network's value" in s.value for s in at.success)
    assert "Σ (patch × kernel)" in " ".join(m.value for m in at.markdown)
    text = captions(at)
    assert "Filter 5 of layers.0 (the unit's channel)" in text
    # the first conv reads the image: the table says how it was normalised (presets: mean 0.5, std 0.5)
    assert "normalised input (mean 0.500, std 0.500)" in text
    # x = 31: the kernel's third column falls in the padding; rows are kernel offsets with the row they read
    patch = next(d.value for d in at.dataframe if "dx 2 · pad" in list(d.value.columns))
    assert list(patch.columns) == ["dx 0 · x 30", "dx 1 · x 31", "dx 2 · pad"]
    assert list(patch.index) == ["dy 0 · pad", "dy 1 · y 0", "dy 2 · y 1"]
    at.selectbox(key="in_layer:preset:cnn3_bn").set_value("layers.1")  # batch norm
    at.run()
    assert any("equals the network's value" in s.value for s in at.success)
    at.selectbox(key="in_layer:preset:cnn3_bn").set_value("layers.13")  # Linear: explained instead
    at.run()
    assert any("Linear layer multiplies" in i.value for i in at.info), [i.value for i in at.info]
    assert "= ⌊6 / 2⌋ + 1 = 4" in " ".join(m.value for m in at.markdown)  # calculator defaults 7, 3, 2, 1, 1
    at.number_input(key="in_os_n").set_value(2)
    at.number_input(key="in_os_d").set_value(3)
    at.run()
    assert any("the window spans 7 pixels" in w.value for w in at.warning)


@pytest.fixture
def saved_run(tmp_path, monkeypatch):
    """A spec run folder as the trainer writes it: run.json, config.json (seed 7), best.pt; the only run."""
    from cnnkit.models.registry import build_bundle
    from cnnkit.store import save_tensors

    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))  # other tests' runs would be newer
    run_dir = tmp_path / "20250101-000000-tiny-shapes-abcd"
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(7)
    bundle = build_bundle("cnn3", (3, 32, 32), 8)
    initial = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    trained = {k: v + 0.05 for k, v in initial.items()}  # "training" moved every weight
    save_tensors(run_dir / "best.pt", trained)
    from cnnkit.data import SHAPE_CLASSES
    (run_dir / "config.json").write_text(json.dumps({"seed": 7, "epochs": 1}))
    (run_dir / "run.json").write_text(json.dumps({
        "status": "done", "dataset": "shapes", "classes": list(SHAPE_CLASSES), "model_name": "cnn3",
        "model_record": bundle.record, "input_shape": [3, 32, 32], "mean": [0.5] * 3, "std": [0.25] * 3,
        "created": 1.0}))
    return run_dir, initial


def test_saved_run_test_set_and_before_after(saved_run, tiny_shapes):
    from cnnkit.explain import from_run
    from cnnkit.inspect import initial_model

    run_dir, initial = saved_run
    start = initial_model(from_run(run_dir))
    assert all(torch.equal(start.model.state_dict()[k], v) for k, v in initial.items())  # re-init with the seed

    at = make_app_test("inside_network")
    assert at.selectbox(key="in_model").value == "demo:demo-shapes-cnn3_bn_small"  # the page opens on the demo
    assert at.radio(key="in_source").value == "Test set"  # and a test image
    at.selectbox(key="in_model").set_value(f"run:{run_dir}")
    at.run()
    at.radio(key="in_source").set_value("Test set")
    at.run()
    assert not at.exception, at.exception
    assert at.radio(key="in_test_pick").value == 0
    at.checkbox(key="in_compare").check()
    at.run()
    assert not at.exception, at.exception
    text = captions(at)
    assert "re-initialised with the run's seed 7" in text
    assert [m.value for m in at.markdown if m.value in ("**Before training**", "**After training**")] == \
           ["**Before training**", "**After training**"]
