"""Classroom load test: N students on one server, each opens the Training runner and has a short run
trained; one student also queues a sweep of 10.

What is measured, and how (an honest split, see the report's "mode"):
- Page load: N light protocol-level clients speak Streamlit's websocket protocol (/_stcore/stream, the
  streamlit.proto BackMsg/ForwardMsg classes the package ships): each connects, asks for the Training runner
  with its name in the query string (?name=sN), waits for script_finished (time to first render), then
  asks for one more rerun (rerun latency: request to script finished). The server's peak RSS (VmHWM) is read
  from /proc at the end.
- Training: the runs are queued through cnnkit's JobManager in this process, one owner per student and a
  sweep of 10 from student 0 queued FIRST, to check the queue is fair (the sweep interleaves, it does not
  run first), that all runs complete, and images/s per run against the same run from the CLI. Pressing the
  Train button over the raw protocol (setting the epochs and subset widget states by id) is left for later.

    .venv/bin/python benchmarks/bench_classroom.py --sessions 30 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 3)


async def _student(url: str, name: str, page: str) -> dict:
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    out: dict = {"name": name}
    async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=60) as ws:
        async def rerun() -> float:
            msg = BackMsg()
            msg.rerun_script.query_string = f"name={name}"
            msg.rerun_script.page_name = page
            start = time.perf_counter()
            await ws.send(msg.SerializeToString())
            while True:
                fwd = ForwardMsg()
                fwd.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=300))
                if fwd.WhichOneof("type") == "script_finished":
                    return time.perf_counter() - start

        out["first_render_s"] = await rerun()
        out["rerun_s"] = await rerun()
    return out


async def _students(url: str, n: int, page: str) -> list[dict]:
    return await asyncio.gather(*[_student(url, f"s{i}", page) for i in range(n)], return_exceptions=True)


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _train_queue(n: int, sweep: int, config_kwargs: dict) -> dict:
    from cnnkit.jobs import JobManager
    from cnnkit.train import TrainConfig

    manager = JobManager(max_concurrent_per_device=1)
    ids = [manager.submit_training(TrainConfig(**config_kwargs, lr=lr, name=f"s0-sweep-{k}"), owner="s0",
                                   group="sweep", label=f"s0-sweep-{k}")
           for k, lr in enumerate([10 ** (-4 + 0.25 * k) for k in range(sweep)])]
    ids += [manager.submit_training(TrainConfig(**config_kwargs, name=f"s{i}"), owner=f"s{i}", label=f"s{i}")
            for i in range(n)]
    snaps = [manager.wait(j, timeout=3600) for j in ids]
    started = sorted(snaps, key=lambda s: s.started or 0)
    order = [s.label for s in started]
    sweep_positions = [k for k, label in enumerate(order) if "sweep" in label]
    # Interleaved: the sweep's second run starts only after other students' first runs, i.e. not all first.
    interleaved = sweep <= 1 or sweep_positions[1] > 1
    speeds = [s.history[-1]["images_per_s"] for s in snaps if s.history and s.history[-1].get("images_per_s")]
    return {"completed": sum(s.status == "done" for s in snaps), "failed": sum(s.status == "failed" for s in snaps),
            "lost": len(ids) - len(snaps), "order": order, "sweep_interleaved": interleaved,
            "app_images_per_s": round(statistics.median(speeds), 1) if speeds else None,
            "errors": sorted({(s.error or "").splitlines()[0] for s in snaps if s.status == "failed"})[:3]}


def _cli_speed(config_kwargs: dict, env: dict) -> float | None:
    args = [sys.executable, "-m", "cnnkit", "train", "--json", "--dataset", config_kwargs["dataset"],
            "--epochs", str(config_kwargs["epochs"]), "--train-subset", str(config_kwargs["train_subset"]),
            "--device", "cpu"]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    try:
        summary = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    from cnnkit import store

    epochs = store.load_history(Path(summary["run_dir"])).get("epochs", [])
    return epochs[-1].get("images_per_s") if epochs else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--sweep", type=int, default=10)
    parser.add_argument("--subset", type=int, default=128, help="training images per run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-classroom-"))
    os.environ.setdefault("CNNKIT_DATA_DIR", str(work / "data"))
    os.environ["CNNKIT_CHECKPOINT_DIR"] = str(work / "runs")
    os.environ["CNNKIT_OFFLINE"] = "1"
    config = dict(dataset="shapes", epochs=1, train_subset=args.subset, device="cpu", batch_size=64)
    from tests.conftest import streamlit_server

    report: dict = {"sessions": args.sessions, "mode": "protocol clients for pages; job manager for runs"}
    with streamlit_server(work / "streamlit.log") as url:
        pid = int(subprocess.run(["pgrep", "-n", "-f", "streamlit run"], capture_output=True, text=True).stdout
                  .split()[0])
        t0 = time.perf_counter()
        results = asyncio.run(_students(url, args.sessions, "training_runner"))
        ok = [r for r in results if isinstance(r, dict)]
        report.update(page_errors=len(results) - len(ok),
                      first_render_p50_s=_pct([r["first_render_s"] for r in ok], 0.5),
                      first_render_p95_s=_pct([r["first_render_s"] for r in ok], 0.95),
                      rerun_p50_s=_pct([r["rerun_s"] for r in ok], 0.5),
                      rerun_p95_s=_pct([r["rerun_s"] for r in ok], 0.95),
                      pages_wall_s=round(time.perf_counter() - t0, 2), peak_rss_mb=_peak_rss_mb(pid))
    queue = _train_queue(args.sessions, args.sweep, config)
    cli = _cli_speed(config, dict(os.environ))
    report.update({k: v for k, v in queue.items() if k != "order"}, start_order_head=queue["order"][:14],
                  cli_images_per_s=cli and round(cli, 1),
                  app_vs_cli_speed=round(queue["app_images_per_s"] / cli, 2) if cli and queue["app_images_per_s"]
                  else None)
    if not args.json:
        for key, value in report.items():
            print(f"{key}: {value}", file=sys.stderr)
    print(json.dumps(report))
    return 0 if report["failed"] == 0 and report["page_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
