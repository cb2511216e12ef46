"""Saved runs in the viewer, through the cnnkit.store / cnnkit.data contracts.

A stand-in store and data module (exactly the contract's names and fields) let these tests
run whether or not the training helper's modules are installed; test_real_store_* below use
the real ones when they exist.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnkit.explain import explain, load_explainable
from cnnkit.explain.viewer import list_run_choices, prepare, sample_test_images
from cnnkit.store import LoadedRun
from tests.helpers.explain import TinyCNN

CLASSES = ["circle", "square", "triangle", "star"]


@dataclass
class FakeRunRecord:
    run_id: str
    run_dir: Path
    status: str
    dataset: str
    classes: list[str]
    test_accuracy: float | None = None
    model_name: str = ""


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    # The CLI imports the trainer, which needs the real cnnkit.data: import it before faking it.
    import cnnkit.cli  # noqa: F401
    import cnnkit.train  # noqa: F401

    run_dir = tmp_path / "run-0001"
    run_dir.mkdir()
    torch.manual_seed(0)
    model = TinyCNN(1, 4).eval()
    torch.save(model.state_dict(), run_dir / "best.pt")
    (run_dir / "run.json").write_text(json.dumps({"status": "done", "dataset": "fake_shapes", "classes": CLASSES}))

    def load_run_model(path, which="best", device="cpu"):
        net = TinyCNN(1, 4)
        net.load_state_dict(torch.load(Path(path) / f"{which}.pt", weights_only=True))
        return LoadedRun(net.eval(), None, CLASSES, (1, 32, 32), [0.5], [0.25], "fake_shapes", Path(path))

    store = types.ModuleType("cnnkit.store")
    store.load_run_model = load_run_model
    # the checkpoint folder's runs; any other folder (the shipped demos) holds none here
    store.list_runs = lambda root=None: [] if root is not None else [
        FakeRunRecord("run-0001", run_dir, "done", "fake_shapes", CLASSES),
        FakeRunRecord("run-0002", tmp_path / "no-checkpoint-yet", "running", "x", [])]
    monkeypatch.setitem(sys.modules, "cnnkit.store", store)
    monkeypatch.setattr("cnnkit.explain.viewer.list_runs", store.list_runs)

    generator = torch.Generator().manual_seed(1)
    test_x = torch.randint(0, 256, (20, 1, 32, 32), generator=generator, dtype=torch.uint8)
    test_y = torch.arange(20) % 4
    import cnnkit.data as real_data

    data = types.ModuleType("cnnkit.data")
    data.__dict__.update({k: v for k, v in vars(real_data).items() if not k.startswith("__")})  # all but the loader
    data.load_dataset = lambda name, progress=None: types.SimpleNamespace(
        name=name, classes=CLASSES, train_x=test_x, train_y=test_y, test_x=test_x, test_y=test_y)
    monkeypatch.setitem(sys.modules, "cnnkit.data", data)
    return run_dir


def test_run_folder_becomes_an_explainable_model(fake_run):
    em = load_explainable(fake_run)
    assert em.kind == "run" and em.classes == CLASSES and em.input_shape == (1, 32, 32)
    assert em.dataset == "fake_shapes"
    from PIL import Image

    photo = Image.new("RGB", (300, 200), (255, 255, 255))
    x = em.preprocess(photo)
    assert x.shape == (1, 1, 32, 32)
    torch.testing.assert_close(x, torch.full_like(x, 2.0))  # (1 - 0.5) / 0.25
    assert em.display_image(photo).shape == (32, 32, 3)
    result = explain(em.model, x, method="gradcam", target="square", classes=em.classes)
    assert result.target == 1 and result.map.shape == (32, 32) and result.layer == "layers.7"


def test_run_choices_list_only_runs_with_checkpoints(fake_run):
    choices = list_run_choices()
    assert [c.source for c in choices] == [str(fake_run)]
    assert choices[0].dataset == "fake_shapes" and "run-0001" in choices[0].label


def test_test_set_samples_have_true_and_predicted(fake_run):
    em = load_explainable(fake_run)
    samples = sample_test_images(em, n=5, seed=3)
    assert len(samples) == 5 and len({s.index for s in samples}) == 5
    assert [s.index for s in sample_test_images(em, n=5, seed=3)] == [s.index for s in samples]  # seeded
    assert [s.index for s in sample_test_images(em, n=5, seed=4)] != [s.index for s in samples]
    for sample in samples:
        assert sample.true_class == CLASSES[sample.index % 4]
        assert sample.image.shape == (1, 32, 32) and 0 <= sample.probability <= 1
    prepared = prepare(em, samples[0].image)
    assert prepared.display.shape == (32, 32, 3) and prepared.default_layer.name == "layers.7"


def test_cli_on_a_run_folder(fake_run, tmp_path, capsys):
    from cnnkit.cli import main

    from PIL import Image

    photo = tmp_path / "p.png"
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(photo)
    assert main(["gradcam", str(fake_run), str(photo), "--json", "--target", "2", "--save-map", str(tmp_path / "m.npy")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["target"] == 2 and result["layer"] == "layers.7"
    assert [row["class"] for row in result["top_k"]][:1][0] in CLASSES
    assert np.load(tmp_path / "m.npy").shape == (32, 32)


def test_page_test_set_source(fake_run, monkeypatch):
    pytest.importorskip("streamlit")
    from tests.helpers.app import make_app_test

    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    at = make_app_test("gradcam_viewer", timeout=120)
    at.selectbox(key="gc_model").set_value(f"run:{fake_run}")
    at.run()
    assert "Test set" in at.radio(key="gc_source").options
    at.radio(key="gc_source").set_value("Test set")
    at.run()
    assert not at.exception, at.exception
    captions = [c for img in at.image for c in img.captions]
    assert sum("true:" in c and "predicted:" in c for c in captions) == 5
    first = [c for c in captions if "true:" in c]
    at.button(key="gc_random").click()
    at.run()
    assert not at.exception
    assert [c for img in at.image for c in img.captions if "true:" in c] != first  # 5 other images
    assert any("Grad-CAM for" in c for img in at.image for c in img.captions)
