"""``mlgym bench --executor ray`` on one Ray node, then on two: episodes per minute, same run.

A Ray cluster is started on this machine (``mlgym_core.bench.local_cluster``): a head node with
``--cpus`` CPUs runs the episodes alone, then a worker node with as many CPUs joins and the same
episodes run again on both. "wall" counts the whole ``mlgym bench`` command (the driver's start,
connecting to the cluster, writing the results); "steady" counts from the first episode's start to
the last one's end (``run.json`` timings). The nodes share this machine's cores, so on a 2-core
machine two 1-CPU nodes can at most double the rate; on a real cluster each node brings its own.
Every Ray process started here is stopped by pid at the end.
Run: ``python benchmarks/bench_ray_cluster.py [--episodes 12] [--cpus 1] [--task battleOfSexes]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bench(cluster, out: Path, task: str, episodes: int) -> dict:
    cmd = [sys.executable, "-m", "mlgym_core", "bench", "--tasks", task, "--agents", "baseline",
           "--runs", str(episodes), "--executor", "ray", "--ray-address", cluster.address, "--output", str(out),
           "--no-progress", "--no-report"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=cluster.env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"mlgym bench failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
    ledger = json.loads((out / "ledger.json").read_text())["episodes"]
    done = [e for e in ledger.values() if e["state"] == "done"]
    times = []
    for run in out.iterdir():
        if (run / "run.json").is_file():
            t = json.loads((run / "run.json").read_text())["timings"]
            times.append((dt.datetime.fromisoformat(t["started"]), dt.datetime.fromisoformat(t["ended"])))
    span = (max(e for _s, e in times) - min(s for s, _e in times)).total_seconds()
    return {"episodes": len(done), "wall_s": wall, "per_min_wall": len(done) / wall * 60,
            "per_min_steady": len(done) / span * 60 if span > 0 else float("nan"),
            "nodes_used": len({e["host"].rsplit("/", 1)[-1] for e in done})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=12)
    ap.add_argument("--cpus", type=int, default=1, help="CPUs of each node (default 1).")
    ap.add_argument("--task", default="battleOfSexes")
    a = ap.parse_args()
    from mlgym_core.bench.local_cluster import LocalRayCluster

    cluster = LocalRayCluster()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="mlgym-bench-ray-") as tmp:
            cluster.start_head(cpus=a.cpus)
            rows.append(("1 node", bench(cluster, Path(tmp) / "one", a.task, a.episodes)))
            cluster.add_node(cpus=a.cpus)
            rows.append(("2 nodes", bench(cluster, Path(tmp) / "two", a.task, a.episodes)))
    finally:
        left = cluster.stop()
    print(f"mlgym bench --executor ray: {a.episodes} {a.task} baseline episodes, nodes of {a.cpus} CPU(s) "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus)")
    print(f"  {'':8} {'episodes':>8} {'nodes used':>10} {'wall':>8} {'episodes/min':>13} {'steady/min':>11}")
    for name, r in rows:
        print(f"  {name:8} {r['episodes']:8d} {r['nodes_used']:10d} {r['wall_s']:7.1f}s {r['per_min_wall']:13.1f} "
              f"{r['per_min_steady']:11.1f}")
    one, two = rows[0][1], rows[1][1]
    print(f"  two nodes / one node: {two['per_min_wall'] / one['per_min_wall']:.2f} (wall), "
          f"{two['per_min_steady'] / one['per_min_steady']:.2f} (steady)")
    print(f"  Ray processes left after stop: {len(left)}")


if __name__ == "__main__":
    main()
