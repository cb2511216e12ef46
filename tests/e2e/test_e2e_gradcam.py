"""In a real browser: open the Grad-CAM viewer, upload a photo, see the predictions and the heatmap overlay."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers.app import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def open_with_upload(page, app_server) -> None:
    """The viewer opens on the Shapes demo and a test image; pick EfficientNet-Lite0 and the upload box."""
    page.goto(app_server + "/gradcam_viewer")
    page.get_by_role("heading", name="Grad-CAM viewer", level=1).wait_for()
    model = page.locator("[data-testid='stSidebar']").get_by_role("combobox", name=re.compile("Model"))
    expect(model).to_have_value(re.compile("^Demo: Shapes demo"), timeout=60_000)
    model.click()
    page.keyboard.type("EfficientNet")
    page.get_by_role("option", name=re.compile("EfficientNet-Lite0")).click()
    # the model's rerun opens on an example photo (no test set): wait for it before choosing the upload box
    page.get_by_text("What the model sees (224×224)").wait_for(timeout=120_000)
    page.locator("[data-testid='stRadio']").first.get_by_text("Upload", exact=True).click()
    page.get_by_text("Choose an image").wait_for(timeout=60_000)
    page.locator("[data-testid='stFileUploader']").wait_for(timeout=60_000)


def test_upload_photo_shows_predictions_and_overlay(page, app_server):
    open_with_upload(page, app_server)
    page.locator("input[type=file]").set_input_files(str(ROOT / "assets" / "examples" / "flower.jpg"))
    page.get_by_text("Top-5 predictions").wait_for(timeout=120_000)
    overlay_caption = page.get_by_text(re.compile(r"Grad-CAM for .daisy. at _conv_head"))
    overlay_caption.wait_for(timeout=120_000)
    # The original and the overlay are real, decoded images of the display size.
    images = page.locator("[data-testid='stImage'] img")
    assert images.count() >= 2
    sizes = page.evaluate(
        "() => Array.from(document.querySelectorAll(\"[data-testid='stImage'] img\")).map(i => [i.naturalWidth, i.complete])"
    )
    assert sum(1 for width, complete in sizes if width == 448 and complete) >= 2, sizes
    assert page.locator("[data-testid='stVegaLiteChart'], .vega-embed").count() >= 1
    assert page.get_by_text("Traceback").count() == 0


def test_uploading_a_text_file_shows_a_message(page, app_server):
    open_with_upload(page, app_server)
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image at all"}])
    page.get_by_text(re.compile("notes.txt is not an image PIL can read")).wait_for(timeout=60_000)
