"""Every page, opened cold in a real browser: something to look at without a click (an image, a chart or a
table, not just a form), and an axe-core scan with no serious or critical violation."""

from __future__ import annotations

import re

import pytest

from tests.helpers.app import wait_for_the_run_to_end

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# (URL path, the page's h1): every page of app.py's navigation
PAGES = [
    ("", "CNN Lab"),
    ("data_explorer", "Data explorer"),
    ("architecture_builder", "Architecture builder"),
    ("training_runner", "Training runner"),
    ("class_board", "Class board"),
    ("resolution_lab", "Resolution lab"),
    ("transfer_learning", "Transfer learning"),
    ("gradcam_viewer", "Grad-CAM viewer"),
    ("inside_network", "Inside the network"),
    ("lessons", "Lessons"),
    ("lessons?lesson=002-q4-batchnorm", "Lessons"),  # one lesson (Batch norm), opened on its shipped results
]
# What counts as "something to look at" in the page's main area.
VISUALS = ("[data-testid='stMain'] :is([data-testid='stImage'] img, [data-testid='stVegaLiteChart'], "
           "[data-testid='stDataFrame'], [data-testid='stTable'], [data-testid='stArrowVegaLiteChart'])")
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="module")
def shapes_cached(isolated_dirs):
    # The server shares this session's data folder: generating Shapes once keeps the page waits short.
    from cnnkit.data import load_dataset

    load_dataset("shapes")


def settle(page) -> None:
    """Wait until the script run is over (Streamlit's running indicator gone) and the page stops changing."""
    page.wait_for_timeout(500)
    wait_for_the_run_to_end(page)
    page.wait_for_timeout(500)


def blocking_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") in BLOCKING:
            targets = [", ".join(map(str, node.get("target", []))) for node in violation.get("nodes", [])][:3]
            found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {targets}")
    return found


@pytest.mark.parametrize("path,title", PAGES, ids=[(p or "home").replace("?", "-") for p, _ in PAGES])
def test_page_opens_on_something_to_look_at_and_passes_axe(page, app_server, shapes_cached, path, title):
    page.goto(f"{app_server}/{path}")
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=120_000)
    settle(page)
    page.locator(VISUALS).first.wait_for(state="attached", timeout=120_000)
    assert page.locator(VISUALS).count() >= 1, f"{title}: nothing to look at without a click"
    assert page.get_by_text(re.compile("Traceback")).count() == 0
    assert page.get_by_role("button", name="Deploy").count() == 0  # toolbarMode = "viewer" (.streamlit/config.toml)
    violations = blocking_violations(page)
    assert not violations, f"{title}: " + "\n".join(violations)
