"""In a real browser, two students (two browser contexts) on one server: each sees only their own runs
in the Runs tab by default."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import pytest

from cnnkit.train import TrainConfig

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _saved_run(owner: str, name: str) -> None:
    """A finished run folder in the server's checkpoint folder, owned by `owner`."""
    folder = Path(os.environ["CNNKIT_CHECKPOINT_DIR"]) / f"e2e-{name}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(TrainConfig(epochs=1, name=name).to_dict()))
    (folder / "run.json").write_text(json.dumps({"status": "done", "dataset": "shapes", "model_name": "cnn3_bn",
                                                 "name": name, "created": time.time(), "owner": owner,
                                                 "test_accuracy": 0.5, "epochs_done": 1}))


def _run_options(browser, app_server: str, student: str) -> list[str]:
    """The runs a student can pick in the Runs tab (default view: their own)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{app_server}/training_runner?name={student}")
        page.get_by_role("heading", name="Training runner", level=1).wait_for()
        page.locator("[data-testid='stSidebar']").get_by_text(f"You are {student}").wait_for()
        page.get_by_role("tab", name="Runs").click()
        picker = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text("Run", exact=True)).first
        picker.wait_for()
        picker.click()
        page.get_by_role("option").first.wait_for()
        options = page.get_by_role("option").all_inner_texts()
        assert page.get_by_text("Traceback").count() == 0
        return options
    finally:
        context.close()


def test_two_students_each_see_only_their_own_runs(browser, app_server):
    tag = secrets.token_hex(2)
    anna, ben = f"Anna{tag}", f"Ben{tag}"
    _saved_run(anna, f"anna-run-{tag}")
    _saved_run(ben, f"ben-run-{tag}")
    anna_sees = " ".join(_run_options(browser, app_server, anna))
    ben_sees = " ".join(_run_options(browser, app_server, ben))
    assert f"anna-run-{tag}" in anna_sees and f"ben-run-{tag}" not in anna_sees
    assert f"ben-run-{tag}" in ben_sees and f"anna-run-{tag}" not in ben_sees
