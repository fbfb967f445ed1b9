"""Throughput of ``mlgym bench``: episodes per minute with 1, 2 and 4 workers, local and Ray executors,
and the executor's overhead per episode against a plain ``run_episode`` loop.

    python benchmarks/bench_executors.py [--runs 4] [--workers 1,2,4] [--executors local,ray] [--json FILE]

Episodes: the four games tasks x ``--runs`` with a scripted model driving a minimal agent that
sends each reply as the action (the agent is installed for the run as a throw-away
distribution on PYTHONPATH, so pool and Ray workers load it too). battleOfSexes,
prisonersDilemma and blotto are validated and submitted; 3SATTime (a 10 s evaluation) forfeits.
Every configuration runs in a fresh subprocess; "wall" includes interpreter start, plugin
loading and executor start-up (Ray: starting a local cluster); "steady" is episodes per minute
between the first episode's start and the last one's end.
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

GAMES = ("battleOfSexes", "prisonersDilemma", "blotto", "3SATTime")
REPLIES = {"battleOfSexes": ["head -3 strategy.py", "submit"], "prisonersDilemma": ["ls", "submit"],
           "blotto": ["ls", "submit"], "3SATTime": ["ls", "exit_forfeit"]}
AGENT = '''
from mlgym_core import AgentSpec, hookimpl


class EchoAgent:
    def __init__(self, **_options):
        pass

    def run(self, episode):  # core meters the calls and ends the episode on a model error
        messages = [{"role": "user", "content": episode.observation}]
        while not episode.done:
            c = episode.model.complete(messages)
            obs = episode.step(c.content)[0]
            messages += [{"role": "assistant", "content": c.content}, {"role": "user", "content": obs}]


@hookimpl
def register_agents():
    return [AgentSpec(name="echo", description="reply = action", factory=EchoAgent, uses_model=True,
                      tool_groups=("core",))]
'''
PLAIN_LOOP = '''
import sys, time
t0 = time.perf_counter()
from mlgym_core.run import RunSpec, run_episode
tasks, runs, model, out = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3], sys.argv[4]
for t in tasks:
    for k in range(runs):
        run_episode(RunSpec(task=t, agent="echo", model=model, seed=42 + k, max_steps=10, output=out,
                            run_name=f"echo__{t}__run_{k}"))
print(time.perf_counter() - t0)
'''


def _site(root: Path) -> Path:
    pkg = root / "mlgym_benchagent"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(AGENT)
    info = root / "mlgym_benchagent-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mlgym-benchagent\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[mlgym]\nbenchagent = mlgym_benchagent.plugin\n")
    (root / "replies.json").write_text(json.dumps(REPLIES))
    return root


def _steady(out: Path) -> float:
    starts, ends = [], []
    for rj in out.glob("*/run.json"):
        t = json.loads(rj.read_text())["timings"]
        starts.append(dt.datetime.fromisoformat(t["started"]))
        ends.append(dt.datetime.fromisoformat(t["ended"]))
    return (max(ends) - min(starts)).total_seconds() if starts else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--executors", default="local,ray")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mlgym-bench-exec-"))
    site = _site(root / "site")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
               RAY_DISABLE_USAGE_STATS="1", MLGYM_WORK_DIR=str(root / "work"))
    env.pop("RAY_ADDRESS", None)
    model = f"scripted:{site / 'replies.json'}"
    n = len(GAMES) * a.runs
    rows = []

    t0 = time.perf_counter()
    out = root / "plain"
    r = subprocess.run([sys.executable, "-c", PLAIN_LOOP, ",".join(GAMES), str(a.runs), model, str(out)], env=env,
                       capture_output=True, text=True, check=True)
    plain_wall = time.perf_counter() - t0
    rows.append({"executor": "plain loop", "workers": 1, "episodes": n, "wall_s": plain_wall,
                 "steady_s": _steady(out), "inner_s": float(r.stdout.strip().splitlines()[-1])})
    print(f"plain run_episode loop: {n} episodes in {plain_wall:.1f} s -> {60 * n / plain_wall:.1f} episodes/min",
          flush=True)
    t0 = time.perf_counter()
    for task in GAMES:
        for k in range(a.runs):
            subprocess.run([sys.executable, "-c", "from mlgym_core.cli import main; main()", "run", "--task", task,
                            "--agent", "echo", "--model", model, "--max-steps", "10", "--seed", str(42 + k),
                            "--output", str(root / "cli")], env=env, capture_output=True, check=True)
    cli_wall = time.perf_counter() - t0
    rows.append({"executor": "mlgym run loop", "workers": 1, "episodes": n, "wall_s": cli_wall})
    print(f"plain `mlgym run` loop (one process per episode): {n} episodes in {cli_wall:.1f} s -> "
          f"{60 * n / cli_wall:.1f} episodes/min", flush=True)
    for ex in a.executors.split(","):
        for w in [int(x) for x in a.workers.split(",")]:
            out = root / f"{ex}-{w}"
            argv = [sys.executable, "-c", "from mlgym_core.cli import main; main()", "bench", "--tasks",
                    ",".join(GAMES), "--agents", "echo", "--models", model, "--runs", str(a.runs), "--output",
                    str(out), "--executor", ex, "--workers", str(w), "--max-steps", "10", "--no-progress",
                    "--no-report"]
            t0 = time.perf_counter()
            r = subprocess.run(argv, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if r.returncode != 0:
                print(f"{ex} x{w}: FAILED rc={r.returncode}: {r.stderr[-800:]}", flush=True)
                continue
            led = json.loads((out / "ledger.json").read_text())["episodes"]
            done = sum(e["state"] == "done" for e in led.values())
            steady = _steady(out)
            rows.append({"executor": ex, "workers": w, "episodes": done, "wall_s": wall, "steady_s": steady})
            print(f"{ex:5s} x{w}: {done} episodes in {wall:.1f} s -> {60 * done / wall:.1f} episodes/min "
                  f"(steady {60 * done / steady:.1f}/min)", flush=True)
    base = next((r for r in rows if r["executor"] == "local" and r["workers"] == 1), None)
    if base:
        over = (base["wall_s"] - plain_wall) / n
        print(f"executor overhead (local, 1 worker, vs plain loop, both whole processes): "
              f"{over * 1000:+.0f} ms per episode = {100 * (base['wall_s'] / plain_wall - 1):+.1f}% "
              f"(plain {plain_wall / n:.2f} s/episode)")
        print(f"executor overhead vs a `mlgym run` loop: {(base['wall_s'] - cli_wall) / n * 1000:+.0f} ms per episode "
              f"= {100 * (base['wall_s'] / cli_wall - 1):+.1f}%")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
