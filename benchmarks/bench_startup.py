"""Cold start of the app: from `streamlit run app.py` to the home page rendered in Chromium.

Usage: .venv/bin/python benchmarks/bench_startup.py [--runs 3]
Prints one JSON line: seconds to the health endpoint and to the rendered "CNN Lab" title.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_start(browser) -> tuple[float, float]:
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        healthy = time.perf_counter() - start
        page = browser.new_page()
        page.goto(url)
        page.get_by_text("CNN Lab", exact=True).first.wait_for(timeout=60_000)
        rendered = time.perf_counter() - start
        page.close()
        return healthy, rendered
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        results = [one_start(browser) for _ in range(args.runs)]
        browser.close()
    print(json.dumps({
        "runs": args.runs,
        "health_s_median": round(statistics.median(r[0] for r in results), 2),
        "first_page_s_median": round(statistics.median(r[1] for r in results), 2),
        "first_page_s_all": [round(r[1], 2) for r in results],
    }))


if __name__ == "__main__":
    main()
