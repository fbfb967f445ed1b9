"""From run directories to a :class:`ScoreTable` and the report object printed by ``--json``."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import metrics as fm
from .loader import Run
from .tasks import TaskInfo, installed_tasks, resolve

BASELINE = "baseline"
ACCEPTABLE_ENDS = ("submitted", "autosubmission (max_steps)")
"""Exit statuses MLGym's analysis treats as a normal end; anything else counts as a failure."""


@dataclass(frozen=True)
class ScoreTable:
    """Best Attempt@k and Best Submission@k of every compared method on every task.

    This is the argument of every ``MetricSpec.compute``. Matrices have one row per method
    (``methods``, the ``baseline`` row last) and one column per task (``tasks``); NaN means
    the method has no scored run on that task.
    """

    methods: tuple[str, ...]
    tasks: tuple[TaskInfo, ...]
    best_attempt: np.ndarray
    best_submission: np.ndarray
    cost_per_run: tuple[float | None, ...]
    k: int
    per_run: list[list[tuple[np.ndarray, np.ndarray]]] = field(repr=False)
    """per_run[m][p]: per-run best-attempt and best-submission values of the first k runs."""

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tasks)

    @property
    def higher(self) -> tuple[bool, ...]:
        return tuple(t.higher_is_better for t in self.tasks)

    @property
    def base(self) -> int | None:
        return self.methods.index(BASELINE) if BASELINE in self.methods else None

    def ratios(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Performance ratios and T_p of ``which`` (``best_attempt`` or ``best_submission``)."""
        return fm.ratios(getattr(self, which), self.higher, self.base)

    @property
    def tau_max(self) -> float:
        """One tau_max for both tables, from T_p of both."""
        return fm.tau_max_of(self.ratios("best_attempt")[1], self.ratios("best_submission")[1])

    def aup(self, which: str) -> dict[str, float]:
        values = fm.aup(self.ratios(which)[0], self.tau_max)
        return dict(zip(self.methods, (float(v) for v in values)))

    def scores(self, which: str) -> dict[str, dict[str, float | None]]:
        mat = getattr(self, which)
        return {m: {t: _num(mat[i, j]) for j, t in enumerate(self.task_ids)} for i, m in enumerate(self.methods)}


def _num(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


@dataclass
class Built:
    table: ScoreTable
    runs: dict[str, list[Run]]
    """Runs of each compared method (all of them, not only the first k)."""
    baseline_source: dict[str, str]
    warnings: list[str]


def _status_label(status: str | None) -> str:
    if status is None:
        return "unknown"
    return status or "unknown_error"


def build(runs: Sequence[Run], k: int = 4, methods: Sequence[str] | None = None,
          warnings: list[str] | None = None, installed: dict[str, TaskInfo] | None = None) -> Built:
    """Group runs into methods and tasks and compute both score tables.

    Each (method, task) cell uses its first ``k`` runs by run index (``_run_<k>`` suffix, else
    name); a run with no score still takes one of the k places. The baseline comes from the
    first run directory (by path) whose results.json baseline has the priority metric.

    Our runs of an agent literally named ``baseline`` are relabelled ``baseline-agent`` so they
    do not collide with the baseline row.
    """
    warnings = [] if warnings is None else warnings
    if installed is None:
        installed = installed_tasks(warnings)
    by_task: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.method == BASELINE:
            run.method = "baseline-agent"
        by_task[run.task].append(run)
    infos: list[TaskInfo] = []
    for task_id in sorted(by_task):
        recorded = next((r.recorded_metric for r in by_task[task_id] if r.recorded_metric), None)
        info = resolve(task_id, installed, recorded)
        if info is None:
            warnings.append(f"task '{task_id}': unknown priority metric (no task spec, run.json or built-in entry); "
                            f"its {len(by_task[task_id])} runs are left out")
            continue
        infos.append(info)
    present = sorted({r.method for t in infos for r in by_task[t.id]})
    if methods:
        wanted = [m for m in methods if m != BASELINE]
        for m in wanted:
            if m not in present:
                warnings.append(f"--methods: no runs of method '{m}'")
        present = [m for m in present if m in wanted]
    names = tuple(present) + (BASELINE,)
    m_count, p_count = len(names), len(infos)
    ba = np.full((m_count, p_count), math.nan)
    bs = np.full((m_count, p_count), math.nan)
    per_run: list[list[tuple[np.ndarray, np.ndarray]]] = [
        [(np.empty(0), np.empty(0)) for _ in range(p_count)] for _ in range(m_count)]
    cell: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for info in infos:
        for run in by_task[info.id]:
            cell[(run.method, info.id)].append(run)
    baseline_source: dict[str, str] = {}
    missing: dict[str, list[str]] = defaultdict(list)
    for j, info in enumerate(infos):
        for run in sorted(by_task[info.id], key=lambda r: str(r.path)):
            v = fm._finite(run.baseline.get(info.metric))
            if v is not None:
                ba[-1, j] = bs[-1, j] = v
                baseline_source[info.id] = str(run.path)
                break
        else:
            warnings.append(f"task '{info.id}': no results.json has a baseline '{info.metric}'; "
                            "feasibility ignores the baseline there")
        for i, method in enumerate(present):
            chosen = sorted(cell.get((method, info.id), []), key=lambda r: r.sort_key)
            if not chosen:
                missing[method].append(info.id)
            elif len(chosen) < k:
                warnings.append(f"method '{method}', task '{info.id}': {len(chosen)} run(s), fewer than k={k}")
            chosen = chosen[:k]
            per_ba = np.array([fm.best_attempt_of_run(r.agent_scores, info.metric, info.higher_is_better)
                               for r in chosen])
            per_bs = np.array([fm.best_submission_of_run(r.agent_scores, info.metric) for r in chosen])
            per_run[i][j] = (per_ba, per_bs)
            ba[i, j] = fm.opt(per_ba.tolist(), info.higher_is_better)
            bs[i, j] = fm.opt(per_bs.tolist(), info.higher_is_better)
    for method, absent in missing.items():
        warnings.append(f"method '{method}' has no runs of task(s) {', '.join(absent)} (fewer than k={k}); "
                        "it has no score there")
    method_runs = {m: [r for t in infos for r in cell.get((m, t.id), [])] for m in present}
    costs: list[float | None] = []
    for m in present:
        vals = [c for c in (r.cost for r in method_runs[m]) if c is not None]
        costs.append(sum(vals) / len(vals) if vals else None)
    costs.append(None)
    table = ScoreTable(names, tuple(infos), ba, bs, tuple(costs), k, per_run)
    return Built(table, method_runs, baseline_source, warnings)


def report_object(built: Built, bootstrap: int = 0, seed: int = 0,
                  extra_metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """The object ``mlgym report --json`` prints (documented keys first, extras after)."""
    table = built.table
    tau_max = table.tau_max
    aup_ba = table.aup("best_attempt")
    aup_bs = table.aup("best_submission")
    borda_ba = fm.borda(table.best_attempt, table.higher)
    borda_bs = fm.borda(table.best_submission, table.higher)
    rank_ba = fm.mean_rank(table.best_attempt, table.higher)
    rank_bs = fm.mean_rank(table.best_submission, table.higher)
    ci: tuple[np.ndarray, np.ndarray] | None = None
    if bootstrap > 0 and table.tasks:
        fixed = np.full(table.best_attempt.shape, math.nan)
        if table.base is not None:
            fixed[table.base] = table.best_attempt[table.base]
        ci = fm.bootstrap_aup(table.per_run, fixed, table.higher, table.base, tau_max, bootstrap, seed)
    methods: dict[str, Any] = {}
    scores_ba, scores_bs = table.scores("best_attempt"), table.scores("best_submission")
    for i, m in enumerate(table.methods):
        runs = built.runs.get(m, [])
        statuses = Counter(_status_label(r.exit_status) for r in runs)
        known = [r for r in runs if r.exit_status is not None]
        failed = [r for r in known if r.exit_status not in ACCEPTABLE_ENDS]
        entry: dict[str, Any] = {
            "aup_best_attempt": aup_ba[m],
            "aup_best_submission": aup_bs[m],
            "borda_best_attempt": int(borda_ba[i]),
            "mean_rank_best_attempt": float(rank_ba[i]),
            "cost_per_run": table.cost_per_run[i],
            "scores": {t: {"best_attempt": scores_ba[m][t], "best_submission": scores_bs[m][t]}
                       for t in table.task_ids},
            "borda_best_submission": int(borda_bs[i]),
            "mean_rank_best_submission": float(rank_bs[i]),
            "runs": len(runs),
            "exit_status_counts": dict(sorted(statuses.items())),
            "failure_rate": len(failed) / len(known) if known else None,
        }
        if ci is not None:
            entry["aup_best_attempt_ci"] = [float(x) for x in ci[0][i]]
            entry["aup_best_submission_ci"] = [float(x) for x in ci[1][i]]
        methods[m] = entry
    out: dict[str, Any] = {
        "tau_max": tau_max,
        "methods": methods,
        "methods_compared": list(table.methods),
        "tasks": {t.id: {"metric": t.metric, "higher_is_better": t.higher_is_better, "source": t.source,
                         "baseline_from": built.baseline_source.get(t.id)} for t in table.tasks},
        "k": table.k,
        "epsilon": fm.EPS,
    }
    if ci is not None:
        out["bootstrap"] = {"replicates": bootstrap, "seed": seed, "level": 0.95}
    if extra_metrics:
        out["plugin_metrics"] = extra_metrics
    out["warnings"] = list(built.warnings)
    return out
