"""Conformance checks of specs (``mlgym check``); each raises CheckError naming the problem."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
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
    for field in ("starter_files", "grader_files", "hidden_files"):
        for rel in getattr(spec, field):
            if not (folder / rel).is_file() and not (folder / rel).is_dir():
                _fail(who, f"{field}: '{rel}' is not in the task folder")
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
    if spec.source is None or not Path(str(spec.source)).exists() and not spec.source.is_file():
        _fail(who, "source file is missing")


def _callable(who: str, f: Any) -> None:
    if not callable(f):
        _fail(who, "factory is not callable")
    try:
        inspect.signature(f)
    except (TypeError, ValueError):
        pass


def check_agent(spec: AgentSpec) -> None:
    _callable(f"agent '{spec.qualified}'", spec.factory)


def check_runtime(spec: RuntimeSpec) -> None:
    _callable(f"runtime '{spec.qualified}'", spec.factory)


def check_model_backend(spec: ModelBackendSpec) -> None:
    _callable(f"model backend '{spec.qualified}'", spec.factory)


def check_metric(spec: MetricSpec) -> None:
    _callable(f"metric '{spec.qualified}'", spec.compute)


CHECKS = {"tasks": check_task, "datasets": check_dataset, "tools": check_tool, "agents": check_agent,
          "runtimes": check_runtime, "models": check_model_backend, "metrics": check_metric}


def run_checks(ids: Iterable[str] = ()) -> list[str]:
    """Check the named items (any kind) or every installed item; return failure lines."""
    from .registry import collect

    wanted = set(ids)
    failures: list[str] = []
    found: set[str] = set()
    for kind, check in CHECKS.items():
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
                check(it)
            except CheckError as exc:
                failures.append(str(exc))
    for name in sorted(wanted - found):
        failures.append(f"'{name}': no installed task, dataset, tool, agent, metric, runtime or model has this name")
    return failures
