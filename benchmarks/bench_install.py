"""Issue 30 "Install it like the tools teachers already use": what `pip install cnn-lab` costs on a fresh machine.

Builds the wheel from this checkout (`pip wheel --no-deps`), creates a fresh virtual environment outside the
checkout with the Python running this script, installs the wheel into it exactly as a teacher would
(`pip install <wheel>`, every dependency resolved from its metadata; pip as configured on this machine), then
starts `cnn-lab` from an empty folder and times it to its health endpoint.

    .venv/bin/python benchmarks/bench_install.py --json              # ~5-15 min: a full install (~6 GB)
    .venv/bin/python benchmarks/bench_install.py --no-compile --json # as tests/test_wheel_install.py installs

The last stdout line is one JSON object: wheel_mb, build_s, install_s, venv_gb, first_start_s (cnn-lab to
/_stcore/health), load_before (1-minute load average: on a shared machine the figures are noisy).

Measured on the 2-core dev box shared with ~7 other sessions (load average 12-18 throughout; the same steps by
hand and by tests/test_wheel_install.py, this script's own run still to do on a quieter machine):
  wheel 7.9 MB (the CIFAR-10 subset is 6.4 MB of it); build 35 s;
  `pip install <wheel>` 14 min 04 s wall (126 s user + 9 s system CPU), the venv 6.4 GB (torch and its CUDA
  libraries: nvidia-*, cuda-* and triton 4.1 GB, torch 1.2 GB);
  with --no-compile (the test): 637 s and 426 s in two runs;
  `pip install -r requirements.txt` into a fresh venv at a lower load: 5 min 26 s, 6.3 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the copy of the checkout that the wheel is built from leaves out (a clean tree, as a fresh clone has):
# these at the top only (cnnkit/data is code), caches anywhere.
TOP_NOT_COPIED = {".git", ".venv", "data", "checkpoints", "build", "dist", "test-results", ".cache"}


def not_copied(folder: str, names: list[str]) -> set[str]:
    top = Path(folder).resolve() == ROOT
    return {n for n in names if (top and n in TOP_NOT_COPIED) or n in ("__pycache__", ".pytest_cache")
            or n.endswith(".egg-info")}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-compile", action="store_true", help="pip install --no-compile (as the test does)")
    parser.add_argument("--keep", help="keep the venv in this folder instead of a temporary one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(args.keep or tempfile.mkdtemp(prefix="cnnlab-install-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV", "CNNKIT_", "CNNLAB_", "STREAMLIT_"))}
    env["XDG_DATA_HOME"] = str(work / "share")
    elsewhere = work / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    load_before = os.getloadavg()[0]
    try:
        started = time.monotonic()
        shutil.copytree(ROOT, work / "source", ignore=not_copied, dirs_exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"),
                        str(work / "source")], check=True, cwd=elsewhere, env=env)
        build_s = time.monotonic() - started
        [wheel] = (work / "dist").glob("cnn_lab-*.whl")
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, cwd=elsewhere, env=env)
        started = time.monotonic()
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        *(["--no-compile"] if args.no_compile else []), str(wheel)], check=True, cwd=elsewhere,
                       env=env)
        install_s = time.monotonic() - started
        port = free_port()
        started = time.monotonic()
        server = subprocess.Popen([str(venv / "bin" / "cnn-lab"), "--port", str(port), "--address", "127.0.0.1"],
                                  cwd=elsewhere, env={**env, "STREAMLIT_SERVER_ADDRESS": "127.0.0.1"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first_start_s = None
        try:
            while time.monotonic() - started < 300 and server.poll() is None:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                        first_start_s = time.monotonic() - started
                        break
                except OSError:
                    time.sleep(0.5)
        finally:
            server.terminate()
            server.wait(timeout=30)
        result = {"wheel_mb": round(wheel.stat().st_size / 1e6, 1), "build_s": round(build_s, 1),
                  "install_s": round(install_s, 1), "venv_gb": round(folder_bytes(venv) / 1e9, 2),
                  "first_start_s": first_start_s and round(first_start_s, 1), "no_compile": args.no_compile,
                  "load_before": round(load_before, 1)}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
