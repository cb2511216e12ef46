"""Shared fixtures: isolated data/checkpoint folders, AppTest for pages, a live server for e2e."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.app import CHROMIUM, CHROMIUM_ARGS, make_app_test, streamlit_server
from tests.helpers.wheel_install import INSTALL, start_if_collected


def pytest_collection_finish(session: pytest.Session) -> None:
    # The real pip install of the wheel (about 90 s of a core) runs beside the suite from now on, not in one piece.
    start_if_collected(session.items)


def pytest_sessionfinish(session: pytest.Session) -> None:
    INSTALL.remove()


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every test session gets its own data and checkpoint folders; nothing touches ./data."""
    data = tmp_path_factory.mktemp("data")
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    os.environ["CNNKIT_DATA_DIR"] = str(data)
    os.environ["CNNKIT_CHECKPOINT_DIR"] = str(checkpoints)
    # One decoded-dataset cache for the session: tests that point CNNKIT_DATA_DIR at a folder of their own would
    # otherwise each build Shapes again (about 2 s each). Tests of where the cache goes unset or set it.
    os.environ["CNNKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    # The class config every test (and the e2e server) reads; empty = no limits. The e2e classroom test writes
    # a teacher password into it (read on every page run), and empties it again.
    config = data.parent / "cnnlab.toml"
    config.write_text("")
    os.environ["CNNLAB_CONFIG"] = str(config)
    # One fixed CPU thread count: runs are bit-for-bit reproducible only at the same count, and the tuner
    # (cnnkit.train.tuning) would choose by the machine's load. tests/test_threads.py unsets it to test tuning.
    os.environ.setdefault("CNNKIT_THREADS", "2")
    # In-process tests (AppTests, the CLI) hand trainings datasets and models they patched into this process,
    # which the app's default worker processes would not see: their jobs run in threads. The browser tests'
    # servers drop this and run the app's default (tests/helpers/app.py).
    os.environ.setdefault("CNNKIT_JOB_BACKEND", "thread")
    # The shipped CIFAR-10 subset would make CIFAR-10 "available" offline in every test; tests that want it
    # point CNNKIT_SHIPPED_DATASETS_DIR at it (tests/test_data_folders.py).
    shipped = data.parent / "shipped-datasets"
    shipped.mkdir(exist_ok=True)
    os.environ["CNNKIT_SHIPPED_DATASETS_DIR"] = str(shipped)
    # The app hides error details from students (.streamlit/config.toml); every AppTest shows the real error
    # (the e2e server gets --client.showErrorDetails full on its command line).
    os.environ["STREAMLIT_CLIENT_SHOW_ERROR_DETAILS"] = "full"
    return {"data": data, "checkpoints": checkpoints, "config": config}


@pytest.fixture
def app_test():
    return make_app_test


@pytest.fixture(scope="session")
def app_server(isolated_dirs) -> str:
    """Starts `streamlit run app.py` on a free loopback port; yields its base URL."""
    with streamlit_server(isolated_dirs["data"].parent / "streamlit.log") as url:
        yield url


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
