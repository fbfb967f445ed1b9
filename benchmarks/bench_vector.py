"""Vector env throughput: N episodes stepping ``echo hi`` together, against N bare persistent bash
shells doing the same in the same run (each round: the command to every shell, then every answer).

The episodes pay for the sandbox (bwrap), the shell protocol (a control line, the syntax check, the
end marker, the output cap) and the episode's bookkeeping (observation, info, history); the bare
shells pay nothing of that. Target (issue 17): aggregate steps/s of
64 episodes at least 0.5x the 64 bare shells'.
Run: ``python benchmarks/bench_vector.py [--episodes 64] [--rounds 20]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import shutil
import subprocess
import tempfile
import time


def bare_shells(n: int, rounds: int) -> float:
    shells = [subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               bufsize=0) for _ in range(n)]
    try:
        for p in shells:  # warm: every shell up
            p.stdin.write(b"echo hi\n")
        for p in shells:
            p.stdout.readline()
        poller = select.poll()
        fds = {p.stdout.fileno(): p for p in shells}
        for fd in fds:
            poller.register(fd, select.POLLIN)
        t0 = time.perf_counter()
        for _ in range(rounds):
            for p in shells:
                p.stdin.write(b"echo hi\n")
            left = set(fds)
            while left:
                for fd, _ev in poller.poll():
                    if fd in left:
                        assert os.read(fd, 64) == b"hi\n"
                        left.discard(fd)
        return n * rounds / (time.perf_counter() - t0)
    finally:
        for p in shells:
            p.stdin.close()
            p.wait()
            p.stdout.close()


def _sandbox_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by the processes ``pids`` and everything below them (schedstat: ns)."""
    from mlgym_core.processes import descendants

    total = 0
    for pid in {q for p in pids for q in (p, *descendants(p))}:
        try:
            with open(f"/proc/{pid}/schedstat", "rb") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def vector_env(n: int, rounds: int) -> tuple[float, str, float, float]:
    from mlgym_core.vector import MLGymVectorEnv

    work = tempfile.mkdtemp(prefix="mlgym-vec-")
    vec = MLGymVectorEnv("battleOfSexes", n, max_steps=rounds + 5, work_dir=work)
    try:
        vec.reset()
        vec.step(["echo hi"] * n)
        shells = [e.sandbox.shell.pid for e in vec.envs if getattr(e.sandbox, "shell", None) is not None]
        box0, py0, t0 = _sandbox_cpu(shells), _self_cpu(), time.perf_counter()
        for _ in range(rounds):
            obs, *_ = vec.step(["echo hi"] * n)
            assert obs == ("hi",) * n
        wall, steps = time.perf_counter() - t0, n * rounds
        return (steps / wall, vec.envs[0].isolation, (_self_cpu() - py0) / steps * 1e6,
                (_sandbox_cpu(shells) - box0) / steps * 1e6)
    finally:
        vec.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    base = bare_shells(a.episodes, a.rounds)
    vec, isolation, py_us, box_us = vector_env(a.episodes, a.rounds)
    print(f"{a.episodes} episodes x {a.rounds} rounds of `echo hi` (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cpus)")
    print(f"  bare persistent bash shells   {base:9.0f} steps/s")
    print(f"  MLGymVectorEnv ({isolation})        {vec:9.0f} steps/s")
    print(f"  ratio vector / bare: {vec / base:.2f} (target >= 0.5)")
    print(f"  CPU per vector step: {py_us:.0f} us in this Python process (the shell protocol's reads and writes, "
          f"the episodes' bookkeeping), {box_us:.0f} us in the sandboxes (bash)")


if __name__ == "__main__":
    main()
