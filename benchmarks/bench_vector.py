"""Vector env throughput: N episodes stepping ``echo hi`` together, against N bare persistent bash
shells doing the same in the same run (each round: the command to every shell, then every answer).

It measures the ladder between the two on the same N shells, so the output shows where the time goes:
bare bash; bash in the episodes' sandboxes (bwrap); the same with an end marker after each command
(exit code and directory, the least a driver needs); the episodes' shells driven by the MLGym shell
protocol alone (the syntax check, ``$LAST_ACTION``, ``</dev/null``, the marker); and
``MLGymVectorEnv.step`` (the episodes' bookkeeping too). Target (issue 17): aggregate steps/s of 64
episodes at least 0.5x the 64 bare shells'.
Run: ``python benchmarks/bench_vector.py [--episodes 64] [--rounds 50]``.
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
from collections.abc import Callable


def _measured(pids: list[int], steps: int, run: Callable[[], object]) -> tuple[float, float, float]:
    """Run ``run`` (``steps`` steps in all, in the shells ``pids``): (steps/s, CPU us per step in this
    process, CPU us per step in the shells and everything below them)."""
    box0, py0, t0 = _sandbox_cpu(pids), _self_cpu(), time.perf_counter()
    run()
    wall = time.perf_counter() - t0
    return steps / wall, (_self_cpu() - py0) / steps * 1e6, (_sandbox_cpu(pids) - box0) / steps * 1e6


def _drive(writers: list[tuple[int, int]], step: bytes, done: bytes, rounds: int) -> None:
    """``rounds`` rounds of: ``step`` written to every (write fd, read fd) pair, then each answer read
    until it ends with ``done``."""
    poller = select.poll()
    for _w, r in writers:
        poller.register(r, select.POLLIN)
    for _ in range(rounds):
        got = {r: b"" for _w, r in writers}
        for w, _r in writers:
            os.write(w, step)
        while got:
            for r, _ev in poller.poll():
                if r in got:
                    got[r] += os.read(r, 4096)
                    if got[r].endswith(done):
                        del got[r]


def raw_shells(starts: list[tuple[list[str], dict[str, str] | None, str | None]], rounds: int, *, boot: bytes = b"",
               step: bytes = b"echo hi\n", done: bytes = b"hi\n") -> tuple[float, float, float]:
    """One persistent shell per (argv, env, cwd) in ``starts`` (each runs ``boot`` first), stepping
    ``step``: (steps/s, CPU us per step in this process, CPU us per step in the shells)."""
    shells = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, cwd=cwd, bufsize=0) for argv, env, cwd in starts]
    try:
        pairs = [(p.stdin.fileno(), p.stdout.fileno()) for p in shells]
        for w, _r in pairs:
            os.write(w, boot)
        _drive(pairs, step, done, 1)  # warm: every shell up
        return _measured([p.pid for p in shells], len(shells) * rounds, lambda: _drive(pairs, step, done, rounds))
    finally:
        for p in shells:
            p.stdin.close()
        for p in shells:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
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


MARKER_BOOT = b"exec 2>&1\n__m() { printf '\\036%s:%s\\036\\n' \"$1\" \"$PWD\"; }\n"
"""The least a driver needs besides the command: an end marker with the exit code and the directory."""


def protocol_shells(shells: list, rounds: int) -> tuple[float, float, float]:
    """The episodes' own shells driven by the MLGym shell protocol alone (``send``/``ready``, no episode)."""
    poller = select.poll()
    by_fd = {sh.fileno(): sh for sh in shells}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)

    def run() -> None:
        for _ in range(rounds):
            for sh in shells:
                assert sh.send("echo hi") is None
            left = set(by_fd)
            while left:
                for fd, _ev in poller.poll():
                    if fd in left:
                        res = by_fd[fd].ready()
                        if res is not None:
                            assert res.output == "hi\n", res
                            left.discard(fd)

    return _measured([sh.pid for sh in shells], len(shells) * rounds, run)


def vector_env(n: int, rounds: int) -> list[tuple[str, tuple[float, float, float]]]:
    """The cost ladder from bare shells to the vector env, each rung measured on ``n`` shells: the
    sandboxes' shells alone, with an end marker, with the MLGym shell protocol, and as episodes."""
    from mlgym_core.vector import MLGymVectorEnv

    rungs = [("bare bash (baseline)", raw_shells([(["bash", "--noprofile", "--norc"], None, None)] * n, rounds))]
    work = tempfile.mkdtemp(prefix="mlgym-vec-")
    vec = MLGymVectorEnv("battleOfSexes", n, max_steps=rounds + 5, work_dir=work)
    try:
        vec.reset()
        vec.step(["echo hi"] * n)
        shells = [e.sandbox.shell for e in vec.envs]
        starts = [(sh.argv, sh.env, sh.cwd) for sh in shells]
        rungs.append((f"bash in the episodes' sandboxes ({vec.envs[0].isolation})", raw_shells(starts, rounds)))
        rungs.append(("  + an end marker (exit code, cwd)", raw_shells(
            starts, rounds, boot=MARKER_BOOT, step=b"echo hi\n__m $?\n", done=b"\x1e\n")))
        rungs.append(("  + the MLGym shell protocol", protocol_shells(shells, rounds)))

        def run() -> None:
            for _ in range(rounds):
                obs, *_ = vec.step(["echo hi"] * n)
                assert obs == ("hi",) * n

        rungs.append(("MLGymVectorEnv.step (episodes)", _measured([sh.pid for sh in shells], n * rounds, run)))
        return rungs
    finally:
        vec.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=50)
    a = ap.parse_args()
    rungs = vector_env(a.episodes, a.rounds)
    base = rungs[0][1][0]
    print(f"{a.episodes} shells x {a.rounds} rounds of `echo hi` (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cpus); CPU per step in this Python process and in the shells")
    print(f"  {'':44} {'steps/s':>9} {'/ bare':>7} {'python':>8} {'shells':>8}")
    for name, (rate, py_us, box_us) in rungs:
        print(f"  {name:44} {rate:9.0f} {rate / base:7.2f} {py_us:6.0f}us {box_us:6.0f}us")
    print(f"  ratio vector / bare: {rungs[-1][1][0] / base:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
