"""The pip package and the `cnn-lab` command, without building anything (tests/test_wheel_install.py builds and
installs the real wheel): the dependency ranges cover the lock, the command serves with `make run`'s settings
and passes topics to the CLI, and the folders follow the checkout / installed rules."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import cnnkit
from cnnkit import paths
from cnnkit.classroom.config import config_path
from cnnkit.install import locations
from cnnlab import launcher

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def lock(name: str) -> dict[str, str]:
    """A requirements file's exact pins (name -> version), without the files it includes."""
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            requirement = Requirement(line)
            pins[requirement.name.lower()] = str(requirement.specifier).removeprefix("==")
    return pins


@pytest.mark.parametrize("declared, lock_file", [
    (PYPROJECT["project"]["dependencies"], "requirements.txt"),
    (PYPROJECT["project"]["optional-dependencies"]["ray"], "requirements-ray.txt"),
    (PYPROJECT["project"]["optional-dependencies"]["test"], "requirements-test.txt"),
])
def test_the_packages_ranges_name_every_locked_package_and_admit_its_tested_version(declared, lock_file):
    ranges = {Requirement(text).name.lower(): Requirement(text).specifier for text in declared}
    pins = lock(lock_file)
    assert sorted(ranges) == sorted(pins), f"pyproject.toml and {lock_file} name different packages"
    for name, version in pins.items():
        assert ranges[name].contains(version), f"{name}=={version} ({lock_file}) is outside {ranges[name]}"
        assert any(spec.operator == "<" for spec in ranges[name]), f"{name}: give the range an upper bound"


def test_the_command_and_the_version_come_from_one_place():
    assert PYPROJECT["project"]["name"] == "cnn-lab"
    assert PYPROJECT["project"]["scripts"] == {"cnn-lab": "cnnlab.launcher:main"}
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cnnkit.__version__"}


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        launcher.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"cnn-lab {cnnkit.__version__}"


def test_a_topic_starts_at_the_first_word_and_keeps_its_own_options():
    assert launcher.split_topic(["--port", "8600"]) == (["--port", "8600"], [])
    assert launcher.split_topic(["--data-dir", "d", "train", "--config", "x.json", "--port", "1"]) == (
        ["--data-dir", "d"], ["train", "--config", "x.json", "--port", "1"])
    assert launcher.split_topic(["lessons", "--json"]) == ([], ["lessons", "--json"])


def test_a_topic_runs_the_cli_with_the_folders_given_before_it(monkeypatch, tmp_path):
    seen = {}

    def fake_cli(argv, prog):
        seen.update(argv=argv, prog=prog, home=str(paths.home_dir()), data=str(paths.data_dir()))
        return 0

    monkeypatch.setattr("cnnkit.cli.main", fake_cli)
    monkeypatch.delenv("CNNKIT_DATA_DIR")
    monkeypatch.setenv(paths.HOME_ENV, "")  # recorded: undone after the test, though cnn-lab sets it
    assert launcher.main(["--data-dir", str(tmp_path / "lab"), "train", "--epochs", "1"]) == 0
    assert seen == {"argv": ["train", "--epochs", "1"], "prog": "cnn-lab", "home": str(tmp_path / "lab"),
                    "data": str(tmp_path / "lab" / "data")}


def test_a_missing_config_file_is_a_clear_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        launcher.main(["--config", str(tmp_path / "nope.toml")])
    assert exit_.value.code == 2
    assert f"cnn-lab: error: --config {tmp_path / 'nope.toml'}: no such file" in capsys.readouterr().err


def test_a_config_given_is_the_one_the_app_reads(monkeypatch, tmp_path):
    config = tmp_path / "class.toml"
    config.write_text("[limits]\nmax_epochs = 3\n")
    monkeypatch.setattr("cnnkit.cli.main", lambda argv, prog: 0)
    monkeypatch.setenv("CNNLAB_CONFIG", os.environ["CNNLAB_CONFIG"])  # recorded: undone after the test
    launcher.main(["--config", str(config), "runs"])
    assert config_path() == config


def test_serving_passes_make_runs_flags_and_every_setting_of_the_apps_config(monkeypatch, capsys):
    called = {}
    monkeypatch.setattr("streamlit.web.cli.main", lambda args, prog_name: called.setdefault("args", args) and 0)
    launcher.main(["--port", "8600", "--address", "10.1.2.3"])
    args = called["args"]
    assert args[:2] == ["run", str(ROOT / "server.py")]   # app.py with the teacher-cookie route
    flags = dict(zip(args[2::2], args[3::2]))
    assert flags["--server.port"] == "8600" and flags["--browser.serverAddress"] == "10.1.2.3"
    assert flags["--server.fileWatcherType"] == "none" and flags["--browser.gatherUsageStats"] == "false"
    # the Makefile's STREAMLIT_FLAGS: every one of them is given here too
    make_flags = re.search(r"^STREAMLIT_FLAGS := (.*)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert set(re.findall(r"--[\w.]+", make_flags)) <= set(flags)
    # .streamlit/config.toml is read only from the working directory: each setting goes on the command line
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    for section, options in settings.items():
        for key, value in options.items():
            assert flags[f"--{section}.{key}"] == (str(value).lower() if isinstance(value, bool) else str(value))
    out = capsys.readouterr().out
    assert "Share this address with the class: http://10.1.2.3:8600" in out
    assert f"Data: {paths.data_dir()}" in out and f"Checkpoints: {paths.checkpoint_dir()}" in out


def test_from_a_checkout_the_folders_are_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("CNNKIT_DATA_DIR", "CNNKIT_CHECKPOINT_DIR", "CNNLAB_CONFIG", paths.HOME_ENV):
        monkeypatch.delenv(name, raising=False)
    assert paths.running_from_checkout()
    assert (paths.data_dir(), paths.checkpoint_dir()) == (tmp_path / "data", tmp_path / "checkpoints")
    assert config_path() == tmp_path / "cnnlab.toml"
    assert paths.assets_dir() == ROOT / "assets" and paths.demo_runs_dir().parent == ROOT / "assets"


def test_installed_the_folders_are_in_the_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "running_from_checkout", lambda: False)
    monkeypatch.setattr(paths.sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    for name in ("CNNKIT_DATA_DIR", "CNNKIT_CHECKPOINT_DIR", "CNNLAB_CONFIG", paths.HOME_ENV):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "share" / "cnn-lab"
    assert paths.data_dir() == home / "data" and paths.checkpoint_dir() == home / "checkpoints"
    assert config_path() == home / "cnnlab.toml"
    where = locations()
    assert where.source == "the cnn-lab package" and not where.config_found
    assert where.lines()[2] == f"Class config: none ({home / 'cnnlab.toml'} not found: no class limits)"
    # one folder moved by its own variable, the rest by the home
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "lab"))
    assert paths.data_dir() == tmp_path / "lab" / "data" and paths.checkpoint_dir() == tmp_path / "ckpt"
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "cnnlab.toml").write_text("")
    assert locations().config_found and config_path() == tmp_path / "lab" / "cnnlab.toml"


@pytest.mark.parametrize("platform, env, expected", [
    ("darwin", {}, "~/Library/Application Support/cnn-lab"),
    ("win32", {"LOCALAPPDATA": "/c/Users/t/AppData/Local"}, "/c/Users/t/AppData/Local/cnn-lab"),
    ("linux", {"XDG_DATA_HOME": ""}, "~/.local/share/cnn-lab"),
])
def test_the_user_data_folder_of_each_platform(monkeypatch, platform, env, expected):
    monkeypatch.setattr(paths.sys, "platform", platform)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert paths.user_data_root() == Path(expected).expanduser()


def test_the_sidebar_about_says_where(app_test):
    at = app_test()
    about = next(e for e in at.sidebar.expander if e.label == "About CNN Lab")
    text = " ".join(c.value for c in about.caption)
    assert f"CNN Lab {cnnkit.__version__}, run from a checkout" in text
    assert f"Data: `{paths.data_dir()}`" in text and f"Checkpoints: `{paths.checkpoint_dir()}`" in text
