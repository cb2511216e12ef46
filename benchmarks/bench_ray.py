"""Trainings through the app's job manager on Ray vs on the app's own machine (issue 16).

N short trainings (preset cnn3 on a subset of the built-in Shapes dataset, one epoch each) go through a
JobManager with the local backend, then through one with the Ray backend (a local Ray instance started here,
CPU only, unless --address names a cluster), one at a time so each job's own overhead shows. Per job: seconds
from submit to its first training step (start), and the training images/s. Then one long Ray job is stopped
after its first step: seconds from Stop to the job ending.

    .venv/bin/python benchmarks/bench_ray.py --jobs 4 --json

The last line (with --json) is one JSON object: jobs, completed, failed, start_overhead_s (Ray minus local,
mean seconds from submit to first step, both warmed up by one small job first), speed_vs_local (Ray images/s
over local images/s), cancel_latency_s, ray_init_s, ray_first_job_s (the warm-up job on a fresh Ray worker,
which imports torch) and the per-backend figures. Runs go to a temporary data and checkpoint folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCRATCH = Path(tempfile.mkdtemp(prefix="bench-ray-"))
os.environ.setdefault("CNNKIT_DATA_DIR", str(SCRATCH / "data"))
os.environ["CNNKIT_CHECKPOINT_DIR"] = str(SCRATCH / "checkpoints")

from cnnkit.jobs import JobManager  # noqa: E402
from cnnkit.train import TrainConfig  # noqa: E402


def config(subset: int, epochs: int = 1, name: str = "bench") -> TrainConfig:
    return TrainConfig(dataset="shapes", model="cnn3", epochs=epochs, batch_size=64, train_subset=subset,
                       val_fraction=0.0, scheduler="constant", device="cpu", log_every=1, name=name)


def first_step_seconds(manager: JobManager, job_id: str, timeout: float = 300) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        snap = manager.snapshot(job_id)
        if snap.steps or snap.finished:
            return time.monotonic() - began
        time.sleep(0.01)
    raise TimeoutError(f"{job_id} took no step in {timeout} s")


def one_job(manager: JobManager, subset: int, name: str) -> tuple[float, str, float]:
    """(seconds to first step, status, images/s) of one training."""
    job_id = manager.submit_training(config(subset, name=name))
    start_s = first_step_seconds(manager, job_id)
    snap = manager.wait(job_id, timeout=600)
    if snap.status != "done":
        print(f"{name}: {snap.status}: {snap.error or snap.message}", file=sys.stderr)
    return start_s, snap.status, (snap.result.train_img_per_s if snap.status == "done" else 0.0)


def figures(runs: list[tuple[float, str, float]]) -> dict:
    starts = [r[0] for r in runs]
    speeds = [r[2] for r in runs if r[1] == "done"]
    return {"completed": sum(r[1] == "done" for r in runs), "failed": sum(r[1] == "failed" for r in runs),
            "start_s": [round(s, 3) for s in starts], "mean_start_s": statistics.mean(starts),
            "img_per_s": statistics.mean(speeds) if speeds else 0.0}


def cancel_latency(manager: JobManager, subset: int) -> float:
    job_id = manager.submit_training(config(subset, epochs=100, name="bench cancel"))
    first_step_seconds(manager, job_id)
    asked = time.monotonic()
    manager.cancel(job_id)
    snap = manager.wait(job_id, timeout=120)
    if snap.status != "cancelled":
        print(f"cancel: the job ended {snap.status}", file=sys.stderr)
    return time.monotonic() - asked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--subset", type=int, default=1024, help="training images per job")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2, help="CPUs of the local Ray instance")
    parser.add_argument("--address", default="", help="an existing cluster (auto, ray://head:10001) instead")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import ray

    from cnnkit.jobs.backends.ray import RayBackend

    local_manager = JobManager()
    local_manager.wait(local_manager.submit_training(config(64, name="warm-up")))  # imports, dataset cache
    began = time.monotonic()
    if args.address:
        ray.init(address=args.address, log_to_driver=False)
    else:
        ray.init(num_cpus=args.cpus, log_to_driver=False, include_dashboard=False)
    init_s = time.monotonic() - began
    ray_manager = JobManager(backend=RayBackend(cpus_per_job=args.cpus if not args.address else None))
    began = time.monotonic()
    ray_manager.wait(ray_manager.submit_training(config(64, name="warm-up")))  # a worker process imports torch
    cold_s = time.monotonic() - began
    # Alternate local and Ray jobs so a busy machine slows both alike.
    local_runs, ray_runs = [], []
    for index in range(args.jobs):
        print(f"job {index + 1}/{args.jobs}: local, then Ray", file=sys.stderr)
        local_runs.append(one_job(local_manager, args.subset, f"local {index}"))
        ray_runs.append(one_job(ray_manager, args.subset, f"ray {index}"))
    local, on_ray = figures(local_runs), figures(ray_runs)
    latency = cancel_latency(ray_manager, args.subset)
    ray.shutdown()

    summary = {"jobs": args.jobs, "completed": on_ray["completed"], "failed": on_ray["failed"],
               "start_overhead_s": round(on_ray["mean_start_s"] - local["mean_start_s"], 3),
               "speed_vs_local": round(on_ray["img_per_s"] / local["img_per_s"], 3) if local["img_per_s"] else None,
               "cancel_latency_s": round(latency, 3), "ray_init_s": round(init_s, 2),
               "ray_first_job_s": round(cold_s, 2),
               "local": {**local, "mean_start_s": round(local["mean_start_s"], 3), "img_per_s": round(local["img_per_s"])},
               "ray": {**on_ray, "mean_start_s": round(on_ray["mean_start_s"], 3), "img_per_s": round(on_ray["img_per_s"])}}
    if args.json:
        print(json.dumps(summary))
    else:
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
