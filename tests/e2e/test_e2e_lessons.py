"""In a real browser: open a teacher's quick lesson by its link, record a prediction, run it to its table."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LESSON_ID = "e2e-quick-depth"
# A teacher's lesson file on the built-in Shapes set, a subset of 128 images, one epoch: seconds per arm.
LESSON = f'''
id = "{LESSON_ID}"
title = "Two or three conv blocks (browser test)"
topic = "architecture and depth"
question = "Does a third conv block help on shapes?"
conclusion = "Compare the two rows."

[defaults]
dataset = "shapes"
epochs = 1
optimizer = "adam"
lr = 0.002
batch_size = 64
scheduler = "constant"

[quick]
train_subset = 128
epochs = 1

[[arms]]
id = "two"
label = "cnn2"
config = {{ model = "cnn2" }}
[arms.reported]
test_accuracy = 80.0

[[arms]]
id = "three"
label = "cnn3"
config = {{ model = "cnn3" }}
[arms.reported]
test_accuracy = 85.0
'''


def test_run_a_quick_lesson_to_its_table_and_record_a_prediction(page, app_server, isolated_dirs):
    lesson_file = isolated_dirs["data"] / "lessons" / f"{LESSON_ID}.toml"
    lesson_file.parent.mkdir(exist_ok=True)
    lesson_file.write_text(LESSON)
    try:
        page.goto(f"{app_server}/lessons?lesson={LESSON_ID}")
        page.get_by_role("heading", name="Two or three conv blocks (browser test)").wait_for()
        # Predict first: the guess is recorded before any result is shown.
        page.get_by_text("Predict first").wait_for()
        page.get_by_role("radiogroup", name="Which arm wins?").get_by_text("cnn3").click()
        margin = page.get_by_role("spinbutton", name="By how many points?")
        margin.fill("4")
        margin.press("Enter")
        page.wait_for_timeout(1000)  # let the values reach the server before the click
        page.get_by_role("button", name="Record my guess and show the results").click()
        expect(page.get_by_text("Predict first")).to_have_count(0, timeout=30_000)
        # Run in quick mode (the default), one seed per arm on this CPU: the group is followed live.
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_role("heading", name="Quick-mode result").wait_for(timeout=120_000)
        page.get_by_text("Your guess: cnn3 by 4.0 points").wait_for()
        page.get_by_role("heading", name="Conclusion").wait_for()
        # The table's figures (a canvas grid) are read through its accessible table.
        grid = page.locator("[data-testid='stDataFrame']").filter(has_text="difference")   # the absolute figures
        expect(grid.first).to_be_visible()
        expect(page.locator("[data-testid='stDataFrame']").filter(has_text="verdict").first).to_be_visible()
        if os.environ.get("CNNKIT_SCREENSHOT"):
            page.screenshot(path=os.environ["CNNKIT_SCREENSHOT"], full_page=True)
        assert page.get_by_text("Traceback").count() == 0
        assert page.get_by_text("could not be collected").count() == 0
        # Back to the index: the lesson is listed under its topic with its new status.
        page.get_by_role("link", name="All lessons").click()
        page.get_by_role("heading", name="Architecture and depth").wait_for(timeout=30_000)
        # the index table is a canvas grid: its cells are read through its accessible (visually hidden) table
        expect(page.get_by_text("your results").first).to_be_attached()
    finally:
        lesson_file.unlink()
