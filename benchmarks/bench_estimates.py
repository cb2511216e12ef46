"""Estimates against the clock: the time estimate before a run and the live ETA during it, for a few short runs.

Usage: .venv/bin/python benchmarks/bench_estimates.py [--json] [--device cpu] [--quick]

For each run it records
- the estimate made before the run (cnnkit.train.estimate.estimate_training; transfer runs also
  cnnkit.transfer.estimate.plan_cost's run_seconds with the Transfer page's probe settings) against the run's
  time from the model being ready (the "run_dir" event) to the evaluated, saved run; loading the data is not
  in the estimate, and the wall time including it is reported beside;
- the live ETA (cnnkit.train.eta through the training loop's step events): its first value (when warm-up
  ends; "estimating…" before) and the values at about 25 % and 50 % of the steps, each against the time
  that was actually left after it.
Error % = (estimate − actual) / actual × 100 (positive: the estimate was too long).
Built-in datasets only (Shapes, Digits): no data folder needed. Runs are written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def error_pct(estimate: float | None, actual: float) -> float | None:
    if estimate is None or actual <= 0:
        return None
    return round((estimate - actual) / actual * 100, 1)


def runs(quick: bool) -> list[tuple[str, dict]]:
    subset = 1500 if quick else 4000
    transfer = {"kind": "transfer", "source": "efficientnet_lite0", "strategy": "head", "image_size": 96}
    return [
        ("digits mlp, 6 epochs", {"dataset": "digits", "model": "mlp", "epochs": 6, "batch_size": 64}),
        ("shapes cnn3_fast, 3 epochs", {"dataset": "shapes", "model": "cnn3_fast", "epochs": 3,
                                         "train_subset": subset}),
        ("shapes cnn3_bn, 2 epochs", {"dataset": "shapes", "model": "cnn3_bn", "epochs": 2, "batch_size": 64,
                                       "train_subset": subset // 2}),
        ("transfer head 96 px, 2 epochs", {"dataset": "shapes", "model": transfer, "epochs": 2, "batch_size": 32,
                                            "train_subset": 300 if quick else 600, "val_fraction": 0.05}),
    ]


def measure(label: str, fields: dict, device: str) -> dict:
    from cnnkit.data import dataset_info
    from cnnkit.train import TrainConfig, train
    from cnnkit.train.estimate import estimate_training

    config = TrainConfig(seed=0, device=device, **fields)
    info = dataset_info(config.dataset)
    started = time.perf_counter()
    estimate = estimate_training(config, info=info, device=device)
    probe_seconds = time.perf_counter() - started
    row = {"run": label, "estimate_s": round(estimate.total_seconds, 2), "probe_s": round(probe_seconds, 2)}
    if isinstance(config.model, dict) and config.model.get("kind") == "transfer":
        from cnnkit.transfer.estimate import plan_cost, probe_network

        page_probe = lambda *a: probe_network(*a, repeats=2, probe_batch=16 if device == "cpu" else a[3])  # noqa: E731
        row["plan_cost_s"] = round(plan_cost(config, device, info=info, probe=page_probe).run_seconds, 2)

    events: list[tuple[float, int, int, float | None]] = []  # (time, step, total steps, eta)

    model_ready: list[float] = []

    def on_progress(event: dict) -> None:
        if event.get("kind") == "run_dir":
            model_ready.append(time.perf_counter())
        if event.get("kind") == "step":
            events.append((time.perf_counter(), event["step"], event["epochs"] * event["steps_per_epoch"],
                           event.get("eta_s")))

    t0 = time.perf_counter()
    result = train(config, on_progress=on_progress)
    end = time.perf_counter()
    actual = end - model_ready[0]  # from the model ready to the evaluated, saved run (what the estimate covers)
    row.update({"actual_s": round(actual, 2), "wall_s": round(end - t0, 2),
                "estimate_error_pct": error_pct(estimate.total_seconds, actual)})
    if "plan_cost_s" in row:
        row["plan_cost_error_pct"] = error_pct(row["plan_cost_s"], actual)
    first = next((e for e in events if e[3] is not None), None)
    if first:
        row["eta_first"] = {"at_step": first[1], "of_steps": first[2], "eta_s": round(first[3], 2),
                            "actual_left_s": round(end - first[0], 2),
                            "error_pct": error_pct(first[3], end - first[0])}
    for share in (0.25, 0.5):
        point = next((e for e in events if e[3] is not None and e[1] >= share * e[2]), None)
        if point:
            row[f"eta_{int(share * 100)}pct"] = {"at_step": point[1], "eta_s": round(point[3], 2),
                                                 "actual_left_s": round(end - point[0], 2),
                                                 "error_pct": error_pct(point[3], end - point[0])}
    row["steps_estimating"] = sum(1 for e in events if e[3] is None)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line of every figure")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="smaller runs (about half the time)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default); 1 is steadier on a machine shared with other jobs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-estimates-"))
    os.environ.setdefault("CNNKIT_CHECKPOINT_DIR", str(work / "checkpoints"))
    import torch

    import cnnkit.transfer  # noqa: F401  registers the transfer model kind

    if args.threads:
        torch.set_num_threads(args.threads)

    # a warm server: one tiny run first, as a class's first run warms the process (imports, thread pools)
    measure("warm-up", {"dataset": "digits", "model": "mlp", "epochs": 1}, args.device)
    rows = []
    for label, fields in runs(args.quick):
        rows.append(measure(label, fields, args.device))
        r = rows[-1]
        print(f"{label}: estimate {r['estimate_s']} s, actual {r['actual_s']} s ({r['estimate_error_pct']} %); "
              f"first ETA {r.get('eta_first', {}).get('error_pct')} %", file=sys.stderr)
    load = os.getloadavg()
    print("| run | estimate before | actual | error | first live ETA (step) | actual left | error | ETA at 25 % | error |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        first, quarter = r.get("eta_first", {}), r.get("eta_25pct", {})
        print(f"| {r['run']} | {r['estimate_s']} s | {r['actual_s']} s | {r['estimate_error_pct']} % | "
              f"{first.get('eta_s')} s ({first.get('at_step')}/{first.get('of_steps')}) | {first.get('actual_left_s')} s | "
              f"{first.get('error_pct')} % | {quarter.get('eta_s')} s | {quarter.get('error_pct')} % |")
        if "plan_cost_s" in r:
            print(f"| ↳ plan_cost (Transfer page) | {r['plan_cost_s']} s | {r['actual_s']} s | {r['plan_cost_error_pct']} % |"
                  " | | | | |")
    print(f"\ndevice {args.device}, torch threads {torch.get_num_threads()}, load average {load[0]:.1f}")
    if args.json:
        print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "load_average": load[0],
                          "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
