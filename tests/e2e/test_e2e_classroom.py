"""In a real browser, two students (two browser contexts) on one server: each sees only their own runs
in the Runs tab by default."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from cnnkit.train import TrainConfig
from tests.helpers.app import wait_for_the_run_to_end

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
        from cnnkit.classroom import use_name

        _, key = use_name(student, teacher=True)  # their saved runs' name: the teacher's join link claims it
        page.goto(f"{app_server}/training_runner?name={student}&key={key}")
        page.get_by_role("heading", name="Training runner", level=1).wait_for()
        page.locator("[data-testid='stSidebar']").get_by_text(f"You are {student}").wait_for()
        page.get_by_role("tab", name="Runs").click()
        picker = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text("Run", exact=True)).first
        picker.wait_for()
        # The tab's click reruns the page (its tabs are stateful); a dropdown opened during that rerun is closed by
        # it. So: the run over (Streamlit's running indicator gone), then open it, again if a rerun closed it.
        for attempt in range(5):
            wait_for_the_run_to_end(page, 60_000)
            picker.click()
            try:
                page.get_by_role("option").first.wait_for(timeout=5_000)
                break
            except PlaywrightTimeout:
                if attempt == 4:
                    raise
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


# --- issue 22: a name cannot be borrowed; the teacher stops one student's run and keeps teacher mode ------
def _context(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(90_000)
    return context, page


def _sidebar(page):
    return page.locator("[data-testid='stSidebar']")


def _wait_for_cookie(context, name: str, timeout_s: float = 30.0) -> str:
    """The value of cookie `name` once the browser holds it; fails after `timeout_s`."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        values = [c["value"] for c in context.cookies() if c["name"] == name]
        if values and values[0]:
            return values[0]
        time.sleep(0.1)
    pytest.fail(f"the browser never stored the {name} cookie")


def test_a_student_cannot_act_as_another_and_the_teacher_stops_one_run(browser, app_server, isolated_dirs):
    tag = secrets.token_hex(2)
    anna = f"Anna{tag}"
    long_run = f"long-{tag}"
    folder = Path(os.environ["CNNKIT_CHECKPOINT_DIR"]) / long_run
    folder.mkdir(parents=True)  # its settings (30 epochs) are what Anna trains: long enough to be stopped
    (folder / "config.json").write_text(json.dumps(TrainConfig(epochs=30, train_subset=2000, name=long_run).to_dict()))
    (folder / "run.json").write_text(json.dumps({"status": "done", "dataset": "shapes", "model_name": "cnn3_fast",
                                                 "name": long_run, "created": time.time(), "owner": anna,
                                                 "epochs_done": 30}))
    config = isolated_dirs["config"]
    config.write_text('[class]\nteacher_password = "e2e-owl"\n')
    contexts = []
    try:
        # Anna's name owns a run nobody claimed: the teacher's join link claims it for her (issue 29); she
        # starts a run from the link's settings.
        from cnnkit.classroom import use_name

        _, anna_key = use_name(anna, teacher=True)
        context, anna_page = _context(browser)
        contexts.append(context)
        anna_page.goto(f"{app_server}/training_runner?name={anna}&key={anna_key}&run={long_run}")
        _sidebar(anna_page).get_by_text(f"You are {anna}").wait_for()
        assert "key=" in anna_page.url
        anna_page.get_by_role("button", name="Train", exact=True).click()
        anna_page.get_by_text("Epoch 1/30").first.wait_for(timeout=180_000)

        # Ben, in another browser, opens Anna's name without her key, then types it: refused both times.
        context, ben_page = _context(browser)
        contexts.append(context)
        ben_page.goto(f"{app_server}/training_runner?name={anna}")
        _sidebar(ben_page).get_by_text("this name is taken: use your own link, or ask the teacher").wait_for()
        assert _sidebar(ben_page).get_by_text(f"You are {anna}").count() == 0
        name_box = _sidebar(ben_page).locator("input[aria-label='Your name']")
        name_box.fill(anna)
        name_box.press("Enter")
        _sidebar(ben_page).get_by_text("this name is taken").wait_for()
        assert _sidebar(ben_page).get_by_text(f"You are {anna}").count() == 0

        # Anna reloads: her running run is found by owner; Stop is on the Runs tab.
        anna_page.reload()
        _sidebar(anna_page).get_by_text(f"You are {anna}").wait_for()
        anna_page.get_by_role("tab", name="Runs").click()
        anna_page.get_by_role("button", name="Stop this run").wait_for()

        # The teacher unlocks teacher mode, keeps it over a reload, and stops Anna's run alone.
        context, teacher = _context(browser)
        contexts.append(context)
        teacher.goto(f"{app_server}/class_board")
        _sidebar(teacher).get_by_text("Teacher", exact=True).click()
        password = _sidebar(teacher).locator("input[aria-label='Teacher password']")
        password.fill("e2e-owl")
        password.press("Enter")
        _sidebar(teacher).get_by_text("Teacher mode", exact=True).wait_for()
        # The page's script stores the teacher cookie just after "Teacher mode" shows (st.html loads after the
        # text): reload once the browser holds it, as a teacher's reload would; it must come within seconds.
        assert _wait_for_cookie(context, "cnnlab_teacher") != "e2e-owl"  # a session token, not the password
        # set by the server (server.py's route), HttpOnly: no page script can read it (issue 29)
        assert [c["httpOnly"] for c in context.cookies() if c["name"] == "cnnlab_teacher"] == [True]
        _sidebar(teacher).get_by_text("Teacher mode", exact=True).wait_for()
        assert "cnnlab_teacher" not in teacher.evaluate("document.cookie")
        teacher.reload()
        _sidebar(teacher).get_by_text("Teacher mode", exact=True).wait_for()
        assert "e2e-owl" not in teacher.url and "teacher" not in teacher.url.split("?")[-1]
        teacher.get_by_text("Teacher: join links, names, running jobs").click()
        row = teacher.locator("[data-testid='stHorizontalBlock']").filter(has_text=f"{anna} ·")
        anna_page.get_by_role("tab", name="Train").click()
        stopped = anna_page.get_by_text("resume it from the Runs tab")
        for attempt in range(3):  # a click that lands while the teacher's page reruns can be lost: once more
            wait_for_the_run_to_end(teacher)
            if attempt and stopped.count():
                break
            row.get_by_role("button", name="Stop").click()
            try:
                stopped.wait_for(timeout=40_000)  # stopped, work kept
                break
            except PlaywrightTimeout:
                if attempt == 2 or not row.count():
                    raise
        anna_page.get_by_text("Stopped by the teacher. What was trained is saved").wait_for()  # who stopped it
        assert teacher.get_by_text("Traceback").count() == 0 and ben_page.get_by_text("Traceback").count() == 0
    finally:
        config.write_text("")
        for context in contexts:
            context.close()
