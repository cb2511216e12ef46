"""In a real browser: run a small resolution lab on Shapes and read its TOTV/TVTV table and charts."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from cnnkit.labs.resolution import default_lab_training

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_run_a_small_lab_and_see_both_methods(page, app_server):
    page.goto(app_server)
    page.get_by_role("link", name="Resolution lab").click()
    page.get_by_role("heading", name="Resolution lab", level=1).wait_for()
    page.get_by_text("No saved labs yet").wait_for()
    # The page's defaults train on every Shapes image (about 50 s for the three models here); one epoch on 512
    # images is enough to see both methods.
    epochs = page.locator("input[type=range][aria-label='Epochs']")
    epochs.focus()
    epochs.press("Home")
    expect(epochs).to_have_value("1")
    subset = page.locator("input[type=range][aria-label='Training images']")
    subset.focus()
    for _ in range(3):  # all, 128, 256, 512
        subset.press("ArrowRight")
    expect(subset).to_have_attribute("aria-valuetext", "512")
    page.get_by_text("Trains 3 model(s) of 1 epoch(s): TOTV at 32 px, TVTV at 16 px, 8 px.").wait_for()
    page.get_by_role("button", name="Run the lab").click()
    # The finished lab opens in the results section: the metric table and the three bar charts.
    page.get_by_role("heading", name="Accuracy, precision and F1").wait_for(timeout=180_000)
    page.get_by_role("heading", name="Per class").wait_for()
    table = page.locator("[data-testid='stDataFrame']").first
    table.wait_for()
    charts = page.locator("[data-testid='stVegaLiteChart'], .vega-embed")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 4  # accuracy, precision, F1 and the per-class heatmap
    page.get_by_role("heading", name="The images at each resolution").wait_for()
    # the results' label of the 8 px strip (exact: the preview's caption "shapes test images at 8×8 px" also says it)
    page.get_by_text("8×8 px", exact=True).wait_for()
    page.get_by_text(f"{default_lab_training().model_label()} on shapes (32 px native)").first.wait_for()  # caption
    assert page.get_by_text("Traceback").count() == 0
    assert page.get_by_text("The lab failed").count() == 0
