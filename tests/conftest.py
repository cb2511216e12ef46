"""Shared fixtures: isolated data/checkpoint folders, AppTest for pages, a live server for e2e."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every test session gets its own data and checkpoint folders; nothing touches ./data."""
    data = tmp_path_factory.mktemp("data")
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    os.environ["CNNKIT_DATA_DIR"] = str(data)
    os.environ["CNNKIT_CHECKPOINT_DIR"] = str(checkpoints)
    return {"data": data, "checkpoints": checkpoints}


def make_app_test(page: str | None = None, timeout: float = 60):
    """An AppTest of app.py, optionally switched to `pages/<page>.py`, already run.

    Streamlit latches "this app has a pages/ folder" once per process and caches
    resources across AppTests; both are reset so each test starts clean.
    """
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    PagesManager.uses_pages_directory = None
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py")
        at.run()
    return at


@pytest.fixture
def app_test():
    return make_app_test


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(isolated_dirs) -> str:
    """Starts `streamlit run app.py` on a free loopback port; yields its base URL."""
    with streamlit_server(isolated_dirs["data"].parent / "streamlit.log") as url:
        yield url


@contextlib.contextmanager
def streamlit_server(log_path: Path):
    """A fresh `streamlit run app.py` process on a free port (its base URL), stopped on exit."""
    port = _free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    try:
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"streamlit did not start; see {log_path}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (no downloaded browser)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()
