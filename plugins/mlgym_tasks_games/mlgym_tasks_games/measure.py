"""Measure the starter strategies' scores over repeated evaluations (the baselines' spread).

    python -m mlgym_tasks_games.measure [--repeats 10] [--tasks battleOfSexes,prisonersDilemma,blotto]

Each evaluation runs the real grader (grading sandbox, 10,000 games of 10 rounds). Printed: the
mean of the evaluations, the sd of one evaluation, the standard error of the mean, the exact
expectation where ``exact`` computes it, and how far MLGym's published figure (one evaluation)
lies from the expectation in sds of one evaluation (the exact sd; from the mean where there is no
exact value: then in sds of the difference, sd * sqrt(1 + 1/n)).
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

    from mlgym_core import MLGymEnv
    from mlgym_tasks_games.exact import STARTERS, score_moments

    exact = {task: score_moments(*a) for task, a in STARTERS.items()}  # (mean, sd of one game)
    table = Table("task", "reference", "exact (sd)", "mean", "sd (one)", "se (mean)", "(ref-expected)/sd",
                  title=f"{args.repeats} evaluations each")
    for task in args.tasks.split(","):
        env = MLGymEnv(task, max_steps=10 ** 6)
        env.reset()
        scores = []
        for _ in track(range(args.repeats), description=task):
            _, _, _, _, info = env.step("validate")
            scores.append(info["scores"][-1][env.spec_task.metric])
        ref = env.spec_task.baseline_scores[env.spec_task.metric]
        env.close()
        n = len(scores)
        mean, sd = statistics.mean(scores), statistics.stdev(scores)
        if task in exact:
            mu, sd_exact = exact[task][0], exact[task][1] / 100  # 10,000 games
            z, shown = (ref - mu) / sd_exact, f"{mu:.5f} ({sd_exact:.4f})"
        else:
            z, shown = (ref - mean) / (sd * (1 + 1 / n) ** 0.5), "-"
        table.add_row(task, f"{ref:.4f}", shown, f"{mean:.4f}", f"{sd:.4f}", f"{sd / n ** 0.5:.4f}", f"{z:+.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
