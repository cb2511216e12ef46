"""In a real browser: open the Data explorer, pick Shapes, see the sample grid image decoded."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_shapes_sample_grid_in_the_browser(page, app_server):
    page.goto(app_server + "/data_explorer")
    page.get_by_role("heading", name="Data explorer", level=1).wait_for()
    # Shapes is the default dataset; pick it explicitly anyway through the selectbox. The box is found by its
    # label and its value awaited before the click: the first selectbox on a page still rendering on a busy CI
    # machine can be another one, and a click on it opens no Dataset options.
    dataset_box = page.get_by_role("combobox", name=re.compile("Dataset"))
    expect(dataset_box).to_have_value(re.compile("^shapes"), timeout=60_000)
    dataset_box.click()
    page.keyboard.type("shapes")
    page.get_by_role("option", name=re.compile(r"^shapes \(builtin")).click()
    expect(dataset_box).to_have_value(re.compile("^shapes"), timeout=60_000)
    page.get_by_text("Samples per class", exact=False).first.wait_for(timeout=120_000)
    # The grid by its alt text (its caption): the page's other images (resolution strips) can come first while it
    # reruns, and a grid of the page's previous run can still be there; wait until the grid has decoded at its size.
    grid = page.locator("[data-testid='stImage'] img[alt^='Rows, top to bottom']").first
    grid.wait_for(timeout=120_000)
    # 10 classes x 8 samples of 32 px, upscaled 2x with 1 px padding: wider than tall, hundreds of pixels.
    page.wait_for_function(
        "() => { const i = document.querySelector(\"[data-testid='stImage'] img[alt^='Rows, top to bottom']\");"
        " return i && i.complete && i.naturalWidth > 400 && i.naturalHeight > 400; }", timeout=60_000)
    assert page.locator("[data-testid='stVegaLiteChart'], .vega-embed").count() >= 1
    assert page.get_by_text("Traceback").count() == 0
