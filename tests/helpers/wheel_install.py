"""The real `pip install` of the built wheel that tests/test_wheel_install.py checks, started in the background.

The install resolves and installs every dependency from the wheel's metadata (torch with its CUDA libraries:
about 6 GB and a minute and a half of one core here). It runs niced beside the rest of the suite from the end of
collection (conftest.py), so the suite does not wait for it in one piece; the wheel tests wait for it when they
start. Run as a module, it is that background process: `python -m tests.helpers.wheel_install FOLDER`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
# What the copy of the checkout that the wheel is built from leaves out (a clean tree, as a fresh clone has):
# these at the top only (cnnkit/data is code), caches anywhere.
TOP_NOT_COPIED = {".git", ".venv", "data", "checkpoints", "build", "dist", "test-results", ".cache"}
WHEEL_TEST = "tests/test_wheel_install.py"


def not_copied(folder: str, names: list[str]) -> set[str]:
    top = Path(folder).resolve() == ROOT
    return {n for n in names if (top and n in TOP_NOT_COPIED) or n in ("__pycache__", ".pytest_cache")
            or n.endswith(".egg-info")}


def clean_env(share: Path) -> dict:
    """The caller's environment without anything that could point into the checkout or this test session."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CNNKIT_", "CNNLAB_", "STREAMLIT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["XDG_DATA_HOME"] = str(share)  # the user data folder, inside this test's folder
    env["CNNKIT_THREADS"] = "1"        # a speed knob only: the machine has 2 cores, shared
    return env


@dataclass
class Installed:
    venv: Path
    elsewhere: Path      # the working directory of every command: empty, outside the checkout
    home: Path           # the user data folder cnn-lab must use (XDG_DATA_HOME/cnn-lab)
    env: dict
    install_seconds: float
    wheel: Path

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.venv / "bin" / "cnn-lab"), *args], cwd=self.elsewhere, env=self.env,
                              capture_output=True, text=True, timeout=timeout)


def _layout(folder: Path) -> dict[str, Path]:
    return {"elsewhere": folder / "elsewhere", "share": folder / "share", "source": folder / "source",
            "dist": folder / "dist", "venv": folder / "venv", "result": folder / "result.json"}


def _install(folder: Path) -> dict:
    """Copy the checkout, build the wheel, make a venv and pip install the wheel into it: the background job."""
    where = _layout(folder)
    where["elsewhere"].mkdir(parents=True, exist_ok=True)
    env = clean_env(where["share"])
    shutil.copytree(ROOT, where["source"], ignore=not_copied)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(where["dist"]),
                            str(where["source"])], cwd=where["elsewhere"], env=env, capture_output=True, text=True,
                           timeout=600)
    if built.returncode != 0:
        return {"failed": "pip wheel", "stderr": built.stderr[-3000:]}
    [wheel] = where["dist"].glob("cnn_lab-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(where["venv"])], check=True, cwd=where["elsewhere"], env=env,
                   timeout=300)
    started = time.monotonic()
    done = subprocess.run([str(where["venv"] / "bin" / "python"), "-m", "pip", "install", "--no-compile", "-q",
                           str(wheel)], cwd=where["elsewhere"], env=env, capture_output=True, text=True,
                          timeout=1800)
    if done.returncode != 0:
        return {"failed": "pip install", "stderr": done.stderr[-3000:]}
    return {"wheel": str(wheel), "seconds": time.monotonic() - started}


class BackgroundInstall:
    """One install per test session: started (niced) by `start`, awaited by `wait`, removed by `remove`."""

    def __init__(self):
        self.folder: Optional[Path] = None
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        if self.process is not None:
            return
        self.folder = Path(tempfile.mkdtemp(prefix="cnnlab-wheel-install-"))
        log = open(self.folder / "install.log", "w")
        # niced: it takes the core the suite leaves idle (servers and browsers waiting), not the tests' time
        self.process = subprocess.Popen([sys.executable, "-m", "tests.helpers.wheel_install", str(self.folder)],
                                        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=lambda: os.nice(10))
        log.close()

    def wait(self, timeout: float = 2400) -> Installed:
        self.start()
        assert self.process is not None and self.folder is not None
        self.process.wait(timeout=timeout)
        where = _layout(self.folder)
        log = (self.folder / "install.log").read_text(errors="replace")[-3000:]
        assert where["result"].is_file(), f"the background install ended without a result: {log}"
        result = json.loads(where["result"].read_text())
        assert "failed" not in result, f"{result['failed']} failed: {result['stderr']}"
        print(f"\npip install {Path(result['wheel']).name}: {result['seconds']:.0f} s (in the background, niced)")
        return Installed(where["venv"], where["elsewhere"], where["share"] / "cnn-lab", clean_env(where["share"]),
                         result["seconds"], Path(result["wheel"]))

    def remove(self) -> None:
        """Stop it if it still runs and delete its folder (the venv is about 6 GB: deleted by a process of its
        own, which the suite does not wait for; 7 s here)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.folder is not None and self.folder.exists():
            subprocess.Popen(["rm", "-rf", str(self.folder)], start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.process, self.folder = None, None


INSTALL = BackgroundInstall()


def start_if_collected(items) -> None:
    """Start the install when the session runs a test of the wheel's install (conftest.py, after collection)."""
    if any(Path(str(item.fspath)).resolve() == ROOT / WHEEL_TEST for item in items):
        INSTALL.start()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    try:
        outcome = _install(target)
    except Exception as exc:  # reported by the waiting test, with the log
        outcome = {"failed": "the install", "stderr": f"{type(exc).__name__}: {exc}"}
    _layout(target)["result"].write_text(json.dumps(outcome))
