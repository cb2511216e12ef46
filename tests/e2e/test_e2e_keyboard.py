"""The main path from the keyboard alone: Tab to the dataset, pick Digits, Tab to the model, pick the MLP,
one epoch, Tab to Train, Enter, and the results appear. Every control is reached with Tab (no clicks)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def tab_to(page, target, limit: int = 250) -> None:
    """Press Tab until `target` (a locator) has the keyboard focus; fail if it is never reached."""
    handle = target.element_handle(timeout=60_000)
    for _ in range(limit):
        if page.evaluate("el => document.activeElement === el || el.contains(document.activeElement)", handle):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} is not reachable with Tab")


def test_pick_data_train_and_see_results_with_the_keyboard_only(page, app_server):
    page.goto(app_server + "/training_runner")
    page.get_by_role("heading", name="Training runner", level=1).wait_for(timeout=120_000)
    main = page.locator("[data-testid='stMain']")

    dataset = main.get_by_role("combobox", name=re.compile("^Dataset"))
    tab_to(page, dataset)
    page.keyboard.type("digits")
    page.keyboard.press("Enter")
    expect(dataset).to_have_value("digits", timeout=30_000)

    preset = main.get_by_role("combobox", name=re.compile("^Preset"))
    tab_to(page, preset)
    page.keyboard.type("mlp")
    page.keyboard.press("Enter")
    expect(preset).to_have_value(re.compile("^mlp"), timeout=30_000)

    epochs = main.get_by_role("slider", name=re.compile("Epochs"))
    tab_to(page, epochs)
    page.keyboard.press("Home")  # the slider's minimum: one epoch
    expect(epochs).to_have_value("1", timeout=30_000)

    train = main.get_by_role("button", name="Train", exact=True)
    tab_to(page, train)
    page.keyboard.press("Enter")
    page.get_by_text(re.compile(r": finished")).wait_for(timeout=180_000)
    expect(main.get_by_text("Test accuracy").first).to_be_visible(timeout=60_000)
