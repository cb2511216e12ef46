"""AppTest of the Grad-CAM viewer: upload an image, see predictions and a heatmap; bad files get a message."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.helpers.app import ROOT, make_app_test

pytestmark = pytest.mark.slow  # EfficientNet-Lite0 on CPU: a few seconds per run


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.open(ROOT / "assets" / "examples" / "flower.jpg").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    # Never wait on the network in tests: the torchvision models show their "not available" notice.
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")


def opened_on(source: str, model: str = "pretrained:efficientnet_lite0"):
    """The page with `model` picked and the image source `source` (the page itself opens on the demo)."""
    at = make_app_test("gradcam_viewer", timeout=120)
    at.selectbox(key="gc_model").set_value(model)
    at.run()
    at.radio(key="gc_source").set_value(source)
    at.run()
    return at


def test_page_opens_on_the_demo_and_a_test_image():
    at = make_app_test("gradcam_viewer", timeout=120)
    assert not at.exception, at.exception
    assert at.title[0].value == "Grad-CAM viewer"
    model = at.selectbox(key="gc_model")
    assert model.value == "demo:demo-shapes-cnn3_bn_small"
    # trained models (demos, runs) come before the ImageNet ones
    assert model.options[0].startswith("Demo: Shapes demo")
    assert at.radio(key="gc_source").value == "Test set"
    assert len(at.image) >= 5 + 2  # five test images, the image and its heatmap: no empty upload box
    assert at.subheader[0].value == "Top-5 predictions"
    assert any("This model knows only 10 classes: circle, square" in c.value.replace("\\", "") for c in at.caption)
    # torchvision models without cached weights are listed with why they cannot be used.
    notices = " ".join(c.value for c in at.sidebar.caption)
    assert "ResNet-18" in notices or "resnet18" in notices.lower()


def test_upload_shows_predictions_and_heatmap():
    at = opened_on("Upload")
    at.file_uploader(key="gc_upload").set_value(("flower.png", png_bytes(), "image/png"))
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.subheader[0].value == "Top-5 predictions"
    assert len(at.get("vega_lite_chart")) >= 1  # the bar chart
    assert len(at.image) >= 2  # original and overlay
    captions = " ".join(c for img in at.image for c in img.captions)
    assert "Grad-CAM" in captions and "daisy" in captions and "_conv_head" in captions
    # the class to explain is keyed by model and image: a new image starts at its own prediction
    target = next(b for b in at.selectbox if str(b.key).startswith("gc_target:pretrained:efficientnet_lite0:upload:"))
    assert target.value == 985  # the predicted class (daisy) is the default target
    assert any("last conv layer" in c.value for c in at.caption)
    # Another class and another method re-render without error.
    target.set_value(309)  # bee
    at.selectbox(key="gc_method").set_value("saliency")
    at.run()
    assert not at.exception
    captions = " ".join(c for img in at.image for c in img.captions)
    assert "Saliency" in captions and "bee" in captions


def test_not_an_image_gets_a_clear_message():
    at = opened_on("Upload")
    at.file_uploader(key="gc_upload").set_value(("notes.txt", b"definitely not a picture", "text/plain"))
    at.run()
    assert not at.exception
    assert any("notes.txt is not an image PIL can read" in e.value for e in at.error)


def test_example_compare_and_sanity_check():
    at = opened_on("Example")
    assert not at.exception, at.exception
    assert at.selectbox(key="gc_example").value == "china"
    at.checkbox(key="gc_compare").check()
    at.checkbox(key="gc_sanity").check()
    at.run()
    assert not at.exception, at.exception
    captions = " ".join(c for img in at.image for c in img.captions)
    for name in ("Guided Grad-CAM", "Saliency", "Trained weights", "Random weights"):
        assert name in captions
    rho = float(at.metric[0].value)
    assert -1.0 <= rho <= 1.0


def test_unavailable_pretrained_model_shows_its_notice(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    at = make_app_test("gradcam_viewer", timeout=120)
    model = at.selectbox(key="gc_model")
    assert "pretrained:resnet18" in model.options or any("ResNet-18" in o for o in model.options)
    model.set_value("pretrained:resnet18")
    at.run()
    assert not at.exception
    assert any("ResNet-18 weights are not in the torch cache and there is no network" in w.value for w in at.warning)
    assert not at.file_uploader  # nothing else is offered for a model that cannot load


def test_camera_picture_is_explained():
    at = opened_on("Camera")
    photo = (ROOT / "assets" / "examples" / "china.jpg").read_bytes()
    at.camera_input(key="gc_camera").set_value(("photo.jpg", photo, "image/jpeg"))
    at.run()
    assert not at.exception, at.exception
    captions = " ".join(c for img in at.image for c in img.captions)
    assert "Grad-CAM for" in captions and "palace" in captions


def test_a_photo_shown_to_the_shapes_demo_gets_a_plain_warning():
    at = make_app_test("gradcam_viewer", timeout=120)  # opens on the Shapes demo
    at.radio(key="gc_source").set_value("Example")
    at.run()
    at.selectbox(key="gc_example").set_value("grace_hopper")
    at.run()
    assert not at.exception, at.exception
    warnings = " ".join(w.value.replace("\\", "") for w in at.warning)
    assert "Take this answer with caution" in warnings and "unlike the shapes images" in warnings
