"""Many concurrent episodes in one process: each answers, each costs a bounded number of descriptors,
processes and threads, and closing them leaves nothing.

The suite runs 100 (a per-episode leak shows at 100 as at 1,000); ``MLGYM_DENSITY_EPISODES=1000``
runs the issue's thousand (CI does, as a step of its own; about a minute on an idle 2-core machine),
and ``benchmarks/bench_density.py`` measures their memory."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlgym_core.env import MLGymEnv
from mlgym_core.processes import descendants, live as _live

from .conftest import needs_games

pytestmark = needs_games

EPISODES = int(os.environ.get("MLGYM_DENSITY_EPISODES") or 100)
WORKERS = 8


def _threads() -> int:
    return int(next(ln.split()[1] for ln in Path("/proc/self/status").read_text().splitlines()
                    if ln.startswith("Threads:")))


def test_many_episodes_answer_and_close_leaving_nothing(tmp_path):
    work = tmp_path / "work"
    warm = MLGymEnv("battleOfSexes", prestart=False, work_dir=work)  # task files and imports once,
    with ThreadPoolExecutor(1) as one:  # and from a thread, so the process's one spawner thread exists
        one.submit(warm.reset).result()
    warm.close()
    fds0, procs0, threads0 = len(os.listdir("/proc/self/fd")), _live(descendants(os.getpid())), _threads()
    envs = [MLGymEnv("battleOfSexes", prestart=False, work_dir=work) for _ in range(EPISODES)]
    # one pool serves the episodes' whole life (sandboxes started off the main thread are forked
    # by the shell's one persistent spawner thread, so they would outlive these threads anyway)
    pool = ThreadPoolExecutor(WORKERS)
    try:
        list(pool.map(lambda e: e.reset(), envs))
        answers = list(pool.map(lambda ie: ie[1].step(f"echo episode-{ie[0]}")[0], enumerate(envs)))
        assert answers == [f"episode-{i}" for i in range(EPISODES)]
        fds = len(os.listdir("/proc/self/fd")) - fds0
        procs = len(_live(descendants(os.getpid()))) - len(procs0)
        threads = _threads() - threads0
        per_episode = {"fds": fds / EPISODES, "pids": procs / EPISODES}
        assert fds <= 3 * EPISODES, per_episode  # two pipes to the shell and the command pipe
        assert procs <= 3 * EPISODES, per_episode  # bwrap, its pid-1, bash (1 without bwrap)
        assert threads <= WORKERS + 2, threads  # no thread per episode in core
        assert len({e.workspace_host for e in envs}) == EPISODES
    finally:
        list(pool.map(lambda e: e.close(), envs))
        pool.shutdown()
    assert _live(descendants(os.getpid())) == procs0
    assert len(os.listdir("/proc/self/fd")) == fds0
    assert _threads() <= threads0
    assert list(work.iterdir()) == []  # every episode folder removed
    assert not any(e._tools.installed for e in envs)
    shutil.rmtree(work, ignore_errors=True)
