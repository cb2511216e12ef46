"""In a real browser: Inside the network on the shipped demo checkpoints. Click a unit of the Shapes demo's
activation map and see its receptive field move; draw a digit for the Digits demo and see a prediction."""

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


def test_click_a_unit_on_the_shapes_demo_moves_its_receptive_field(page, app_server, shapes_cached):
    open_page(page, app_server)
    # the default model when one has no runs of one's own
    expect(model_box(page)).to_have_value(re.compile("^Demo: Shapes demo"), timeout=30_000)
    page.locator("[data-testid='stRadio']").first.get_by_text("Test set", exact=True).click()
    page.get_by_text(re.compile(r"^#\d+ \(")).first.wait_for(timeout=60_000)
    page.locator("[data-testid='stRadio']").nth(1).locator("label").nth(2).click()  # the third test image
    page.get_by_role("tab", name="Receptive field").click()
    caption = page.get_by_text(re.compile(r"^Unit \(\d+, \d+, \d+\) of layers\.0 sees rows"))
    caption.wait_for(timeout=60_000)
    before = caption.inner_text()
    assert "Unit (" in before and ", 15, 15)" in before  # the middle of a 32×32 map
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    chart.scroll_into_view_if_needed()
    chart.locator(".mark-rect path").first.wait_for()
    # Vega draws one SVG path per unit: click the top-right one (y = 0, x = 31), legend excluded.
    x, y = page.evaluate("""() => {
      const units = Array.from(document.querySelectorAll("[data-testid='stVegaLiteChart'] .mark-rect path"))
        .filter(m => !m.closest('.role-legend')).map(m => m.getBoundingClientRect()).filter(r => r.width > 0);
      const corner = units.reduce((a, b) => (b.x - b.y > a.x - a.y ? b : a));
      return [corner.x + corner.width / 2, corner.y + corner.height / 2]; }""")
    page.mouse.click(x, y)
    page.wait_for_function(
        "before => Array.from(document.querySelectorAll('p, div')).some(e => /^Unit \\(\\d+, \\d+, \\d+\\) of layers/"
        ".test(e.innerText) && !e.innerText.includes(before))", arg=before.split(" of ")[0], timeout=30_000)
    after = page.get_by_text(re.compile(r"^Unit \(\d+, \d+, \d+\) of layers\.0 sees rows")).inner_text()
    y, x = (int(v) for v in re.match(r"Unit \(\d+, (\d+), (\d+)\)", after).groups())
    assert (y, x) == (0, 31), after  # the clicked corner, not the middle
    assert "sees rows 0–1, columns 30–31" in after  # a 3×3 window at the corner, clipped to the image
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
