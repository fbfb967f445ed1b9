"""Fork cost: ``env.fork()`` of an episode with a 1 GB workspace, against a cold ``env.reset()`` of
battleOfSexes and against a fork of an episode with only the starter files (tens of KB), same run.

The workspace is copied with ``cp --reflink=always`` where the filesystem shares extents (XFS,
Btrfs: the 1 GB fork then costs about what a small one does), else with a full ``cp -a`` (ext4, tmpfs);
the output says which. ``--work-dir`` puts the episodes on another filesystem (e.g. a reflink-capable
mount) to compare. Targets (issue 17): 1 GB fork < 5x cold reset and < 2x small fork.
Run: ``python benchmarks/bench_fork.py [--gb 1] [--repeat 3] [--work-dir DIR]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def timed(fn, repeat: int) -> tuple[float, list]:
    times, outs = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        outs.append(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=1.0, help="Size of the big workspace (random bytes, 64 MiB files).")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work-dir", default=None, help="Folder for the episodes (default: a new one under /tmp).")
    a = ap.parse_args()
    from mlgym_core.env import MLGymEnv

    work = Path(a.work_dir or tempfile.mkdtemp(prefix="mlgym-bench-fork-"))
    env = MLGymEnv("battleOfSexes", prestart=False, work_dir=work)
    env.reset()
    cold, _ = timed(lambda: env.reset(), a.repeat)  # prestart off: every reset starts a new sandbox

    def fork_and_close(parent: MLGymEnv) -> dict:
        t0 = time.perf_counter()
        child = parent.fork()
        info = dict(child.fork_info, fork_s=time.perf_counter() - t0)
        child.close()  # not timed: a reset's teardown of the previous sandbox runs in the background too
        return info

    env.step("export FOO=bar; cd /home/agent/workspace")
    small_kb = sum(f.stat().st_size for f in env.workspace_host.rglob("*") if f.is_file()) / 1024
    small = statistics.median(i["fork_s"] for i in timed(lambda: fork_and_close(env), a.repeat)[1])
    chunk = 64 << 20
    big_dir = env.workspace_host / "big"
    big_dir.mkdir()
    for i in range(max(1, int(a.gb * (1 << 30) // chunk))):
        (big_dir / f"part{i:03d}.bin").write_bytes(os.urandom(chunk))
    os.sync()
    big_gb = sum(f.stat().st_size for f in big_dir.iterdir()) / (1 << 30)
    infos = timed(lambda: fork_and_close(env), a.repeat)[1]
    big = statistics.median(i["fork_s"] for i in infos)
    env.close()
    shutil.rmtree(work, ignore_errors=True)
    how = infos[0]["workspace_copy"]
    print(f"fork benchmark (median of {a.repeat}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus; "
          f"workspace copy: {how}; copy of the big workspace {statistics.median(i['copy_s'] for i in infos):.3f} s)")
    print(f"  cold env.reset() of battleOfSexes        {cold * 1000:9.1f} ms")
    print(f"  fork, starter workspace ({small_kb:.0f} KB)        {small * 1000:9.1f} ms")
    print(f"  fork, {big_gb:.2f} GB workspace                 {big * 1000:9.1f} ms")
    print(f"  ratio big fork / cold reset: {big / cold:.2f} (target < 5)")
    print(f"  ratio big fork / small fork: {big / small:.2f} (target < 2)")
    print(f"  ratio small fork / cold reset: {small / cold:.2f}")


if __name__ == "__main__":
    main()
