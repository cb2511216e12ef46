"""The app under test: the repo root, an AppTest factory, a live `streamlit run` server, the browser's flags."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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
    _measure_each_network_once()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py")
        at.run()
    return at


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(log_path: Path):
    """A fresh `streamlit run server.py` process (app.py with the teacher-cookie route, as a class server runs)
    on a free port (its base URL), stopped on exit."""
    port = _free_port()
    # No usage-statistics override here: the app's own .streamlit/config.toml must keep them off
    # (tests/e2e/test_e2e_privacy.py checks that no page talks to any other host). Nor the job backend the
    # in-process tests choose (tests/conftest.py): the server trains as a class's does, in its worker process.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_") and k != "CNNKIT_JOB_BACKEND"}
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "server.py"),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
         # the app hides tracebacks from students; tests show them so "no Traceback" checks can fail
         "--client.showErrorDetails", "full"],
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


def teacher_token() -> str:
    """A live teacher-session token (cnnkit.classroom.teacher): `at.session_state["cnnlab_teacher"] = teacher_token()`
    puts an AppTest session in teacher mode (a plain True no longer does: the token is checked)."""
    from cnnkit.classroom.config import hash_password
    from cnnkit.classroom.teacher import GUARD

    return GUARD.sign_in("test-teacher", hash_password("test-teacher"))


_STEP_COSTS: dict = {}


def _measure_each_network_once() -> None:
    """Time estimates measured once per test session. Each AppTest clears Streamlit's caches, and a Lessons page
    view times a few real training steps (about 1.5 s) of every arm that has no measured pace: three quarters of
    the Lessons page tests' time went there. The measurement stays real; only its repeats are saved."""
    import ui.estimates
    from cnnkit.train.estimate import measure_step_cost

    if getattr(ui.estimates.measure_step_cost, "measured_once", False):
        return

    def once(config, data_shape, num_classes, device=None):
        key = (ui.estimates._cost_key(config), tuple(data_shape), int(num_classes), str(device))
        if key not in _STEP_COSTS:
            _STEP_COSTS[key] = measure_step_cost(config, data_shape, num_classes, device)
        return _STEP_COSTS[key]

    once.measured_once = True
    ui.estimates.measure_step_cost = once


def wait_for_the_run_to_end(page, timeout_ms: float = 120_000) -> None:
    """In a browser test: until Streamlit's running indicator is gone (the page's script run is over)."""
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout_ms)
