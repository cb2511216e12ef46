"""Issue 17 "Speed for a live class": the figures of goals 1, 2 and 6 on this machine.

1. The Training runner's default run (TrainConfig() on Shapes, what `python -m cnnkit train --dataset shapes`
   runs): seconds of training until the test accuracy first reaches 90% (the test split is scored after
   every epoch from the epoch's saved weights, with the clock paused), the final test accuracy, when the
   first step-loss point arrives and whether the curve falls within 5 s; then the `mlp` preset with the
   same recipe and with Adam 1e-3 (its better one counts) for the gap an MLP stays below the CNN.
2. The Resolution lab with its default settings on Shapes: TVTV minus TOTV at 8 px and the lab's seconds.
6. Cold first page (benchmarks/bench_startup.py, needs Chromium) and re-opening CIFAR-10 (a fresh process
   loading cifar10-jpeg from its decode cache; CNNKIT_DATA_DIR is a temp dir with cifar10-jpeg symlinked
   from --cifar-from, the cache filled first, untimed).

    .venv/bin/python benchmarks/bench_demo.py --json          # all, one JSON line at the end
    .venv/bin/python benchmarks/bench_demo.py --only default  # default | mlp | lab | startup | cifar (repeatable)

Runs go to a temp checkpoint dir. Timings are wall seconds; *_cpu_s are this process's CPU seconds (both
threads), which say more on a shared machine. torch uses its default thread count (set OMP_NUM_THREADS=2
to mimic the 2-core target).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PARTS = ("default", "mlp", "lab", "startup", "cifar")


class PausableClock:
    """Wall and CPU seconds that leave out the paused stretches (the per-epoch test scoring)."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.paused_wall = self.paused_cpu = 0.0

    def wall(self) -> float:
        return time.perf_counter() - self.wall0 - self.paused_wall

    def cpu(self) -> float:
        return time.process_time() - self.cpu0 - self.paused_cpu

    def pause(self):
        clock = self

        class _Paused:
            def __enter__(self):
                self.w, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                clock.paused_wall += time.perf_counter() - self.w
                clock.paused_cpu += time.process_time() - self.c

        return _Paused()


def timed_run(config, score_each_epoch: bool = True) -> dict:
    """Train `config`, scoring the test split after every epoch (clock paused) when asked."""
    from cnnkit.evaluate import evaluate_run
    from cnnkit.train import train

    clock = PausableClock()
    points: list[tuple[float, float]] = []
    epochs: list[dict] = []
    run_dir: list[str] = []

    def on_progress(event: dict) -> None:
        if event["kind"] == "run_dir":
            run_dir.append(event["run_dir"])
        elif event["kind"] == "step":
            points.append((clock.wall(), float(event["loss"])))
        elif event["kind"] == "epoch":
            row = {"epoch": event["row"]["epoch"], "train_s": round(clock.wall(), 2), "cpu_s": round(clock.cpu(), 2),
                   "val_acc": event["row"]["val_acc"]}
            if score_each_epoch and run_dir:
                with clock.pause():
                    try:
                        row["test_acc"] = evaluate_run(run_dir[0], which="last")[0].accuracy
                    except Exception as error:  # a store layout this script does not know: val only
                        row["test_error"] = str(error)
            epochs.append(row)

    result = train(config, on_progress=on_progress)
    total_wall, total_cpu = clock.wall(), clock.cpu()
    reached = next((row for row in epochs if row.get("test_acc", row["val_acc"] or 0) >= 0.9), None)
    early = [loss for t, loss in points if t <= 5.0]
    return {
        "model": result.model, "epochs": result.epochs, "test_acc": result.test_acc,
        "time_to_90_s": reached["train_s"] if reached else None,
        "cpu_to_90_s": reached["cpu_s"] if reached else None,
        "total_s": round(total_wall, 2), "total_cpu_s": round(total_cpu, 2),
        "first_point_s": round(points[0][0], 2) if points else None,
        "points_in_5s": len(early),
        "curve_falls_in_5s": len(early) >= 2 and min(early[1:]) < early[0],
        "per_epoch": epochs,
    }


def part_default() -> dict:
    import argparse as _argparse

    from cnnkit.cli.train_cmd import add_train_flags, config_from_args
    from cnnkit.train import TrainConfig

    config = TrainConfig()
    parser = _argparse.ArgumentParser()
    add_train_flags(parser)
    cli = config_from_args(parser.parse_args(["--dataset", "shapes"]))
    if cli.to_dict() != config.to_dict():
        raise SystemExit("`python -m cnnkit train --dataset shapes` no longer runs TrainConfig()'s defaults")
    return timed_run(config)


def part_mlp(cnn_acc: float | None) -> dict:
    from cnnkit.train import TrainConfig

    same = timed_run(TrainConfig(model="mlp"), score_each_epoch=False)
    adam = timed_run(TrainConfig(model="mlp", optimizer="adam", lr=1e-3, nesterov=False, weight_decay=0.0,
                                 label_smoothing=0.0, scheduler="cosine"), score_each_epoch=False)
    best = max(same["test_acc"] or 0.0, adam["test_acc"] or 0.0)
    return {"mlp_test_acc_default_recipe": same["test_acc"], "mlp_test_acc_adam": adam["test_acc"],
            "mlp_best_test_acc": best,
            "mlp_vs_cnn_gap": round(100 * (cnn_acc - best), 1) if cnn_acc is not None else None}


def part_lab() -> dict:
    from cnnkit.labs import ResolutionLabConfig, run_resolution_lab

    config = ResolutionLabConfig()
    started, cpu0 = time.perf_counter(), time.process_time()
    result = run_resolution_lab(config)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    totv = {r.resolution: r.accuracy for r in result.totv}
    tvtv = {r.resolution: r.accuracy for r in result.tvtv}
    gap = 100 * (tvtv[8] - totv[8]) if 8 in totv and 8 in tvtv else None
    return {"lab_gap_8px": round(gap, 1) if gap is not None else None, "lab_seconds": round(seconds, 1),
            "lab_cpu_s": round(cpu, 1), "lab_model": result.model,
            "lab_epochs": config.train_config().epochs, "lab_train_subset": config.train_config().train_subset,
            "lab_totv": totv, "lab_tvtv": tvtv, "lab_status": result.status}


def part_startup() -> dict:
    if not (shutil.which("chromium") or Path("/usr/bin/chromium").exists()):
        return {"cold_first_page_s": None, "cold_first_page_reason": "no Chromium on this machine"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_startup.py"), "--runs", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"cold_first_page_s": None, "cold_first_page_reason": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    figures = json.loads(lines[-1])
    return {"cold_first_page_s": figures.get("first_page_s_median"), "startup_health_s": figures.get("health_s_median")}


_LOAD = ("import sys, time; sys.path.insert(0, {root!r}); t = time.perf_counter(); "
         "from cnnkit.data import load_dataset; d = load_dataset('cifar10-jpeg'); "
         "print(time.perf_counter() - t, len(d.train_x))")


def part_cifar(source: Path) -> dict:
    if not (source / "cifar10-jpeg").is_dir():
        return {"cifar_reopen_s": None, "cifar_reason": f"no {source}/cifar10-jpeg"}
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(source / "cifar10-jpeg", Path(tmp) / "cifar10-jpeg")
        env = {**os.environ, "CNNKIT_DATA_DIR": tmp}
        env.pop("CNNKIT_CACHE_DIR", None)
        code = _LOAD.format(root=str(ROOT))
        first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800)
        if first.returncode != 0:
            return {"cifar_reopen_s": None, "cifar_reason": first.stderr.strip().splitlines()[-1]}
        # a fresh process: import + cache read, as a restarted app's second visit
        second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
        return {"cifar_first_open_s": round(float(first.stdout.split()[0]), 2),
                "cifar_reopen_s": round(float(second.stdout.split()[0]), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=PARTS, help="run only these parts (repeatable)")
    shared = next((p for p in (ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data")
                   if p.is_dir()), ROOT.parent / "shared" / "data")   # main checkout or a worktree under wt/
    parser.add_argument("--cifar-from", type=Path, default=shared, help="folder holding cifar10-jpeg (read-only is fine)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of all figures")
    args = parser.parse_args(argv)
    parts = args.only or list(PARTS)

    figures: dict = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as checkpoints:
        os.environ["CNNKIT_CHECKPOINT_DIR"] = checkpoints
        import torch

        figures["torch_threads"] = torch.get_num_threads()
        from cnnkit.data import load_dataset

        load_dataset("shapes")  # fill the Shapes cache first: generation is not training
        cnn_acc = None
        if "default" in parts:
            default = part_default()
            print(json.dumps({"default": default}), file=sys.stderr, flush=True)
            cnn_acc = default["test_acc"]
            figures.update(default_time_to_90_s=default["time_to_90_s"], default_cpu_to_90_s=default["cpu_to_90_s"],
                           default_test_acc=default["test_acc"], default_total_s=default["total_s"],
                           default_total_cpu_s=default["total_cpu_s"], default_first_point_s=default["first_point_s"],
                           default_curve_falls_in_5s=default["curve_falls_in_5s"], default_model=default["model"],
                           default_per_epoch=default["per_epoch"])
        if "mlp" in parts:
            figures.update(part_mlp(cnn_acc))
        if "lab" in parts:
            figures.update(part_lab())
    if "startup" in parts:
        figures.update(part_startup())
    if "cifar" in parts:
        figures.update(part_cifar(args.cifar_from))
    for key in ("default_time_to_90_s", "default_test_acc", "mlp_vs_cnn_gap", "lab_gap_8px", "lab_seconds",
                "cold_first_page_s", "cifar_reopen_s"):
        figures.setdefault(key, None)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
