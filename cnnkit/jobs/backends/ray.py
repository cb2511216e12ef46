"""Backend "ray": training jobs on a Ray cluster (issue 16).

Imported only when chosen (CNNKIT_JOB_BACKEND=ray or CNNKIT_RAY_ADDRESS set; cnnkit.jobs.get_job_manager), so
`ray` stays an optional install (requirements-ray.txt). The manager still decides WHAT starts and when (its queue, fair order, slots);
this backend decides only HOW a started job runs: Ray picks the machine.

Choices, and why:
- Run folders: the worker writes the run straight into the checkpoint directory, which must be shared
  storage (NFS or similar) mounted at the same path on every machine. RunWriter's one atomic state.pt commit
  per epoch and its flock lock then work exactly as on one machine: a worker that dies leaves its last
  committed epoch for an exact resume, and the app lists finished runs from disk after a restart. (Sending
  files back would need a second commit protocol and would lose everything after the last send.)
- Trainings run as Ray tasks (worker processes are pooled, so torch is imported once per worker, not per job)
  asking for what they need: one GPU for a CUDA run, CNNKIT_RAY_CPUS_PER_JOB CPUs otherwise.
- Progress and stop go through one small actor per backend, the hub: the task pushes its progress events
  there (batched every PUSH_S) and the manager's watcher thread drains them every POLL_S into the job's
  snapshot, so the pages' live curves work as with local jobs. Stop sets a flag on the hub; the task's
  cancel_event proxy (checked by train() each batch) asks the hub at most every CHECK_S without blocking.
  A job that has not stopped CANCEL_GRACE_S after Stop (or has not started yet) is cancelled by Ray.
- Jobs that are not trainings (submit(fn) closures, e.g. the resolution lab) run locally, in a thread of the
  app: a closure holds in-process state (loaded tensors, callbacks) that cloudpickle would have to ship or
  could not ship at all, and those jobs are short next to trainings.
"""

from __future__ import annotations

import importlib
import os
import socket
import threading
import time
import traceback
from typing import Optional

import ray

from cnnkit.cancellation import Cancelled
from cnnkit.jobs.backends.base import RemoteTrainingBackend, portable_exception
from cnnkit.jobs.context import Job
from cnnkit.threads import step_back_this_thread
from cnnkit.paths import CACHE_DIR_ENV, CHECKPOINT_DIR_ENV, DATA_DIR_ENV, checkpoint_dir, data_dir

CPUS_PER_JOB_ENV = "CNNKIT_RAY_CPUS_PER_JOB"
POLL_S = 0.25           # the manager drains a running job's events this often
PUSH_S = 0.2            # a worker sends its buffered events at least this often
CHECK_S = 0.2           # a worker asks whether Stop was pressed at most this often
CANCEL_GRACE_S = 15.0   # after Stop, how long a training may take to reach its next batch before Ray ends it


class RayAddressError(ValueError):
    """CNNKIT_RAY_ADDRESS names something this app cannot connect to."""


@ray.remote(num_cpus=0)
class _Hub:
    """Per job: the progress events not yet collected and whether Stop was pressed. Methods are tiny."""

    def __init__(self):
        self.events: dict[str, list] = {}
        self.cancelled: set[str] = set()

    def push(self, job_id: str, events: list) -> None:
        self.events.setdefault(job_id, []).extend(events)

    def drain(self, job_id: str) -> list:
        return self.events.pop(job_id, [])

    def cancel(self, job_id: str) -> None:
        self.cancelled.add(job_id)

    def is_cancelled(self, job_id: str) -> bool:
        return job_id in self.cancelled

    def forget(self, job_id: str) -> None:
        self.events.pop(job_id, None)
        self.cancelled.discard(job_id)


class _RemoteCancelFlag:
    """What train() gets as cancel_event on a worker: is_set() says whether Stop was pressed in the app, asking
    the hub at most every CHECK_S and never waiting for the answer (so a batch never waits on the network)."""

    def __init__(self, hub, job_id: str):
        self._hub, self._job_id = hub, job_id
        self._set = False
        self._pending = None
        self._asked = 0.0

    def is_set(self) -> bool:
        if self._set:
            return True
        if self._pending is not None and ray.wait([self._pending], timeout=0)[0]:
            self._set = bool(ray.get(self._pending))
            self._pending = None
        if self._pending is None and not self._set and time.monotonic() - self._asked >= CHECK_S:
            self._asked = time.monotonic()
            self._pending = self._hub.is_cancelled.remote(self._job_id)
        return self._set

    def set(self) -> None:
        self._set = True


class _EventPump:
    """train()'s on_progress on a worker: buffers events, sends them to the hub in order every PUSH_S (at once
    for the rare ones: status, run folder, epoch rows); close() waits until all have arrived."""

    def __init__(self, hub, job_id: str):
        self._hub, self._job_id = hub, job_id
        self._buffer: list = []
        self._sent = time.monotonic()
        self._last_ref = None

    def __call__(self, event: dict) -> None:
        self._buffer.append(event)
        if event.get("kind") != "step" or time.monotonic() - self._sent >= PUSH_S:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._last_ref = self._hub.push.remote(self._job_id, self._buffer)
            self._buffer = []
        self._sent = time.monotonic()

    def close(self) -> None:
        self.flush()
        if self._last_ref is not None:
            ray.get(self._last_ref)  # calls from one caller run in order: all events are in before the result


@ray.remote(max_retries=0)  # a crashed worker ends the job as failed (retrying would race the resume)
def _train_on_worker(hub, job_id: str, config_dict: dict, resume_from: Optional[str], kind_modules: list[str],
                     owner: str = ""):
    """One training on a Ray worker with the same cnnkit.train code; returns (status, result or error, trace).
    The worker steps back behind an app server's page renders on the same machine (cnnkit.threads)."""
    step_back_this_thread()
    for module in kind_modules:  # model kinds registered in the app (e.g. transfer) must exist here too
        importlib.import_module(module)
    from cnnkit.train import TrainConfig, train

    pump = _EventPump(hub, job_id)
    context = ray.get_runtime_context()
    # Where it trains, for the job's meta (a department's benchmark counts the nodes used).
    pump({"kind": "placement", "ray_node_id": context.get_node_id(), "ray_node_ip": ray.util.get_node_ip_address()})
    pump({"kind": "status", "phase": "starting",
          "message": f"training on {socket.gethostname()} ({ray.util.get_node_ip_address()}, Ray)", "fraction": None})
    try:
        result = train(TrainConfig.from_dict(config_dict), on_progress=pump,
                       cancel_event=_RemoteCancelFlag(hub, job_id), resume_from=resume_from, owner=owner)
        outcome = ("done", result, "")
    except Cancelled as exc:
        outcome = ("cancelled", str(exc) or "stopped before training started", "")
    except Exception as exc:
        outcome = ("failed", portable_exception(exc), traceback.format_exc(limit=3))
    finally:
        pump.close()
    return outcome


def _connect(address: Optional[str]) -> None:
    if ray.is_initialized():  # tests and notebooks may have started Ray themselves
        return
    if address and address.startswith(("http://", "https://")):
        raise RayAddressError(f"CNNKIT_RAY_ADDRESS={address} is the Ray Jobs API (for whole scripts); set it to "
                              "`auto` on a cluster machine or ray://<head>:10001 (Ray Client)")
    try:
        ray.init(address=None if address in (None, "", "local") else address, log_to_driver=False,
                 ignore_reinit_error=True)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise RayAddressError(f"cannot reach the Ray cluster at CNNKIT_RAY_ADDRESS={address}: {error}; start one "
                              "with `ray start --head` or unset CNNKIT_RAY_ADDRESS") from None


class RayBackend(RemoteTrainingBackend):
    """Runs trainings as Ray tasks (other jobs locally, see the module's docstring)."""

    name = "ray"

    def __init__(self, address: Optional[str] = None, cpus_per_job: Optional[int] = None):
        _connect(address)
        self.cpus_per_job = int(cpus_per_job or os.environ.get(CPUS_PER_JOB_ENV, "2"))
        self._hub = None
        self._hub_lock = threading.Lock()

    # --- what the cluster has ------------------------------------------------------------------
    def _gpus(self) -> int:
        return int(ray.cluster_resources().get("GPU", 0))

    def default_slots(self) -> int:
        """How many jobs per device the app lets run at once: the GPUs, or on a CPU cluster its CPUs / CPUs per job.
        (One number for every device: the manager's max_concurrent_per_device.)"""
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return max(1, self._gpus() or cpus // max(1, self.cpus_per_job))

    def resolve_device(self, requested: str) -> str:
        """"auto" is a GPU when the cluster has one (not when the app's machine has one)."""
        requested = str(requested or "auto")
        if requested == "auto":
            return "cuda" if self._gpus() else "cpu"
        if requested.startswith("cuda") and not self._gpus():
            raise ValueError(f"device {requested!r}: the Ray cluster has no GPU; choose cpu or auto")
        return "cuda" if requested.startswith("cuda") else requested

    # --- running ---------------------------------------------------------------------------------
    def hub(self):
        with self._hub_lock:
            if self._hub is None:
                self._hub = _Hub.remote()
            return self._hub

    def _task_options(self, device: str, node: Optional[str] = None) -> dict:
        return task_options(device, self.cpus_per_job, worker_env(), node)

    def _watch(self, manager, job: Job) -> None:
        """The app's side of one Ray training: submit it, move its events into the snapshot, pass Stop on."""
        from cnnkit.models.registry import MODEL_KINDS

        job_id, spec = job.snapshot.job_id, job.fn
        config = spec.config.to_dict()
        config["device"] = "cuda" if job.snapshot.device == "cuda" else config.get("device", "auto")
        kind_modules = sorted({kind.build.__module__ for kind in MODEL_KINDS.values()})
        try:
            hub = self.hub()
            ref = _train_on_worker.options(**self._task_options(job.snapshot.device,
                                                                 job.snapshot.meta.get("ray_node"))).remote(
                hub, job_id, config, spec.resume_from, kind_modules, spec.owner)
        except Exception as exc:  # e.g. the cluster went away
            manager._finish(job_id, None, RuntimeError(f"could not submit the job to Ray: {exc}"))
            return
        try:
            stop_pressed = self._follow(manager, job, ref, hub)
            self._collect(manager, job_id, hub)
        except BaseException as exc:  # Ray shut down or the cluster went away (Ray raises SystemExit then)
            manager._finish(job_id, None, RuntimeError(f"lost contact with the Ray cluster ({type(exc).__name__}: "
                                                       f"{exc}); the run keeps its last saved epoch"))
            return
        self._end(manager, job, ref, stop_pressed)
        hub.forget.remote(job_id)

    def _follow(self, manager, job: Job, ref, hub) -> bool:
        """Until the task ends: move its events over, pass Stop on. Returns whether Stop was pressed."""
        job_id = job.snapshot.job_id
        started = False
        stop_sent: Optional[float] = None
        while True:
            finished = bool(ray.wait([ref], timeout=POLL_S)[0])
            started = self._collect(manager, job_id, hub) or started
            if finished:
                return stop_sent is not None
            if job.cancel_event.is_set():
                if stop_sent is None:
                    hub.cancel.remote(job_id)
                    stop_sent = time.monotonic()
                if not started or time.monotonic() - stop_sent > CANCEL_GRACE_S:
                    ray.cancel(ref, force=started)  # waiting for a machine: just dequeued; stuck: worker ended
                    return True

    @staticmethod
    def _collect(manager, job_id: str, hub) -> bool:
        """Apply the events the worker has sent; whether there were any."""
        try:
            events = ray.get(hub.drain.remote(job_id), timeout=30)
        except ray.exceptions.GetTimeoutError:
            return False
        for event in events:
            manager._apply_event(job_id, event)
        return bool(events)

    def _end(self, manager, job: Job, ref, stop_pressed: bool) -> None:
        job_id = job.snapshot.job_id
        try:
            status, value, trace = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            self._mark_run(job, "cancelled", "stopped: Ray ended the job's worker")
            manager._finish(job_id, None, Cancelled("stopped on the Ray cluster"))
            return
        except ray.exceptions.RayError as exc:
            if stop_pressed:
                manager._finish(job_id, None, Cancelled("stopped: Ray ended the job's worker"))
                return
            message = died_message(exc, job.snapshot.meta.get("ray_node_ip"))
            self._mark_run(job, "failed", message)
            manager._finish(job_id, None, RuntimeError(message))
            return
        self._finish_remote(manager, job_id, status, value, trace)

    @staticmethod
    def _mark_run(job: Job, status: str, message: str) -> None:
        mark_run(job.snapshot.run_dir or job.fn.resume_from, status, message)


@ray.remote(max_retries=0)
def _warm_worker() -> str:
    """Start a worker with the trainings' imports done (torch and cnnkit.train: seconds of a core), before a class's
    first training on that node needs it; Ray keeps it for the trainings that come with the same settings."""
    step_back_this_thread()
    import cnnkit.train  # noqa: F401  (imported for its cost, not its names)

    return ray.util.get_node_ip_address()


def warm_workers(cpus_per_job: int, env: dict) -> list:
    """One warm-up task on each alive node with CPUs (the refs: awaiting them is up to the caller). A class's first
    trainings otherwise start a worker on each node in the minute every student presses Run, and on a machine
    that also renders pages the imports took the cores from the first renders (issue 31)."""
    refs = []
    for node in ray.nodes():
        if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) >= cpus_per_job:
            refs.append(_warm_worker.options(**task_options("cpu", cpus_per_job, env, node["NodeID"])).remote())
    return refs


def worker_env() -> dict:
    """The folders a worker must use, as this app sees them (shared storage: the same path everywhere)."""
    env = {DATA_DIR_ENV: str(data_dir()), CHECKPOINT_DIR_ENV: str(checkpoint_dir())}
    if os.environ.get(CACHE_DIR_ENV):
        env[CACHE_DIR_ENV] = os.environ[CACHE_DIR_ENV]
    return env


def task_options(device: str, cpus_per_job: int, env: dict, node: Optional[str] = None) -> dict:
    """Ray options for one training: one GPU for a CUDA run, else `cpus_per_job` CPUs; the folders in `env`;
    `node` (a Ray node id, e.g. from a job's meta["ray_node"]): only on that node, failing if it is gone."""
    resources = {"num_gpus": 1, "num_cpus": 1} if device == "cuda" else {"num_cpus": cpus_per_job}
    options = {**resources, "runtime_env": {"env_vars": dict(env)}}
    if node:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
    return options


def died_message(exc: BaseException, node_ip: Optional[str]) -> str:
    """What a job whose Ray worker or node stopped says, e.g. after its machine went away."""
    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    where = f"the Ray worker on node {node_ip}" if node_ip else "the Ray worker"
    return (f"{where} training this job stopped ({type(exc).__name__}: {reason}); the run keeps its last saved "
            "epoch: resume it from the run list")


def mark_run(run_dir: Optional[str], status: str, message: str) -> None:
    """A worker that died left its run marked running: say how it ended (through RunWriter, whose lock the
    dead worker's kernel has released), so it is listed as resumable on any machine."""
    from cnnkit.store import RunWriter

    if not run_dir:
        return
    try:
        with RunWriter.open(run_dir) as writer:
            writer.finish(status, message=message)
    except (ValueError, OSError):
        pass  # still locked (the worker lives on), finished or gone: leave it as it is


def create(address: Optional[str] = None, **options) -> RayBackend:
    return RayBackend(address, **options)


__all__ = ["CPUS_PER_JOB_ENV", "RayAddressError", "RayBackend", "create", "died_message", "mark_run", "task_options",
           "worker_env"]
