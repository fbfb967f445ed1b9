"""Measure the starter strategies' scores over repeated evaluations (the baselines' spread).

    python -m mlgym_tasks_games.measure [--repeats 10] [--tasks battleOfSexes,prisonersDilemma,blotto]

Each evaluation runs the real grader (grading sandbox, 10,000 games of 10 rounds).
"""

from __future__ import annotations

import argparse
import statistics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--tasks", default="battleOfSexes,prisonersDilemma,blotto")
    args = ap.parse_args()

    from rich.console import Console
    from rich.progress import track
    from rich.table import Table

    from mlgym_core.env import MLGymEnv

    table = Table("task", "reference", "mean", "std", "min", "max", "|mean-ref|/std", title=f"{args.repeats} evaluations each")
    for task in args.tasks.split(","):
        env = MLGymEnv(task, max_steps=10 ** 6)
        env.reset()
        scores = []
        for _ in track(range(args.repeats), description=task):
            _, _, _, _, info = env.step("validate")
            scores.append(info["scores"][-1][env.spec_task.metric])
        ref = env.spec_task.baseline_scores[env.spec_task.metric]
        env.close()
        mean, std = statistics.mean(scores), statistics.stdev(scores)
        table.add_row(task, f"{ref:.4f}", f"{mean:.4f}", f"{std:.4f}", f"{min(scores):.4f}", f"{max(scores):.4f}",
                      f"{abs(mean - ref) / std:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
