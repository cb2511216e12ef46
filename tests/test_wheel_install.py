"""What a teacher does, checked: build the wheel, install it into a fresh virtual environment outside the
checkout, and use it from another directory: `cnn-lab --version`, a one-epoch `cnn-lab train` on the shipped
CIFAR-10 subset, `cnn-lab lessons --json` with the shipped results, and `cnn-lab` serving every page in Chromium.

The install is the real one: `pip install <wheel>` resolves and installs every dependency from the wheel's
metadata (torch with its CUDA libraries included: about 6 GB and a minute and a half of a core here, the cost of
`pip install cnn-lab` on Linux). It runs in the background from the end of collection (tests/helpers/
wheel_install.py). pip is used as configured here (its index and find-links); only `--no-compile` is added (no
.pyc files written ahead: Python writes them on first import anyway). No PYTHONPATH, no CNNKIT_* or CNNLAB_*
variables, and the working directory is an empty folder: nothing can come from the checkout.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import cnnkit
from tests.helpers.app import ROOT, _free_port
from tests.helpers.wheel_install import INSTALL, Installed

pytestmark = pytest.mark.slow

# The pages app.py lists (URL path, title shown as the page's heading).
PAGES = [("", "CNN Lab"), ("data_explorer", "Data explorer"), ("architecture_builder", "Architecture builder"),
         ("training_runner", "Training runner"), ("class_board", "Class board"), ("resolution_lab", "Resolution lab"),
         ("transfer_learning", "Transfer learning"), ("gradcam_viewer", "Grad-CAM viewer"),
         ("inside_network", "Inside the network"), ("lessons", "Lessons")]
@pytest.fixture(scope="module")
def installed() -> Installed:
    """The install started in the background after collection (tests/helpers/wheel_install.py, conftest.py)."""
    yield INSTALL.wait()
    INSTALL.remove()  # about 6 GB: not left behind


# Where a file of the repository goes in the wheel (setup.py).
WHEEL_PLACES = {"cnnkit/": "cnnkit/", "cnnlab/": "cnnlab/", "assets/": "cnnkit/assets/", "ui/": "cnnlab/app/ui/",
                "pages/": "cnnlab/app/pages/", "app.py": "cnnlab/app/app.py",
                "server.py": "cnnlab/app/server.py",
                ".streamlit/config.toml": "cnnlab/app/.streamlit/config.toml"}


def shipped_files() -> list[str]:
    """The repository's files that the wheel must hold (git's list; every file when git cannot say)."""
    # -z: names as they are, NUL-separated (a class folder may hold a space: "Ankle boot")
    listed = subprocess.run(["git", "ls-files", "-z", *WHEEL_PLACES], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip("\0"):
        return [name for name in listed.stdout.split("\0") if name]
    return [str(p.relative_to(ROOT)) for place in WHEEL_PLACES for p in [ROOT / place, *(ROOT / place).rglob("*")]
            if p.is_file() and "__pycache__" not in p.parts]


def test_the_wheel_holds_the_app_its_settings_and_every_shipped_file(installed):
    import zipfile

    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = set()
    for path in shipped_files():
        place = next(p for p in WHEEL_PLACES if path == p or (p.endswith("/") and path.startswith(p)))
        expected.add(WHEEL_PLACES[place] + path[len(place):] if place.endswith("/") else WHEEL_PLACES[place])
    assert sorted(expected - names) == []
    assert not any(n.startswith(("tests/", "benchmarks/", "docs/")) or n.endswith("setup.py") for n in names)


def test_the_installed_package_runs_from_the_venv_not_the_checkout(installed):
    where = subprocess.run([str(installed.venv / "bin" / "python"), "-c",
                            "import cnnkit, cnnlab.launcher as l; print(cnnkit.__file__); print(l.app_dir())"],
                           cwd=installed.elsewhere, env=installed.env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    package, app = where.stdout.split()
    assert Path(package).is_relative_to(installed.venv) and Path(app).is_relative_to(installed.venv)
    for shipped in ("app.py", ".streamlit/config.toml", "pages/lessons.py", "ui/sidebar.py"):
        assert (Path(app) / shipped).is_file(), shipped
    version = installed.run("--version", timeout=120)
    assert version.returncode == 0 and version.stdout.strip() == f"cnn-lab {cnnkit.__version__}"
    module = subprocess.run([str(installed.venv / "bin" / "python"), "-m", "cnnkit", "presets"],
                            cwd=installed.elsewhere, env=installed.env, capture_output=True, text=True, timeout=300)
    assert module.returncode == 0 and "cnn3" in module.stdout  # python -m cnnkit keeps working


def test_one_epoch_on_the_shipped_cifar10_subset_goes_to_the_user_data_folder(installed):
    done = installed.run("train", "--dataset", "cifar10", "--preset", "cnn2", "--epochs", "1",
                         "--train-subset", "300", "--test-subset", "100", "--batch-size", "32", "--device", "cpu",
                         "--seed", "1", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["epochs"] == 1 and len(result["per_class"]) == 10 and 0 <= result["test_acc"] <= 1
    assert Path(result["run_dir"]).is_relative_to(installed.home / "checkpoints")
    assert list(installed.elsewhere.iterdir()) == []  # nothing written where the command was typed


def test_lessons_list_the_shipped_results(installed):
    done = installed.run("lessons", "--json", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lessons = json.loads(done.stdout.strip().splitlines()[-1])["lessons"]
    assert len(lessons) >= 10 and {row["status"] for row in lessons} == {"shipped results"}


@pytest.mark.e2e
def test_cnn_lab_serves_every_page_offline(installed, browser, tmp_path):
    port = _free_port()
    env = {**installed.env, "STREAMLIT_SERVER_ADDRESS": "127.0.0.1"}  # listen on loopback only, in a test
    log = open(tmp_path / "cnn-lab.log", "w")
    server = subprocess.Popen([str(installed.venv / "bin" / "cnn-lab"), "--port", str(port), "--address", "127.0.0.1"],
                              cwd=installed.elsewhere, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                assert server.poll() is None and time.time() < deadline, (tmp_path / "cnn-lab.log").read_text()
                time.sleep(1)
        printed = (tmp_path / "cnn-lab.log").read_text()
        assert f"Share this address with the class: {url}" in printed
        assert f"Data: {installed.home / 'data'}" in printed

        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(120_000)
        try:
            for path, title in PAGES:
                page.goto(f"{url}/{path}")
                page.get_by_role("heading", name=title, level=1).wait_for()
                page.locator("[data-testid='stSidebar']").get_by_text("Device:").wait_for()
                page.wait_for_timeout(1500)  # the rest of the page's script
                assert page.locator("[data-testid='stException']").count() == 0, f"/{path}: {page.inner_text('body')}"
            page.goto(f"{url}/lessons?lesson=002-q4-batchnorm")  # a lesson with shipped results
            page.get_by_role("button", name="Skip: show the results").click()  # predict first, or skip
            page.get_by_text("shipped with the install").first.wait_for()
            sidebar = page.locator("[data-testid='stSidebar']")
            sidebar.get_by_text("About CNN Lab").click()
            sidebar.get_by_text("run from the cnn-lab package").wait_for()
            assert str(installed.home / "checkpoints") in sidebar.inner_text()
        finally:
            context.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
