"""Core performance targets, as ratios against a baseline measured in the same run.

- env.step("echo hi"), local runtime under bwrap (syntax check and bookkeeping included):
  median < 0.1 x and p99 < 0.5 x a fresh ``subprocess.run(["bash", "-c", "echo hi"])``.
- env.reset() of battleOfSexes (fresh workspace, sandbox start): median < 10 x that spawn. The
  environment starts the next episode's sandbox in the background, so reset() after an episode
  takes a ready one; the cold start (prestart=False) is printed too.
- ``mlgym list-plugins`` with all plugins installed: < 1 s wall.

Run: python benchmarks/bench_env.py [--steps 3000] [--resets 40]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time


def quantiles(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, int(0.99 * len(xs)))]


def spawn_baseline(n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["bash", "-c", "echo hi"], capture_output=True)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--resets", type=int, default=40)
    args = ap.parse_args()

    from rich.console import Console
    from rich.progress import track
    from rich.table import Table

    from mlgym_core.env import MLGymEnv

    env = MLGymEnv("battleOfSexes", max_steps=10 ** 9)
    env.reset()
    for _ in range(50):
        env.step("echo hi")
    base = []
    steps = []
    for i in track(range(args.steps), description="env.step('echo hi') vs bash -c"):
        if i % 10 == 0:  # interleave the baseline so both see the same machine load
            base += spawn_baseline(1)
        t = time.perf_counter()
        env.step("echo hi")
        steps.append(time.perf_counter() - t)
    resets = []
    for _ in track(range(args.resets), description="env.reset() after a short episode"):
        base += spawn_baseline(2)
        env.step("echo hi")
        time.sleep(0.03)  # the rest of an episode: the next sandbox starts meanwhile
        t = time.perf_counter()
        env.reset()
        resets.append(time.perf_counter() - t)
    env.close()
    cold = MLGymEnv("battleOfSexes", prestart=False)
    cold.reset()
    colds = []
    for _ in track(range(args.resets), description="env.reset(), cold (no prestarted sandbox)"):
        base += spawn_baseline(2)
        t = time.perf_counter()
        cold.reset()
        colds.append(time.perf_counter() - t)
    cold.close()
    t = time.perf_counter()
    subprocess.run([shutil.which("mlgym") or "mlgym", "list-plugins"], capture_output=True, check=True)
    lp = time.perf_counter() - t

    b_med, _ = quantiles(base)
    s_med, s_p99 = quantiles(steps)
    r_med, _ = quantiles(resets)
    c_med, _ = quantiles(colds)
    tab = Table("measure", "value", "ratio to bash -c spawn", "target", "ok", title=f"isolation: {env.isolation}")
    tab.add_row("bash -c 'echo hi' spawn, median", f"{b_med * 1e3:.3f} ms", "1", "", "")
    tab.add_row("env.step('echo hi'), median", f"{s_med * 1e3:.3f} ms", f"{s_med / b_med:.3f}", "< 0.1",
                "yes" if s_med / b_med < 0.1 else "NO")
    tab.add_row("env.step('echo hi'), p99", f"{s_p99 * 1e3:.3f} ms", f"{s_p99 / b_med:.3f}", "< 0.5",
                "yes" if s_p99 / b_med < 0.5 else "NO")
    tab.add_row("env.reset() battleOfSexes, median", f"{r_med * 1e3:.2f} ms", f"{r_med / b_med:.2f}", "< 10",
                "yes" if r_med / b_med < 10 else "NO")
    tab.add_row("env.reset() cold, no prestart, median", f"{c_med * 1e3:.2f} ms", f"{c_med / b_med:.2f}", "(info)", "")
    tab.add_row("mlgym list-plugins, wall", f"{lp:.3f} s", "", "< 1 s", "yes" if lp < 1 else "NO")
    Console().print(tab)


if __name__ == "__main__":
    main()
