"""A throw-away Ray cluster of several nodes on this machine, for the tests and the benchmark of
``mlgym bench --executor ray`` (``tests/test_ray_cluster.py``, ``benchmarks/bench_ray_cluster.py``).

Each node is a ``ray start`` with CPUs, GPUs (Ray takes the count on trust, so no GPU is needed) and
custom resources of its own, all under one temporary folder, with token authentication. ``stop()``
kills every process of the cluster by pid: never ``ray stop``, which would stop every other Ray
session on the machine too."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import MlgymError
from ..processes import descendants, live


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: every socket stays bound until all are picked, so the kernel never
    hands one out twice."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def kill(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


class LocalRayCluster:
    """Start with :meth:`start_head`, add nodes with :meth:`add_node`; ``address`` and ``env`` are
    what a driver needs (``RAY_ADDRESS``-style address, the environment with the token)."""

    def __init__(self) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="mlgym-ray-")  # short: Ray's socket paths live below it
        self.env = {**os.environ, "RAY_DISABLE_USAGE_STATS": "1", "RAY_AUTH_MODE": "token",
                    "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.env.pop("RAY_ADDRESS", None)
        self.address = ""

    def _common(self, cpus: int, gpus: int, resources: dict[str, float] | None) -> list[str]:
        return [f"--num-cpus={cpus}", f"--num-gpus={gpus}", f"--resources={json.dumps(resources or {})}",
                "--node-ip-address=127.0.0.1", "--disable-usage-stats"]

    def start_head(self, *, cpus: int = 1, gpus: int = 0, resources: dict[str, float] | None = None) -> None:
        gcs = free_ports(1)[0]
        r = subprocess.run(["ray", "start", "--head", f"--port={gcs}", "--include-dashboard=false",
                            f"--temp-dir={self.temp_dir}", *self._common(cpus, gpus, resources)],
                           env=self.env, capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise MlgymError(f"the Ray head node did not start: {r.stderr.strip()[-2000:]}")
        self.address = f"127.0.0.1:{gcs}"

    def add_node(self, *, cpus: int = 1, gpus: int = 0, resources: dict[str, float] | None = None) -> int:
        """Start one more node; returns its node manager port."""
        for _attempt in range(3):  # the running nodes took random ports of their own meanwhile: one may be ours
            node_port, object_port = free_ports(2)
            r = subprocess.run(["ray", "start", f"--address={self.address}", f"--node-manager-port={node_port}",
                                f"--object-manager-port={object_port}", *self._common(cpus, gpus, resources)],
                               env=self.env, capture_output=True, text=True, timeout=180)
            if r.returncode == 0:
                return node_port
        raise MlgymError(f"a Ray worker node did not start: {r.stderr.strip()[-2000:]}")

    def pids(self) -> list[int]:
        """Every process of the cluster: each one whose command line names its temporary folder, and below."""
        roots = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    if self.temp_dir.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                        roots.append(int(name))
                except OSError:
                    pass
        return sorted({p for r in roots for p in (r, *descendants(r))})

    def raylets(self, node_port: int) -> list[int]:
        """The raylet of the node :meth:`add_node` started with ``node_port`` (its workers run below it):
        the cluster's processes whose command line names that port (one, while the node lives)."""
        flag = f"--node_manager_port={node_port}".encode()
        found = []
        for p in self.pids():
            try:
                if flag in Path(f"/proc/{p}/cmdline").read_bytes():
                    found.append(p)
            except OSError:
                pass
        return found

    def stop(self) -> list[int]:
        """Kill every process of the cluster and remove its folder; returns the processes still alive (none)."""
        for _ in range(3):
            kill(self.pids())
            time.sleep(0.5)
        left = live(self.pids())
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        return left
