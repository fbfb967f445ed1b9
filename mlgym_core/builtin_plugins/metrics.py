"""Built-in metrics (MLGym's own) and the ``mlgym report`` command, as an ordinary plugin.

Every ``compute`` takes a :class:`mlgym_core.report.build.ScoreTable` (Best Attempt@k and Best
Submission@k of each compared method on each task, ``baseline`` included) and returns a dict
keyed by method name: a number (or None), or for per-task metrics a dict task id -> number.
The report computes through these specs as it does through any plugin's (docs/writing-a-metric.md);
each one's name is its key in a method's entry of ``mlgym report --json``.
Module-level imports stay cheap: numpy loads inside the compute functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from ..specs import MetricSpec

if TYPE_CHECKING:  # pragma: no cover
    import click

    from ..report.build import ScoreTable


def best_attempt(table: ScoreTable) -> dict[str, dict[str, float | None]]:
    """Best Attempt@k per method and task: the best score of any evaluation in the first k runs."""
    return table.scores("best_attempt")


def best_submission(table: ScoreTable) -> dict[str, dict[str, float | None]]:
    """Best Submission@k per method and task: the best final submission of the first k runs."""
    return table.scores("best_submission")


def aup_best_attempt(table: ScoreTable) -> dict[str, float]:
    """Area under the performance profile of the best-attempt table."""
    return table.aup("best_attempt")


def aup_best_submission(table: ScoreTable) -> dict[str, float]:
    """Area under the performance profile of the best-submission table."""
    return table.aup("best_submission")


def _ranked(table: ScoreTable, which: str, how: str) -> dict[str, Any]:
    from ..report import metrics

    values = getattr(metrics, how)(getattr(table, which), table.higher)
    cast = int if how == "borda" else float
    return dict(zip(table.methods, (cast(x) for x in values)))


def borda_best_attempt(table: ScoreTable) -> dict[str, int]:
    """BORDA points of the best-attempt table."""
    return _ranked(table, "best_attempt", "borda")


def borda_best_submission(table: ScoreTable) -> dict[str, int]:
    """BORDA points of the best-submission table."""
    return _ranked(table, "best_submission", "borda")


def mean_rank_best_attempt(table: ScoreTable) -> dict[str, float]:
    """Mean 1-based rank over tasks of the best-attempt table (MLGym's "Plackett-Luce" column)."""
    return _ranked(table, "best_attempt", "mean_rank")


def mean_rank_best_submission(table: ScoreTable) -> dict[str, float]:
    """Mean 1-based rank over tasks of the best-submission table."""
    return _ranked(table, "best_submission", "mean_rank")


def cost_per_run(table: ScoreTable) -> dict[str, float | None]:
    """Mean dollars per run (tokens at list price, else the run's recorded cost)."""
    return dict(zip(table.methods, table.cost_per_run))


@hookimpl
def register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec(name="best_attempt", description="Best Attempt@k per task", compute=best_attempt),
        MetricSpec(name="best_submission", description="Best Submission@k per task", compute=best_submission),
        MetricSpec(name="aup_best_attempt", description="AUP of the performance profile (best attempt)",
                   compute=aup_best_attempt),
        MetricSpec(name="aup_best_submission", description="AUP of the performance profile (best submission)",
                   compute=aup_best_submission),
        MetricSpec(name="borda_best_attempt", description="BORDA points over tasks (best attempt)",
                   compute=borda_best_attempt),
        MetricSpec(name="mean_rank_best_attempt", description="Mean rank over tasks (best attempt)",
                   compute=mean_rank_best_attempt, higher_is_better=False),
        MetricSpec(name="borda_best_submission", description="BORDA points over tasks (best submission)",
                   compute=borda_best_submission),
        MetricSpec(name="mean_rank_best_submission", description="Mean rank over tasks (best submission)",
                   compute=mean_rank_best_submission, higher_is_better=False),
        MetricSpec(name="cost_per_run", description="Mean API cost per run in dollars", compute=cost_per_run,
                   higher_is_better=False),
    ]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from ..report.command import report

    cli.add_command(report)
