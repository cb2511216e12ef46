"""In a real browser: Inside the network on the shipped demo checkpoints. Click a unit of the Shapes demo's
connected overview and get its
window, receptive field and arithmetic; draw a digit for the Digits demo and see a prediction."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def shapes_cached(isolated_dirs):
    # The server shares this session's data folder: generating Shapes here once keeps the browser waits short.
    from cnnkit.data import load_dataset

    load_dataset("shapes")


def model_box(page):
    return page.locator("[data-testid='stSidebar']").get_by_role("combobox", name=re.compile("Model"))


def open_page(page, app_server):
    page.goto(app_server + "/inside_network")
    page.get_by_role("heading", name="Inside the network", level=1).wait_for()


def hovered(page, x: float, y: float) -> dict:
    """The overview's tooltip (layer, channel, y, x, value) at a point; {} where no unit is drawn."""
    page.mouse.move(x, y)
    text = page.evaluate("() => { const t = document.getElementById('vg-tooltip-element');"
                         " return t && t.classList.contains('visible') ? t.innerText : ''; }")
    words = [w.strip() for w in text.split("\n") if w.strip()]
    return dict(zip(words[::2], words[1::2]))


def first_unit_of(page, chart, layer: str) -> tuple[float, float]:
    """Screen point of unit (0, 0) in the first map of `layer`: the overview is drawn on a canvas, so the
    units are found with the tooltip (top row first, then left to right)."""
    box = chart.bounding_box()
    left = box["x"] + 10
    top = next(y for y in range(int(box["y"]), int(box["y"] + box["height"])) if hovered(page, left, y + 0.5))
    y = top + 1.5  # the first row of units of every layer
    x = next(x for x in range(int(left), int(box["x"] + box["width"]), 6) if hovered(page, x, y).get("layer") == layer)
    while hovered(page, x - 1, y).get("layer") == layer:
        x -= 1  # back to the map's left edge
    assert hovered(page, x + 0.5, y) == {**hovered(page, x + 0.5, y), "layer": layer, "y": "0", "x": "0"}
    return x + 0.5, y


UNIT_LINE = re.compile(r"^Unit \(\d+, \d+, \d+\) of layers\.\d+ = ")


def test_one_click_on_the_overview_answers_with_window_receptive_field_and_arithmetic(page, app_server,
                                                                                      shapes_cached):
    open_page(page, app_server)
    # the default model when one has no runs of one's own
    expect(model_box(page)).to_have_value(re.compile("^Demo: Shapes demo"), timeout=30_000)
    page.locator("[data-testid='stRadio']").first.get_by_text("Test set", exact=True).click()
    page.get_by_text(re.compile(r"^#\d+ \(")).first.wait_for(timeout=60_000)
    page.locator("[data-testid='stRadio']").nth(1).locator("label").nth(2).click()  # the third test image
    line = page.get_by_text(UNIT_LINE)
    line.wait_for(timeout=60_000)
    assert ", 16, 16) of layers.0" in line.inner_text()  # opens on the middle of the first conv
    overview = page.locator("[data-testid='stVegaLiteChart']").first
    overview.scroll_into_view_if_needed()
    x, y = first_unit_of(page, overview, "layers.4")
    page.mouse.click(x, y)
    page.wait_for_function("() => Array.from(document.querySelectorAll('p')).some(e => "
                           "/^Unit \\(\\d+, 0, 0\\) of layers\\.4 = /.test(e.innerText))", timeout=30_000)
    after = page.get_by_text(UNIT_LINE).inner_text()
    # conv 3×3 pad 1 over the 16×16 pool: rows/columns −1..1, the −1s are padding
    assert "reads a 2×2 window of layers.3 (rows 0–1, columns 0–1, channels 0–15, with zero padding)" in after, after
    # receptive field: start −3, 8×8, clipped at the corner
    page.get_by_text(re.compile(r"^Unit \(\d+, 0, 0\) of layers\.4 sees rows 0–4, columns 0–4")).wait_for()
    page.get_by_text(re.compile(r"equals the network's value")).wait_for()
    assert page.get_by_text("Traceback").count() == 0


def test_draw_a_digit_on_the_digits_demo_gives_a_prediction(page, app_server):
    open_page(page, app_server)
    model_box(page).click()
    page.keyboard.type("Digits demo")
    page.get_by_role("option", name=re.compile("Demo: Digits demo")).click()
    expect(model_box(page)).to_have_value(re.compile("^Demo: Digits demo"), timeout=30_000)
    page.locator("[data-testid='stRadio']").first.get_by_text("Draw", exact=True).click()
    frame = page.frame_locator("iframe[title*='draw_canvas']")
    canvas = frame.locator("canvas#pad")
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    # A "1": one vertical stroke down the middle.
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 20)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 20 + step * (box["height"] - 40) / 10)
    page.mouse.up()
    page.get_by_text("What the model sees (8×8)").wait_for(timeout=30_000)
    # the forward pass ran on the drawing (the class probabilities sit beside this caption)
    page.get_by_text(re.compile(r"demo-digits-cnn: \d+ layers captured")).wait_for(timeout=30_000)
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
    frame.get_by_role("button", name="Clear").click()
    page.get_by_text("Choose an image to look inside the network.").wait_for(timeout=30_000)
    assert page.get_by_text("Traceback").count() == 0
