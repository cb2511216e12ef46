"""A real Ray cluster of separate nodes on this machine, for the department test and benchmark (issue 31).

Each node is its own `ray start` (the head on 127.0.0.2, the others on 127.0.0.3, ...: loopback addresses only),
with its own ports, and token authentication (RAY_AUTH_MODE=token, one RAY_AUTH_TOKEN for all). Not
ray.cluster_utils inside the driver: these are the processes a second machine would run, and killing one
node's processes is a machine going away.

Every process a node starts carries a marker in its environment (CNNKIT_CLUSTER_MARK=<cluster>-n<i>), so a
node is killed, and the whole cluster cleaned up, by process id: never `ray stop`, which would also stop any
other Ray on this machine."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARK_ENV = "CNNKIT_CLUSTER_MARK"
# A node that stops answering is declared dead after about period × threshold (Ray's default is ~30 s).
FAST_HEALTH_CHECKS = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "1000",
                      "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3"}
PORTS_PER_NODE = 120  # 10 named ports and 100 worker ports


def _free_block(count: int, host: str = "127.0.0.1") -> int:
    """The first port of `count` consecutive ports that are free now."""
    for _ in range(200):
        base = 20000 + secrets.randbelow(40000 - count)
        ok = True
        for port in range(base, base + count, 7):  # a sample: a block in use is rarely used sparsely
            with socket.socket() as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free block of ports")


def _marked_pids(mark: str) -> list[int]:
    wanted = f"{MARK_ENV}={mark}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in environ:
            pids.append(int(entry))
    return pids


@dataclass
class Cluster:
    name: str
    address: str                      # the head's GCS address, for ray.init(address=...)
    env: dict                         # what a driver needs in its environment (the auth token)
    ips: list[str]
    temp_dir: Path
    killed: list[int] = field(default_factory=list)

    def node_mark(self, index: int) -> str:
        return f"{self.name}-n{index}"

    def pids(self, index: int) -> list[int]:
        return _marked_pids(self.node_mark(index))

    def kill_node(self, index: int) -> int:
        """Kill every process of node `index` (SIGKILL: a machine that goes away says nothing). Returns how many."""
        pids = self.pids(index)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.killed.append(index)
        return len(pids)

    def stop(self) -> None:
        # Again while any is left: a raylet can start its agents anew in the moment before its own kill (they
        # outlived the benchmarks, orphaned).
        for _ in range(10):
            for index in range(len(self.ips)):
                self.kill_node(index)
            if not any(self.pids(index) for index in range(len(self.ips))):
                return
            time.sleep(0.2)


def _ray_start(args: list[str], env: dict, log: Path) -> None:
    ray_bin = Path(sys.executable).parent / "ray"
    with log.open("ab") as out:
        done = subprocess.run([str(ray_bin), "start", *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                              timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"ray start {' '.join(args[:3])} failed (exit {done.returncode}); see {log}")


@contextlib.contextmanager
def ray_cluster(temp_dir: Path, nodes: int = 2, cpus_per_node: int = 1, extra_env: dict | None = None):
    """Start a head and `nodes - 1` more nodes; yields a Cluster; kills every process it started at the end,
    also when something failed."""
    name = f"cnnkit-{secrets.token_hex(3)}"
    token = secrets.token_hex(16)
    ips = [f"127.0.0.{2 + i}" for i in range(nodes)]
    temp_dir = Path(temp_dir)
    temp_dir.mkdir(parents=True, exist_ok=True)
    base = _free_block(PORTS_PER_NODE * nodes + 20)
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    common = {**os.environ, **auth, **FAST_HEALTH_CHECKS, **(extra_env or {}),
              "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    gcs_port = base
    cluster = Cluster(name, f"{ips[0]}:{gcs_port}", auth, ips, temp_dir)
    log = temp_dir / "ray-start.log"
    try:
        for index, ip in enumerate(ips):
            p = base + 20 + index * PORTS_PER_NODE
            node_args = ["--node-ip-address", ip, "--num-cpus", str(cpus_per_node), "--disable-usage-stats",
                         "--node-manager-port", str(p), "--object-manager-port", str(p + 1),
                         "--dashboard-agent-listen-port", str(p + 2), "--dashboard-agent-grpc-port", str(p + 3),
                         "--metrics-export-port", str(p + 4), "--runtime-env-agent-port", str(p + 5),
                         "--min-worker-port", str(p + 20), "--max-worker-port", str(p + 119)]
            env = {**common, MARK_ENV: cluster.node_mark(index)}
            if index == 0:
                _ray_start(["--head", "--port", str(gcs_port), "--temp-dir", str(temp_dir),
                            "--ray-client-server-port", str(base + 1), "--dashboard-port", str(base + 2),
                            "--include-dashboard", "false", *node_args], env, log)
            else:
                _ray_start(["--address", cluster.address, *node_args], env, log)
        yield cluster
    finally:
        cluster.stop()


@contextlib.contextmanager
def local_ray(namespace: str | None = None):
    """A local Ray instance of 2 CPUs in this process for a test module: no dashboard, the workers' logs kept out
    of the test's output; shut down after."""
    import ray

    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, namespace=namespace)
    try:
        yield
    finally:
        ray.shutdown()


def wait_for_nodes(count: int, timeout: float = 60) -> list[dict]:
    """The alive nodes (ray.nodes()) once there are `count` of them (the driver is connected)."""
    import ray

    deadline = time.monotonic() + timeout
    while True:
        alive = [n for n in ray.nodes() if n.get("Alive")]
        if len(alive) >= count or time.monotonic() > deadline:
            return alive
        time.sleep(0.5)


def connect(cluster: Cluster, **init_options) -> None:
    """ray.init to `cluster` from a process that imported ray before it knew the cluster's token (pytest): Ray
    reads RAY_AUTH_MODE and the token when it is imported, so after setting them its config is read again (as
    Ray itself does when it turns token auth on) and the cached token is dropped."""
    import ray
    from ray._raylet import AuthenticationTokenLoader, Config

    os.environ.update(cluster.env)
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
    ray.init(address=cluster.address, log_to_driver=False, **init_options)


def disconnect(cluster: Cluster) -> None:
    """Undo connect(): shut the driver down and drop the cluster's token from this process (the environment and
    Ray's cached config), so a later ray.init in the same pytest process starts a local Ray of its own."""
    import ray
    from ray._raylet import AuthenticationTokenLoader, Config

    ray.shutdown()
    for key in cluster.env:
        os.environ.pop(key, None)
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
