"""Density: N concurrent idle episodes of a game task in one process, and what each one costs.

Starts N episodes of ``battleOfSexes`` (``MLGymEnv`` + ``reset()``, ``--workers`` at a time), has each
answer one command while all N are alive, measures, then closes them all and checks that nothing is left.
Measured while all N are alive:
  * memory: total PSS (proportional set size: shared pages split between their users) of every process
    below this one (sh/bwrap/bash of each sandbox), plus this process's own PSS growth (the Python side);
  * file descriptors held by this process, processes below it, threads in it;
  * start time (all N, and per episode).
Baseline, measured in the same run: N bare ``bash --noprofile --norc`` processes on pipes, each
answering the same command (no sandbox, no isolation). Ratios are episodes / baseline.
Run: ``python benchmarks/bench_density.py [--episodes 1000] [--workers 8]`` (root or not; bwrap if present).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            kids.setdefault(int(stat[stat.rfind(b")") + 2:].split()[1]), []).append(int(name))
    return kids


def descendants(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        for c in kids.get(todo.pop(), ()):
            out.append(c)
            todo.append(c)
    return out


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def footprint() -> dict[str, int]:
    """This process's fds, threads and PSS; the processes below it and their total PSS."""
    me = os.getpid()
    procs = descendants(me)
    threads = int(next(ln.split()[1] for ln in Path("/proc/self/status").read_text().splitlines()
                       if ln.startswith("Threads:")))
    return {"fds": len(os.listdir("/proc/self/fd")), "threads": threads, "pids": len(procs),
            "children_pss_kb": sum(pss_kb(p) for p in procs), "self_pss_kb": pss_kb(me)}


def baseline_bash(n: int) -> dict[str, float]:
    before = footprint()
    t0 = time.perf_counter()
    shells = [subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               start_new_session=True) for _ in range(n)]
    for i, p in enumerate(shells):
        p.stdin.write(f"echo {i}\n".encode())
        p.stdin.flush()
    for i, p in enumerate(shells):
        assert p.stdout.readline() == f"{i}\n".encode()
    start_s = time.perf_counter() - t0
    during = footprint()
    for p in shells:
        p.stdin.close()
        p.wait()
        p.stdout.close()
    return _delta("bare bash", n, before, during, start_s)


def episodes(n: int, workers: int, task: str) -> dict[str, float]:
    from mlgym_core.env import MLGymEnv

    work = Path(tempfile.mkdtemp(prefix="mlgym-density-"))
    warm = MLGymEnv(task, prestart=False, work_dir=work)  # imports, task preparation, tool files: once
    with ThreadPoolExecutor(1) as one:  # from a thread, so the process's one spawner thread exists before
        one.submit(warm.reset).result()
    warm.close()
    gc.collect()
    before = footprint()
    envs = [MLGymEnv(task, prestart=False, work_dir=work) for _ in range(n)]
    # one pool for the episodes' whole life: bwrap --die-with-parent is PR_SET_PDEATHSIG, which fires
    # when the *thread* that started the sandbox exits
    pool = ThreadPoolExecutor(workers)
    t0 = time.perf_counter()
    list(pool.map(lambda e: e.reset(), envs))
    start_s = time.perf_counter() - t0
    outs = list(pool.map(lambda ie: ie[1].step(f"echo {ie[0]}")[0], enumerate(envs)))
    assert outs == [str(i) for i in range(n)], "an episode gave a wrong answer"
    during = footprint()
    during["threads"] -= workers  # the benchmark's own pool
    isolation = envs[0].isolation
    list(pool.map(lambda e: e.close(), envs))
    pool.shutdown()
    del envs
    gc.collect()
    after = footprint()
    row = _delta(f"episodes ({isolation})", n, before, during, start_s)
    row["left_after_close"] = {"pids": after["pids"] - before["pids"], "fds": after["fds"] - before["fds"],
                               "threads": after["threads"] - before["threads"]}
    row["leftover_folders"] = len(list(work.iterdir()))
    shutil.rmtree(work, ignore_errors=True)
    return row


def _delta(name: str, n: int, before: dict[str, int], during: dict[str, int], start_s: float) -> dict:
    mem_kb = during["children_pss_kb"] + max(during["self_pss_kb"] - before["self_pss_kb"], 0)
    return {"name": name, "n": n, "start_s": round(start_s, 3), "start_ms_each": round(start_s / n * 1000, 2),
            "memory_mb": round(mem_kb / 1024, 1), "memory_mb_each": round(mem_kb / 1024 / n, 3),
            "sandbox_pss_mb_each": round(during["children_pss_kb"] / 1024 / n, 3),
            "python_pss_mb_each": round(max(during["self_pss_kb"] - before["self_pss_kb"], 0) / 1024 / n, 3),
            "fds_each": round((during["fds"] - before["fds"]) / n, 2),
            "pids_each": round((during["pids"] - before["pids"]) / n, 2),
            "threads": during["threads"] - before["threads"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--task", default="battleOfSexes")
    ap.add_argument("--json", action="store_true", help="Print one JSON object instead of the table.")
    a = ap.parse_args()
    base = baseline_bash(a.episodes)
    ep = episodes(a.episodes, a.workers, a.task)
    ratios = {k: round(ep[k] / base[k], 2) if base[k] else None
              for k in ("memory_mb_each", "fds_each", "pids_each", "start_ms_each")}
    result = {"load": os.getloadavg(), "cpus": os.cpu_count(), "baseline": base, "episodes": ep,
              "ratio_episode_to_bash": ratios}
    if a.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{a.episodes} concurrent idle episodes of {a.task} (load average {result['load'][0]:.1f} on "
          f"{result['cpus']} cpus)")
    for row in (base, ep):
        print(f"  {row['name']:<22} start {row['start_s']:7.2f} s ({row['start_ms_each']:.1f} ms each)  "
              f"memory {row['memory_mb']:8.1f} MB ({row['memory_mb_each']:.3f} MB each)  "
              f"fds/each {row['fds_each']:.2f}  pids/each {row['pids_each']:.2f}  threads +{row['threads']}")
    print(f"  episode: sandbox PSS {ep['sandbox_pss_mb_each']:.3f} MB + python {ep['python_pss_mb_each']:.3f} MB each")
    print(f"  ratio episode/bash: {ratios}")
    print(f"  left after close: {ep['left_after_close']}, episode folders left: {ep['leftover_folders']}")
    ok = ep["memory_mb"] < 2048 and not any(ep["left_after_close"].values()) and not ep["leftover_folders"]
    print("  target (< 2 GB total, nothing left):", "met" if ok else "NOT met")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
