"""``mlgym bench --executor ray`` on a two-node Ray cluster started on this machine: a head and a
worker node, each with one CPU, its own custom resource and its own (fake: Ray takes the count on
trust) GPUs, two on the head and one on the worker. Episodes spread on both nodes (the node id is in
each ledger entry's host), each gets one of its node's GPU ids, an episode asking for more GPUs than
any node has is refused in one line, the driver alone writes the results, and after the worker node is
killed a ``--resume`` finishes the bench on the head. Every Ray process the test started is stopped by
pid (never ``ray stop``, which would stop other Ray sessions on the machine)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlgym_core.bench.local_cluster import LocalRayCluster, kill
from mlgym_core.processes import descendants

from .conftest import needs_games

pytestmark = [needs_games, pytest.mark.skipif(importlib.util.find_spec("ray") is None or not shutil.which("ray"),
                                              reason="ray is not installed (mlgym-core[ray])")]


@pytest.fixture
def cluster():
    c = LocalRayCluster()
    try:
        c.start_head(cpus=1, gpus=2, resources={"mlgym_head": 1})
        port = c.add_node(cpus=1, gpus=1, resources={"mlgym_worker": 1})
        yield {"address": c.address, "env": c.env, "cluster": c, "worker_port": port}
    finally:
        left = c.stop()
        assert not left, f"Ray processes left: {left}"


def _bench(cluster: dict, out: Path, runs: int, *extra: str, agent: str = "baseline") -> list[str]:
    return [sys.executable, "-m", "mlgym_core", "bench", "--tasks", "battleOfSexes", "--agents", agent,
            "--runs", str(runs), "--executor", "ray", "--ray-address", cluster["address"], "--output", str(out),
            "--no-progress", "--no-report", *extra]


def _ledger(out: Path) -> dict:
    return json.loads((out / "ledger.json").read_text())["episodes"]


# prints the live nodes, then what the bench's executor says to an episode asking for 3 GPUs
NODES = """import json, ray
from mlgym_core.bench.executors import RayExecutor
ray.init(address=%r, log_to_driver=False, configure_logging=False)
nodes = [[n['NodeID'][:12], n['Resources']] for n in ray.nodes() if n['Alive']]
try:
    RayExecutor(None, None, 0.0, None).submit({}, 1, 3)
    refused = None
except Exception as exc:
    refused = f"{type(exc).__name__}: {exc}"
print(json.dumps([nodes, refused]))
"""


def _nodes(cluster: dict) -> tuple[dict[str, str], dict[str, float], str | None]:
    """Node id prefix (as the ledger's host shows it) -> 'head' or 'worker'; each one's GPUs; the
    executor's refusal of an episode that asks for 3 GPUs."""
    r = subprocess.run([sys.executable, "-c", NODES % cluster["address"]], env=cluster["env"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    nodes, refused = json.loads(r.stdout.splitlines()[-1])
    role = {nid: ("head" if "mlgym_head" in res else "worker") for nid, res in nodes}
    return role, {role[nid]: res.get("GPU", 0) for nid, res in nodes}, refused


def test_bench_spreads_on_two_nodes_and_resumes_after_the_worker_node_dies(cluster, tmp_path):
    env = cluster["env"]
    nodes, gpus, refused = _nodes(cluster)
    assert sorted(nodes.values()) == ["head", "worker"] and gpus == {"head": 2, "worker": 1}
    # 3 GPUs in the cluster, but an episode's GPUs come from one node
    assert refused and refused.startswith("ConfigError: an episode asks for 3 GPUs") and "per node: 2, 1" in refused
    out = tmp_path / "bench"
    r = subprocess.run(_bench(cluster, out, 4, "--gpus-per-run", "1"), env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    led = _ledger(out)
    assert all(e["state"] == "done" for e in led.values()) and len(led) == 4
    used = {nodes[e["host"].rsplit("/", 1)[1]] for e in led.values()}
    assert used == {"head", "worker"}  # episodes ran on both nodes
    assert _run_dirs(out) == sorted(led)  # one run dir each, written by the driver
    for name, e in led.items():  # one GPU each, an id of its own node's (the worker has only GPU 0)
        devices = json.loads((out / name / "run.json").read_text())["spec"]["devices"]
        assert devices in ([["0"]] if nodes[e["host"].rsplit("/", 1)[1]] == "worker" else [["0"], ["1"]]), devices

    # the worker node dies while a bench runs; --resume finishes it on the head. Each episode replays
    # `sleep 5` before it submits, so the episode on the worker node is surely still running when the
    # node is killed (a quick episode could finish between the check and the kill).
    out2 = tmp_path / "bench2"
    slow = tmp_path / "slow.traj"
    slow.write_text(json.dumps({"trajectory": [{"action": "sleep 5"}, {"action": "submit"}],
                                "info": {"exit_status": "submitted"}}))
    held = ("-o", f"trajectory={slow}")
    proc = subprocess.Popen(_bench(cluster, out2, 2, *held, agent="replay"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    raylet = cluster["cluster"].raylets(cluster["worker_port"])
    assert len(raylet) == 1
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:  # until the worker node's episode has a sandbox
        if any(_argv0(p) == b"bwrap" for p in descendants(raylet[0])):
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the bench ended before an episode started on the worker node"
    worker_node = [raylet[0], *descendants(raylet[0])]
    kill(worker_node)
    killed_at = time.time()
    _, err = proc.communicate(timeout=300)
    first = _ledger(out2)
    lost = [k for k, v in first.items() if int(v.get("attempts") or 1) > 1 or v["state"] != "done"]
    assert lost, (first, err[-1500:])  # the worker node's episode was lost: retried, or left for --resume
    r = subprocess.run(_bench(cluster, out2, 2, "--resume", *held, agent="replay"), env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, (err[-1500:], r.stderr[-3000:])
    led = _ledger(out2)
    assert len(led) == 2 and all(e["state"] == "done" for e in led.values()), led
    after = [e for e in led.values() if json.loads((out2 / _name(led, e) / "run.json").read_text())
             ["timings"]["started"] > _iso(killed_at + 1)]
    assert all(nodes[e["host"].rsplit("/", 1)[1]] == "head" for e in after)
    assert _run_dirs(out2) == sorted(led)
    assert not list(out2.glob(".incoming-*"))


def _argv0(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].rsplit(b"/", 1)[-1]
    except OSError:
        return b""


def _run_dirs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))


def _name(led: dict, entry: dict) -> str:
    return next(k for k, v in led.items() if v is entry)


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()
