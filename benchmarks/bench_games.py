"""Validate time of the game evaluators against MLGym's straightforward in-process loop.

For each game task, the starter strategy is graded by our ``evaluate.py`` (the strategy in a
sandboxed worker, games one after another in 100 lanes) and by a baseline written in the same
folder that does what MLGym's evaluator does: import the strategy and the opponent in one
process, play 10,000 games of 10 rounds one after another, validate every move, keep each
game's mean payoff as float32 and print the mean (a reimplementation from the documented rules,
not MLGym's code). Both run as ``python <script>`` (interpreter start included), the median of
``--repeats`` runs each. Target: ours not slower than 2x the baseline.

Run: python benchmarks/bench_games.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

import mlgym_tasks_games
from mlgym_core.task import WORKER_MODULE

PACK = Path(mlgym_tasks_games.__file__).parent
BASELINE = '''\
import json
import numpy as np
from strategy import row_strategy
from target import target_column_strategy

PAYOFFS = {payoffs}


def payoff(row, col):
{check}
    return PAYOFFS(row, col)


def game():
    history = []
    for _ in range(10):
        row = row_strategy(history)
        col = target_column_strategy(history)
        history.append((row, col))
    return np.mean(np.asarray([payoff(r, c) for r, c in history], dtype=np.float32))


print(json.dumps({{"Score": float(np.mean(np.asarray([game() for _ in range(10000)], dtype=np.float32)))}}))
'''
BINARY = '''    if row not in [0, 1] or col not in [0, 1]:
        raise ValueError("moves must be 0 or 1")'''
ALLOCATION = '''    for a in (row, col):
        if not all(isinstance(x, int) and x >= 0 for x in a) or sum(a) > 120:
            raise ValueError("invalid allocation")'''
GAMES = {
    "prisonersDilemma": ("lambda r, c: {(0, 0): 3, (0, 1): 0, (1, 0): 5, (1, 1): 1}[(r, c)]", BINARY),
    "battleOfSexes": ("lambda r, c: {(0, 0): 2, (1, 1): 1, (0, 1): 0, (1, 0): 0}[(r, c)]", BINARY),
    "blotto": ("lambda r, c: (lambda w, l: (w > l) - (w < l))(sum(x > y for x, y in zip(r, c)), "
               "sum(x < y for x, y in zip(r, c)))", ALLOCATION),
}


def worker_module() -> Path:
    return Path(str(files("mlgym_core") / "data" / WORKER_MODULE))


def timed(folder: Path, script: str, repeats: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeats):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, script], cwd=folder, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t)
        out = r.stdout.strip()
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for task, (payoffs, check) in GAMES.items():
            folder = Path(tmp) / task
            shutil.copytree(PACK / "tasks" / task, folder)
            shutil.copy(PACK / "common" / "gamerunner.py", folder)
            shutil.copy(worker_module(), folder)  # laid next to the evaluator, as when grading
            (folder / "baseline.py").write_text(BASELINE.format(payoffs=payoffs, check=check))
            ours, ours_out = timed(folder, "evaluate.py", args.repeats)
            base, base_out = timed(folder, "baseline.py", args.repeats)
            print(f"{task:17s} ours {ours:6.2f} s  baseline {base:6.2f} s  ratio {ours / base:4.2f}x"
                  f"   ({ours_out} vs {base_out})")


if __name__ == "__main__":
    main()
