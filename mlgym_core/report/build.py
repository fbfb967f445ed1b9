"""From run directories to a :class:`ScoreTable` and the report object printed by ``--json``."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import exits
from ..exits import ACCEPTABLE_ENDS
from ..records import UNKNOWN_ERROR, best_of, split_status
from . import metrics as fm
from .loader import DEFAULT_SCALE, Run

BASELINE = "baseline"
CORE_METRICS = "core.metrics"
"""The plugin of MLGym's own metrics; their values are the report's documented per-method keys."""
TABLE_METRICS = ("best_attempt", "best_submission")
"""Core metrics per method and task: they make each method's ``scores``, not a key of their own."""


@dataclass(frozen=True)
class TaskInfo:
    """How one task is scored."""

    id: str
    metric: str
    higher_is_better: bool
    source: str = "spec"
    """Where the answer came from: ``spec`` (an installed task pack's spec) or ``run`` (run.json)."""
    first_scale: str | None = None
    """The task's first scale (what a run recorded as ``default`` ran), when a spec says."""


def task_infos(warnings: list[str] | None = None) -> dict[str, TaskInfo]:
    """Scoring of every installed task, from the task specs, by id; a failing plugin costs a warning."""
    try:
        from ..registry import collect

        specs = collect("tasks")
    except Exception as exc:  # a broken plugin must not break the report
        if warnings is not None:
            warnings.append(f"could not read installed task specs: {type(exc).__name__}: {exc}")
        return {}
    out: dict[str, TaskInfo] = {}
    for spec in specs:
        out.setdefault(spec.id, TaskInfo(spec.id, spec.metric, bool(spec.higher_is_better), "spec",
                                         spec.scales[0] if spec.scales else None))
    return out


def _resolve(task_id: str, installed: dict[str, TaskInfo], recorded: tuple[str, bool] | None) -> TaskInfo | None:
    """How ``task_id`` is scored: its installed spec, else what its runs recorded, else unknown (None)."""
    if task_id in installed:
        return installed[task_id]
    if recorded is not None:
        return TaskInfo(task_id, recorded[0], recorded[1], "run")
    return None


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


def _nan(v: float | None) -> float:
    return math.nan if v is None else v


def _num(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


@dataclass
class Built:
    table: ScoreTable
    runs: dict[str, list[Run]]
    """Runs of each compared method (all of them, not only the first k)."""
    baseline_source: dict[str, str]
    warnings: list[str]
    scale: str = DEFAULT_SCALE
    excluded: list[dict[str, Any]] = field(default_factory=list)
    """Runs left out of every table: interrupted ones and infrastructure failures, with the reason."""
    others: dict[str, Built] = field(default_factory=dict)
    """The same report for each other scale found among the runs (never pooled with this one)."""


def status_key(status: str | None) -> str:
    """An exit status as a short constant (:func:`mlgym_core.records.split_status`); ``unknown`` when
    no status was recorded. The full text is kept apart (``exit_status_texts``)."""
    if status is None:
        return "unknown"
    return split_status(status)[0] or "unknown_error"


ACTION_KINDS = (("Edit", ("edit", "insert", "create")), ("View", ("open", "goto", "scroll_up", "scroll_down")),
                ("Search", ("search_dir", "search_file", "find_file", "grep", "find")),
                ("Validate", ("validate",)), ("Submit", ("submit",)),
                ("Python", ("python", "python3", "torchrun", "accelerate", "deepspeed")),
                ("Memory", ("memory_write", "memory_read")), ("Literature", ("literature_search", "parse_pdf_url")),
                ("Exit", ("exit_context", "exit_cost", "exit_error", "exit_format", "exit_api", "exit_forfeit",
                          "skip")))
_KIND_OF = {word: kind for kind, words in ACTION_KINDS for word in words}


def action_kind(action: str) -> str:
    """The command kind of an action (the paper's action-distribution categories; "Bash" otherwise)."""
    words = action.strip().split()
    return _KIND_OF.get(words[0], "Bash") if words else "Bash"


def _split_scales(runs: Sequence[Run],
                  installed: dict[str, TaskInfo]) -> tuple[dict[str, list[Run]], list[dict[str, Any]]]:
    """Runs by scale ("default" resolved with the task's first scale), and the excluded ones."""
    by_scale: dict[str, list[Run]] = defaultdict(list)
    excluded: list[dict[str, Any]] = []
    for run in runs:
        if run.scale == "default":  # a mlgym-run/1 record: the scale it ran is the task's first
            info = installed.get(run.task)
            run.scale = info.first_scale if info is not None and info.first_scale else DEFAULT_SCALE
        reason = "interrupted" if run.interrupted else (
            f"infrastructure failure: {run.infra_failure}" if run.infra_failure else None)
        if reason:
            excluded.append({"run": str(run.path), "method": run.method, "task": run.task, "scale": run.scale,
                             "reason": reason})
        else:
            by_scale[run.scale].append(run)
    return by_scale, excluded


def build(runs: Sequence[Run], k: int = 4, methods: Sequence[str] | None = None,
          warnings: list[str] | None = None, installed: dict[str, TaskInfo] | None = None) -> Built:
    """Group runs by scale, then into methods and tasks, and compute both score tables per scale.

    Runs of different scales are never pooled: the first scale (``full`` when present) is the main
    report, the others are in ``others``. Interrupted runs and infrastructure failures (the run
    crashed, the runtime or the evaluator failed, the data was unavailable) are left out and
    listed in ``excluded``; they are not agent failures.
    """
    warnings = [] if warnings is None else warnings
    if installed is None:
        installed = task_infos(warnings)
    by_scale, excluded = _split_scales(runs, installed)
    if excluded:
        kinds = Counter("interrupted" if e["reason"] == "interrupted" else "infrastructure failure" for e in excluded)
        warnings.append(f"left out {len(excluded)} run(s) that say nothing of the agent: "
                        + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) + " (see 'excluded')")
    order = sorted(by_scale, key=lambda sc: (sc != DEFAULT_SCALE, sc)) or [DEFAULT_SCALE]
    main = _build_scale(by_scale.get(order[0], []), k, methods, warnings, installed, "")
    main.scale, main.excluded = order[0], excluded
    for sc in order[1:]:
        other = _build_scale(by_scale[sc], k, methods, warnings, installed, f"scale {sc}: ")
        other.scale = sc
        main.others[sc] = other
    return main


def _build_scale(runs: Sequence[Run], k: int, methods: Sequence[str] | None, warnings: list[str],
                 installed: dict[str, TaskInfo], where: str) -> Built:
    """Both score tables over runs of one scale.

    Each (method, task) cell uses its first ``k`` runs by run index (``_run_<k>`` suffix, else
    name); a run with no score still takes one of the k places. The baseline comes from the
    first run directory (by path) whose results.json baseline has the priority metric.

    Our runs of an agent literally named ``baseline`` are relabelled ``baseline-agent`` so they
    do not collide with the baseline row.
    """
    warnings_before = len(warnings)
    by_task: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.method == BASELINE:
            run.method = "baseline-agent"
        by_task[run.task].append(run)
    infos: list[TaskInfo] = []
    for task_id in sorted(by_task):
        recorded = next((r.recorded_metric for r in by_task[task_id] if r.recorded_metric), None)
        info = _resolve(task_id, installed, recorded)
        if info is None:
            warnings.append(f"task '{task_id}': unknown priority metric (no installed task spec and no run.json "
                            f"says it: install the task pack that has it); its {len(by_task[task_id])} runs are "
                            "left out")
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
            v = best_of([run.baseline.get(info.metric)], True)  # the value when it is a number
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
            ba[i, j] = _nan(best_of(per_ba.tolist(), info.higher_is_better))
            bs[i, j] = _nan(best_of(per_bs.tolist(), info.higher_is_better))
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
    if where:
        warnings[warnings_before:] = [where + w for w in warnings[warnings_before:]]
    return Built(table, method_runs, baseline_source, warnings)


def metric_specs(warnings: list[str]) -> list[Any]:
    """Every registered MetricSpec, core's first; MLGym's own from core when the registry fails."""
    from ..builtin_plugins.metrics import register_metrics

    try:
        from ..registry import collect

        specs = list(collect("metrics"))
    except Exception as exc:  # a broken plugin must not break the report
        warnings.append(f"could not collect metrics from plugins: {type(exc).__name__}: {exc}")
        specs = []
    if not any(s.plugin == CORE_METRICS for s in specs):
        specs = [s.model_copy(update={"plugin": CORE_METRICS}) for s in register_metrics()] + specs
    return sorted(specs, key=lambda s: s.plugin != CORE_METRICS)


def compute_metrics(table: ScoreTable, warnings: list[str]) -> dict[str, Any]:
    """Each registered metric's value on ``table``, by key: a core metric's name, any other's
    ``plugin/name``. A metric that raises or returns what JSON cannot hold costs a warning."""
    import json

    out: dict[str, Any] = {}
    for spec in metric_specs(warnings):
        key = spec.name if spec.plugin == CORE_METRICS else spec.qualified
        try:
            value = spec.compute(table)
            json.dumps(value, allow_nan=False)
        except Exception as exc:
            warnings.append(f"metric '{spec.qualified}' failed: {type(exc).__name__}: {exc}")
            continue
        out[key] = value
    return out


def _per_method(value: Any, methods: Sequence[str]) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= set(methods)


def report_object(built: Built, bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
    """The object ``mlgym report --json`` prints (documented keys first, extras after).

    Every number per method comes from a registered metric (:func:`compute_metrics`): core's
    under their names, a plugin's per-method metric under ``plugin/name`` too; ``plugin_metrics``
    holds each plugin metric's whole value.
    """
    table = built.table
    tau_max = table.tau_max
    values = compute_metrics(table, built.warnings)
    ci: tuple[np.ndarray, np.ndarray] | None = None
    if bootstrap > 0 and table.tasks:
        fixed = np.full(table.best_attempt.shape, math.nan)
        if table.base is not None:
            fixed[table.base] = table.best_attempt[table.base]
        ci = fm.bootstrap_aup(table.per_run, fixed, table.higher, table.base, tau_max, bootstrap, seed)
    methods: dict[str, Any] = {}
    per_method = {key: v for key, v in values.items() if key not in TABLE_METRICS and _per_method(v, table.methods)}
    for i, m in enumerate(table.methods):
        runs = built.runs.get(m, [])
        statuses = Counter(status_key(r.exit_status) for r in runs)
        texts: dict[str, set[str]] = defaultdict(set)
        for r in runs:
            if r.exit_status and status_key(r.exit_status) != r.exit_status:
                texts[status_key(r.exit_status)].add(r.exit_status)
            elif r.exit_status and r.exit_detail:
                texts[r.exit_status].add(r.exit_detail)
        known = [r for r in runs if r.exit_status is not None]
        failed = [r for r in known if r.exit_status not in ACCEPTABLE_ENDS]
        steps_by_task: dict[str, list[int]] = defaultdict(list)
        for r in runs:
            if r.steps_count is not None:
                steps_by_task[r.task].append(r.steps_count)
        entry: dict[str, Any] = {key: v.get(m) for key, v in per_method.items()}
        entry["scores"] = {t: {which: (values.get(which) or {}).get(m, {}).get(t) for which in TABLE_METRICS}
                           for t in table.task_ids}
        entry.update({
            "runs": len(runs),
            "exit_status_counts": dict(sorted(statuses.items())),
            "exit_status_texts": {key: sorted(v) for key, v in sorted(texts.items())},
            "failure_rate": len(failed) / len(known) if known else None,
            "failure_modes": dict(sorted(Counter(exit_category(status_key(r.exit_status)) for r in runs).items())),
            "action_counts": dict(sorted(Counter(action_kind(a) for r in runs for a in r.actions).items())),
            "mean_steps": {t: sum(v) / len(v) for t, v in sorted(steps_by_task.items())},
        })
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
    plugin_metrics = {key: v for key, v in values.items() if "/" in key}
    if plugin_metrics:
        out["plugin_metrics"] = plugin_metrics
    out["scale"] = built.scale
    if built.others or built.excluded:
        out["excluded"] = list(built.excluded)
    if built.others:
        out["other_scales"] = {sc: {k: v for k, v in report_object(b, bootstrap, seed).items() if k != "warnings"}
                               for sc, b in built.others.items()}
    out["warnings"] = list(built.warnings)
    return out


_FORCED_LABELS = {exits.MAX_STEPS: "Max Steps", exits.ExitAction.CONTEXT.value: "Context",
                  exits.ExitAction.COST.value: "Cost", exits.ExitAction.FORMAT.value: "Format",
                  exits.ExitAction.API.value: "API", exits.ExitAction.ERROR.value: "Runtime"}
"""Failure mode of each autosubmission reason (MLGym's EXIT_STATUS_MAP)."""


def exit_category(status: str) -> str:
    """Failure mode of an exit status constant (:func:`status_key`), after MLGym's EXIT_STATUS_MAP."""
    s = status.strip()
    if s == exits.SUBMITTED:
        return "Success"
    reason = exits.forced_reason(s)
    if reason is not None or s.startswith("autosubmission"):
        return _FORCED_LABELS.get(reason or exits.MAX_STEPS, "Max Steps")
    if s.startswith("submission_not_found"):
        return "Submit"
    if "permission" in s.lower():
        return "Permission"
    if s in (exits.EARLY_EXIT, exits.ExitAction.ERROR.value):
        return "Runtime"
    if s in (exits.SKIPPED, exits.EXIT_FORFEIT):
        return "Forfeit"
    if s in _FORCED_LABELS and s != exits.MAX_STEPS:  # an exit action recorded as the status itself
        return _FORCED_LABELS[s]
    if s == "unknown":
        return "No trajectory"
    if s.startswith(UNKNOWN_ERROR):
        return "Unknown error"
    return "Evaluation"
