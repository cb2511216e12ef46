"""In a real browser: the builder opens on cnn3 with its parameter count, table and diagram."""

from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_builder_shows_cnn3_in_the_browser(page, app_server):
    page.goto(app_server + "/architecture_builder")
    page.get_by_role("heading", name="Architecture builder", level=1).wait_for()
    page.get_by_text("620,362").first.wait_for(timeout=60_000)
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
    page.locator("[data-testid='stVegaLiteChart'], .vega-embed").first.wait_for(timeout=60_000)
    # Select layer 6 (the third conv) in the layer list: its editor appears.
    page.get_by_text("6 · Conv2d 3×3 → 128, pad 1").click()
    page.get_by_text("Layer 6: Conv2d").wait_for(timeout=30_000)
    if os.environ.get("CNNKIT_SCREENSHOT"):
        page.screenshot(path=os.environ["CNNKIT_SCREENSHOT"], full_page=True)
    assert page.get_by_text("Traceback").count() == 0
