"""Conformance checks of specs (``mlgym check``); each raises CheckError naming the problem."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CheckError, MlgymError
from .specs import AgentSpec, DatasetSpec, MetricSpec, ModelBackendSpec, RuntimeSpec, TaskSpec, ToolSpec


def _fail(what: str, msg: str) -> None:
    raise CheckError(f"{what}: {msg}")


def check_task(spec: TaskSpec) -> None:
    """The task folder holds every file the spec names; metrics and baselines agree."""
    who = f"task '{spec.qualified}'"
    if not isinstance(spec, TaskSpec):
        _fail(who, f"expected TaskSpec, got {type(spec).__name__}")
    if spec.files is None or not spec.files.is_dir():
        _fail(who, "task folder is missing")
    folder = spec.files
    for attr in ("starter_files", "grader_files", "hidden_files"):
        for rel in getattr(spec, attr):
            if not (folder / rel).is_file() and not (folder / rel).is_dir():
                _fail(who, f"{attr}: '{rel}' is not in the task folder")
    if not (folder / spec.evaluator).is_file():
        _fail(who, f"evaluator '{spec.evaluator}' is not in the task folder")
    if set(spec.hidden_files) & set(spec.starter_files):
        _fail(who, "a hidden file is also a starter file (the agent would see it)")
    if spec.baseline_scores and spec.metric not in spec.baseline_scores:
        _fail(who, f"baseline_scores has no value for the priority metric '{spec.metric}'")
    if spec.training_timeout <= 0:
        _fail(who, "training_timeout must be positive")
    if not spec.description.strip():
        _fail(who, "description is empty")
    if spec.factory:
        from .task import make_task

        try:
            make_task(spec, spec.scales[0]).close()
        except MlgymError as exc:
            _fail(who, str(exc))
        except Exception as exc:  # the pack's own class failing to build
            _fail(who, f"factory '{spec.factory}' failed: {type(exc).__name__}: {exc}")


def check_dataset(spec: DatasetSpec) -> None:
    who = f"dataset '{spec.qualified}'"
    if not spec.description.strip():
        _fail(who, "description is empty")
    if not (spec.source in ("local", "generated") or spec.source.startswith(("hf:", "file:"))):
        _fail(who, f"source '{spec.source}' is not local, generated, hf:<id> or file:<path>")


def check_tool(spec: ToolSpec) -> None:
    who = f"tool '{spec.qualified}'"
    if not spec.signature.split()[0] == spec.name:
        _fail(who, f"signature '{spec.signature}' does not start with the tool name")
    if not spec.docstring.strip():
        _fail(who, "docstring is empty")
    for src in (spec.source, *spec.extra_files):
        if src is None or not Path(str(src)).exists() and not src.is_file():
            _fail(who, f"file '{getattr(src, 'name', src)}' is missing (is it shipped as package data?)")
    if spec.service is not None and not callable(spec.service):
        _fail(who, "service is not callable")


def _callable(who: str, f: Any) -> None:
    if not callable(f):
        _fail(who, "factory is not callable")
    try:
        inspect.signature(f)
    except (TypeError, ValueError):
        pass


def check_agent(spec: AgentSpec, tool_groups: set[str] | None = None) -> None:
    """The factory is callable; every tool group the agent asks for is provided by an installed plugin
    (``tool_groups``: the groups installed; default: those of the tools registered now). The ACI's
    group is the exception, as at run time: without it the agent runs with a warning."""
    from .episode import ACI_GROUP

    who = f"agent '{spec.qualified}'"
    _callable(who, spec.factory)
    have = tool_groups_installed() if tool_groups is None else tool_groups
    missing = [g for g in spec.tool_groups if g not in have and g != ACI_GROUP]
    if missing:
        _fail(who, f"asks for tool group(s) {', '.join(missing)}, which no installed plugin provides "
                   f"(installed: {', '.join(sorted(have)) or 'none'})")


def tool_groups_installed() -> set[str]:
    """The groups of the tools registered by the plugins loaded now (empty if collecting them fails)."""
    from .registry import collect

    try:
        return {t.group for t in collect("tools")}
    except MlgymError:
        return set()


def check_runtime(spec: RuntimeSpec) -> None:
    _callable(f"runtime '{spec.qualified}'", spec.factory)


def check_model_backend(spec: ModelBackendSpec) -> None:
    _callable(f"model backend '{spec.qualified}'", spec.factory)


def check_metric(spec: MetricSpec) -> None:
    _callable(f"metric '{spec.qualified}'", spec.compute)


CHECKS = {"tasks": check_task, "datasets": check_dataset, "tools": check_tool, "agents": check_agent,
          "runtimes": check_runtime, "models": check_model_backend, "metrics": check_metric}


def check_item(kind: str, item: Any, *, tool_groups: set[str] | None = None) -> None:
    """The conformance check of ``kind`` (``tasks``, ``tools``, ...) on one item."""
    if kind == "agents":
        check_agent(item, tool_groups)
    else:
        CHECKS[kind](item)


def empty_plugins() -> list[str]:
    """Failure lines for loaded plugins that implement a ``register_<kind>()`` hook yet register
    nothing of that kind (a task pack built without its task.yaml files), and for plugins that
    failed to load."""
    from .plugins import list_plugins
    from .registry import collect
    from .specs import SPEC_KINDS

    lines: list[str] = []
    counts: dict[tuple[str, str], int] = {}
    for kind in SPEC_KINDS:
        try:
            for it in collect(kind):
                counts[(it.plugin, kind)] = counts.get((it.plugin, kind), 0) + 1
        except MlgymError:
            continue  # reported by run_checks
    for rec in list_plugins(include_builtin=False):
        if rec.status != "ok":
            lines.append(f"plugin '{rec.name}' ({rec.distribution} {rec.version}): does not load: {rec.error}")
            continue
        for kind, (hook_name, _cls) in SPEC_KINDS.items():
            if hook_name in rec.hooks and not counts.get((rec.name, kind)):
                hint = " (are its task.yaml files shipped as package data?)" if kind == "tasks" else ""
                lines.append(f"plugin '{rec.name}' ({rec.distribution} {rec.version}): {hook_name}() registered "
                             f"no {kind}{hint}")
    return lines


def run_checks(ids: Iterable[str] = ()) -> list[str]:
    """Check the named items (any kind) or every installed item; return failure lines."""
    from .registry import collect

    wanted = set(ids)
    failures: list[str] = []
    found: set[str] = set()
    for kind in CHECKS:
        try:
            items = collect(kind)
        except MlgymError as exc:
            failures.append(str(exc))
            continue
        for it in items:
            if wanted and it.key not in wanted and it.qualified not in wanted:
                continue
            found |= {it.key, it.qualified}
            try:
                check_item(kind, it)
            except CheckError as exc:
                failures.append(str(exc))
    if not wanted:
        failures.extend(empty_plugins())
    for name in sorted(wanted - found):
        failures.append(f"'{name}': no installed task, dataset, tool, agent, metric, runtime or model has this name")
    return failures


# -- mlgym check --run: each task's baseline through its evaluator, in the local sandbox ------------
_LOWER_WORDS = {"loss", "error", "mse", "rmse", "mae", "perplexity", "ppl", "time", "cost", "regret", "distance"}
_HIGHER_WORDS = {"accuracy", "acc", "score", "reward", "r2", "f1", "bleu", "auc", "precision", "recall", "correct"}


@dataclass
class BaselineCheck:
    """One row of ``mlgym check --run``: the task, the scale run, ok/fail/skip, why, the metrics, seconds."""

    task: str
    scale: str
    status: str
    detail: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def direction_problem(spec: TaskSpec) -> str:
    """A priority metric whose name reads the other way than ``higher_is_better`` says (``val_loss``
    marked higher-is-better); '' when the name agrees or says nothing."""
    words = set(re.split(r"[^a-z0-9]+", spec.metric.lower())) - {""}
    if spec.higher_is_better and words & _LOWER_WORDS and not words & _HIGHER_WORDS:
        return f"metric '{spec.metric}' reads as lower-is-better, but the task says higher_is_better: true"
    if not spec.higher_is_better and words & _HIGHER_WORDS and not words & _LOWER_WORDS:
        return f"metric '{spec.metric}' reads as higher-is-better, but the task says higher_is_better: false"
    return ""


def _chosen_scale(spec: TaskSpec, scale: str | None) -> tuple[str, str]:
    """(scale to run, reason to skip or ''): ``scale`` where the task has it; by default ``smoke`` where
    it has one, else its first scale, which is skipped when it needs a GPU (not cheap)."""
    if scale and scale != "default":
        return (scale if scale in spec.scales else spec.resolve_scale()), ""
    if "smoke" in spec.scales:
        return "smoke", ""
    first = spec.resolve_scale()
    if spec.resources.gpus:
        return first, (f"not cheap: needs {spec.resources.gpus} GPU(s) at scale '{first}' and has no smoke scale "
                       "(pass --scale to run it anyway)")
    return first, ""


def _summary(obs: str) -> str:
    """One line out of an evaluation's message: its first line, and the evaluator's last error line."""
    lines = [ln.strip() for ln in obs.strip().splitlines() if ln.strip() and ln.strip() != "---"]
    if not lines:
        return "no output"
    last = next((ln for ln in reversed(lines) if re.match(r"^[\w.]*(Error|Exception)\b|^\w+: ", ln)), "")
    head = lines[0][:300]
    m = re.search(r"reported no (.+?) \(reported: (.*)\)", head)
    if m:
        declared = [x.strip("'\" ") for x in m.group(1).split(",")]
        reported = [x.strip("'\" ") for x in m.group(2).split(",")]
        near = [f"'{r}' for '{d}'" for d in declared for r in reported if r.lower() == d.lower()]
        if near:
            head += f" (case differs: the evaluator prints {', '.join(near)})"
    return f"{head}: {last[:200]}" if last and last not in head else head


def check_baseline(spec: TaskSpec, scale: str | None = None) -> BaselineCheck:
    """Run the task's baseline (its ``baseline_command``, or the starter code unchanged) and its
    pristine evaluator in the local sandbox; check that the evaluator ran, printed every declared
    metric under its exact name with a finite value, and that the priority metric's direction reads
    right. Data that is not available, or a task that is not cheap at the scale, is a skip."""
    import time

    from .datacache import DataUnavailableError
    from .env import MLGymEnv

    run_scale, skip = _chosen_scale(spec, scale)
    row = BaselineCheck(spec.qualified, run_scale, "skip", skip)
    if skip:
        return row
    t0 = time.monotonic()
    env = None
    try:
        env = MLGymEnv(spec, runtime="local", scale=run_scale, tools=(), prestart=False, max_steps=4)
        env.reset()
        if spec.baseline_command:
            obs, _r, done, _t, info = env.step(spec.baseline_command)
            if done or info.get("returncode") not in (0, None):
                row.status, row.detail = "fail", (f"the baseline command exited with status {info.get('returncode')}: "
                                                  f"{_summary(obs)}")
                return row
        obs = env.step("validate")[0]
        if not env.scores:
            row.status, row.detail = "fail", _summary(obs)
            return row
        row.metrics = dict(env.scores[-1])
    except DataUnavailableError as exc:
        row.detail = f"data not available: {exc}"
        return row
    except Exception as exc:  # a task's own code failing (prepare, factory) fails its row, not the table
        first = (str(exc).strip().splitlines() or [""])[0]
        row.status, row.detail = "fail", f"{type(exc).__name__}: {first}"
        return row
    finally:
        row.seconds = time.monotonic() - t0
        if env is not None:
            env.close()
    declared = dict.fromkeys([spec.metric, *spec.baseline_for(run_scale), *spec.baseline_scores])
    missing = [k for k in declared if k not in row.metrics]
    problems = [f"the evaluator did not report {', '.join(map(repr, missing))}"] if missing else []
    problems += [p for p in [direction_problem(spec)] if p]
    row.status = "fail" if problems else "ok"
    row.detail = "; ".join(problems)
    return row


def run_baselines(ids: Iterable[str] = (), scale: str | None = None) -> list[BaselineCheck]:
    """:func:`check_baseline` on the named tasks (plain or qualified ids) or on every installed task."""
    from .registry import collect, get_task

    specs = [get_task(i) for i in ids] if ids else sorted(collect("tasks"), key=lambda s: s.qualified)
    return [check_baseline(s, scale) for s in specs]
