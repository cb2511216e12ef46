"""In a real browser: train one epoch of Shapes from the Training runner and see the confusion matrix."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_train_one_epoch_and_see_the_confusion_matrix(page, app_server):
    # Open the app at its root and follow the navigation link, so the page runs inside app.py's
    # st.navigation (wide layout, sidebar) as a student would see it.
    page.goto(app_server)
    page.get_by_role("link", name="Training runner").click()
    page.get_by_role("heading", name="Training runner", level=1).wait_for()
    # Sliders by keyboard (each is an <input type=range> named by its label): Epochs down to 1,
    # training images from "all" up two notches (128, 256).
    epochs = page.locator("input[type=range][aria-label='Epochs']")
    epochs.focus()
    epochs.press("Home")
    expect(epochs).to_have_value("1")
    subset = page.locator("input[type=range][aria-label='Training images']")
    subset.focus()
    subset.press("ArrowRight")
    subset.press("ArrowRight")
    expect(subset).to_have_attribute("aria-valuetext", "256")
    page.wait_for_timeout(1500)  # let the widget values reach the server before the click
    page.get_by_role("button", name="Train", exact=True).click()
    # Training, then evaluation: the result tabs appear when the run is done.
    tab = page.get_by_role("tab", name="Confusion matrix")
    tab.wait_for(timeout=180_000)
    page.get_by_text("Test accuracy").first.wait_for()
    tab.click()
    panel = page.locator(f"[id='{tab.get_attribute('aria-controls')}']")
    panel.locator("[data-testid='stVegaLiteChart'], .vega-embed").first.wait_for(timeout=60_000)
    page.get_by_text("Images in one cell").wait_for()
    # Clicking a heatmap cell (true circle, predicted square) opens that cell's images.
    cell = panel.locator("path[aria-label^='predicted: square; true: circle;']")
    cell.click(force=True)
    page.get_by_text(re.compile(r"test images? of circle (was )?predicted as square")).first.wait_for(timeout=30_000)
    if os.environ.get("CNNKIT_SCREENSHOT"):
        page.screenshot(path=os.environ["CNNKIT_SCREENSHOT"], full_page=True)
    assert page.get_by_text("Traceback").count() == 0
    assert page.get_by_text("The run failed").count() == 0
