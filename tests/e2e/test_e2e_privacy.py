"""In a real browser: nothing leaves the classroom server. Every request of every page (a cold first visit,
each page, a short training run while it trains and after, Inside the network, Grad-CAM with an upload,
the Class board) goes to the app's own host; data: and blob: URLs are the page's own bytes."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.helpers.app import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOCAL_SCHEMES = ("data", "blob", "about")


def outside_requests(urls: list[str], own_host: str) -> list[str]:
    """The URLs that go to any host but the app's own (scheme-less local URLs ignored)."""
    return sorted({url for url in urls
                   if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).netloc != own_host})


def test_the_checker_flags_other_hosts():
    # The rule itself: a CDN font or the usage-statistics service is outside; the app's own host is not.
    urls = ["http://127.0.0.1:9/static/js/index.js", "ws://127.0.0.1:9/_stcore/stream", "data:image/png;base64,AA",
            "blob:http://127.0.0.1:9/1234", "https://fonts.gstatic.com/s/x.woff2",
            "https://data.streamlit.io/metrics.json", "http://127.0.0.1:10/other-port"]
    assert outside_requests(urls, "127.0.0.1:9") == ["http://127.0.0.1:10/other-port",
                                                      "https://data.streamlit.io/metrics.json",
                                                      "https://fonts.gstatic.com/s/x.woff2"]


def _open(page, app_server: str, link: str, heading: str) -> None:
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name=link).click()
    page.get_by_role("heading", name=heading, level=1).wait_for()
    page.wait_for_timeout(1500)  # charts, images and fonts of the page load


def _choose_upload(page) -> None:
    """A viewer's image source: Upload (the viewers open on a test image; the upload box comes with Upload)."""
    page.locator("[data-testid='stRadio']").filter(has_text="Image from").get_by_text("Upload", exact=True).click()
    page.locator("[data-testid='stFileUploader']").wait_for(timeout=60_000)


def test_the_server_neither_announces_usage_statistics_nor_asks_for_an_email(app_server, isolated_dirs):
    # tests/conftest.py's server runs with the app's own .streamlit/config.toml and no STREAMLIT_* overrides.
    log = (isolated_dirs["data"].parent / "streamlit.log").read_text()
    assert "Collecting usage statistics" not in log and "Email:" not in log


def test_every_page_talks_only_to_the_app_server(browser, app_server):
    own_host = urlsplit(app_server).netloc
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # cold: no cache, no cookies
    urls: list[str] = []
    context.on("request", lambda request: urls.append(request.url))
    page = context.new_page()
    page.on("websocket", lambda socket: urls.append(socket.url))
    page.set_default_timeout(60_000)
    try:
        page.goto(app_server + "/?name=Privacy")
        page.get_by_role("heading", level=1).first.wait_for()
        page.wait_for_timeout(2000)
        assert any(urlsplit(u).netloc == own_host for u in urls)  # the recorder sees the app's own requests
        for link in ("Data explorer", "Architecture builder", "Resolution lab", "Transfer learning"):
            _open(page, app_server, link, link)

        # A short training run: one epoch on 128 Shapes images; requests while it trains and after.
        _open(page, app_server, "Training runner", "Training runner")
        epochs = page.locator("input[type=range][aria-label='Epochs']")
        epochs.focus()
        epochs.press("Home")
        expect(epochs).to_have_value("1")
        subset = page.locator("input[type=range][aria-label='Training images']")
        subset.focus()
        subset.press("ArrowRight")
        page.wait_for_timeout(1500)  # the widget values reach the server before the click
        page.get_by_role("button", name="Train", exact=True).click()
        page.wait_for_timeout(3000)  # the live panel polls while it trains
        tab = page.get_by_role("tab", name="Confusion matrix")
        tab.wait_for(timeout=180_000)
        tab.click()
        panel = page.locator(f"[id='{tab.get_attribute('aria-controls')}']")
        panel.locator("[data-testid='stVegaLiteChart'], .vega-embed").first.wait_for(timeout=60_000)

        _open(page, app_server, "Inside the network", "Inside the network")
        _choose_upload(page)  # the viewer opens on the demo and a test image
        page.locator("input[type=file]").set_input_files(str(ROOT / "assets" / "examples" / "flower.jpg"))
        page.locator("[data-testid='stImage'] img").first.wait_for(timeout=120_000)

        _open(page, app_server, "Grad-CAM viewer", "Grad-CAM viewer")
        _choose_upload(page)
        page.locator("input[type=file]").set_input_files(str(ROOT / "assets" / "examples" / "flower.jpg"))
        page.get_by_text("Top-5 predictions").wait_for(timeout=180_000)
        page.get_by_text(re.compile(r"Grad-CAM for ")).first.wait_for(timeout=180_000)

        _open(page, app_server, "Class board", "Class board")
        page.locator("[data-testid='stDataFrame']").first.wait_for()
        page.wait_for_timeout(1500)
        assert page.get_by_text("Traceback").count() == 0
    finally:
        context.close()
    assert len(urls) > 20
    assert outside_requests(urls, own_host) == []
