"""Find run directories and read them: MLGym's published layout and ours (``run.json``).

A run directory holds ``results.json`` (``{"agent": [metric dicts], "baseline": {...}}``),
optionally ``<taskId>.traj`` (MLGym's trajectory) and, for our runs, ``run.json``. MLGym's
folder name is ``<model>__<taskId>__<agent config>__...__run_<k>``. Unreadable files cost a
one-line warning naming the file; the report goes on.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exits import INTERRUPTED
from ..pricing import cost_of
from ..records import RunRecord

MAX_FIELD_CHARS = 2000
"""Longest thought/action/observation kept for the HTML viewer (the rest is cut, with a note)."""
DEFAULT_SCALE = "full"
"""Scale of a run that records none (MLGym's published runs) or only ``default``, when no installed
task spec names its first scale."""

_RUN_INDEX = re.compile(r"run_(\d+)$")


@dataclass
class Step:
    """One step of a trajectory, trimmed for display, with the model calls made to choose it."""

    thought: str
    action: str
    observation: str
    execution_time: float | None = None
    calls: list[list[Any]] | None = None
    """[tokens sent, tokens received, cost] of each model call made before this step ran."""


@dataclass
class Run:
    """One run directory, read."""

    path: Path
    method: str
    task: str
    model: str | None
    run_index: int | None
    agent_scores: list[dict[str, Any]]
    baseline: dict[str, Any]
    exit_status: str | None = None
    exit_detail: str | None = None
    """The error text that goes with ``exit_status`` (run.json's ``error`` or ``exit_reason``), if any."""
    tokens_sent: int | None = None
    tokens_received: int | None = None
    api_calls: int | None = None
    recorded_cost: float | None = None
    steps_count: int | None = None
    recorded_metric: tuple[str, bool] | None = None
    layout: str = "mlgym"
    scale: str = DEFAULT_SCALE
    infra_failure: str | None = None
    """Why the run failed outside the agent's control (runtime, crash, data), or None."""
    ended: str | None = None
    """When the episode ended (our runs); None while it runs or when not recorded."""
    actions: list[str] = field(default_factory=list, repr=False)
    """The action of every step (for the action-distribution figure)."""
    steps: list[Step] | None = field(default=None, repr=False)
    steps_blob: str | None = field(default=None, repr=False)
    """The steps as gzip-compressed JSON in base64, as the HTML page embeds them (see :func:`pack_steps`)."""
    model_calls: list[Any] = field(default_factory=list, repr=False)
    """run.json's per-call usage: ``{"step", "tokens_sent", "tokens_received", "cost"}`` each."""
    messages: list[list[str]] | None = field(default=None, repr=False)
    """The trajectory's history ([role, content] pairs): the messages the model was sent."""

    @property
    def interrupted(self) -> bool:
        return self.exit_status == INTERRUPTED

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def cost(self) -> float | None:
        """Dollars for this run: tokens at list price, else the cost the run recorded, else None."""
        if self.tokens_sent is not None and self.tokens_received is not None:
            priced = cost_of(self.model, self.tokens_sent, self.tokens_received)
            if priced is not None:
                return priced
        return self.recorded_cost if self.recorded_cost else None

    @property
    def sort_key(self) -> tuple[str, str, int, str]:
        return (self.method, self.task, self.run_index if self.run_index is not None else 1 << 30, self.name)


def pack_steps(steps: list[Step], messages: list[list[str]] | None = None) -> str:
    """Steps and messages as base64 of gzip-compressed JSON
    ``{"steps": [[thought, action, observation, seconds, calls], ...], "messages": [[role, content], ...]}``."""
    import base64
    import gzip

    raw = json.dumps({"steps": [[s.thought, s.action, s.observation, s.execution_time, s.calls] for s in steps],
                      "messages": messages or []}, separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(raw, compresslevel=1, mtime=0)).decode("ascii")


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Run directories under ``paths`` (a path may be a run directory or any folder above some)."""
    found: set[Path] = set()
    for root in paths:
        root = Path(root)
        if (root / "results.json").is_file() or (root / "run.json").is_file():
            found.add(root)
            continue
        for dirpath, _dirnames, filenames in os.walk(root):
            if "results.json" in filenames or "run.json" in filenames:
                found.add(Path(dirpath))
    return sorted(found)


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
    if len(text) > MAX_FIELD_CHARS:
        return f"{text[:MAX_FIELD_CHARS]}\n... [{len(text) - MAX_FIELD_CHARS} more characters not shown]"
    return text


def _read_json(path: Path, warnings: list[str]) -> Any:
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        warnings.append(f"{path}: unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); skipped")
        return None


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _read_traj(run: Run, path: Path, keep_steps: bool, warnings: list[str]) -> None:
    data = _read_json(path, warnings)
    if data is None:
        return
    if not isinstance(data, dict) or not isinstance(data.get("info", {}), dict):
        warnings.append(f"{path}: malformed trajectory (expected an object with 'info'); ignored")
        return
    info = data.get("info") or {}
    stats = info.get("model_stats") or {}
    if not isinstance(stats, dict):
        stats = {}
    if run.exit_status is None and isinstance(info.get("exit_status"), str):
        run.exit_status = info["exit_status"]
    if run.tokens_sent is None:
        run.tokens_sent = _int_or_none(stats.get("tokens_sent"))
        run.tokens_received = _int_or_none(stats.get("tokens_received"))
        run.api_calls = _int_or_none(stats.get("api_calls"))
        cost = stats.get("total_cost")
        run.recorded_cost = float(cost) if isinstance(cost, (int, float)) else None
    steps = data.get("trajectory")
    if not isinstance(steps, list):
        if steps is not None:
            warnings.append(f"{path}: malformed trajectory ('trajectory' is not a list); steps ignored")
        return
    if run.steps_count is None:
        run.steps_count = len(steps)
    run.actions = [str(s.get("action") or "") for s in steps if isinstance(s, dict)]
    if keep_steps:
        calls: dict[int, list[list[Any]]] = {}
        for c in run.model_calls:
            if isinstance(c, dict) and isinstance(c.get("step"), int):
                calls.setdefault(c["step"], []).append([c.get("tokens_sent"), c.get("tokens_received"), c.get("cost")])
        run.steps = [
            Step(_clip(s.get("thought")), _clip(s.get("action")), _clip(s.get("observation")),
                 s.get("execution_time") if isinstance(s.get("execution_time"), (int, float)) else None,
                 calls.get(i))
            for i, s in enumerate(steps) if isinstance(s, dict)
        ]
        history = data.get("history")
        if isinstance(history, list):
            run.messages = [[str(h.get("role", "")), _clip(h.get("content"))] for h in history if isinstance(h, dict)]


def read_run(path: Path, warnings: list[str], keep_steps: bool = False) -> Run | None:
    """Read one run directory; None (with a warning) when it cannot be used."""
    run_json = path / "run.json"
    meta: RunRecord | None = None
    if run_json.is_file():
        data = _read_json(run_json, warnings)
        if data is not None:
            try:
                meta = RunRecord.parse(data, run_json)
            except ValueError as exc:
                warnings.append(f"{exc}; ignored")
    results: Any = None
    if (path / "results.json").is_file():
        results = _read_json(path / "results.json", warnings)
        if results is not None and not isinstance(results, dict):
            warnings.append(f"{path / 'results.json'}: expected a JSON object; skipped")
            results = None
    match = _RUN_INDEX.search(path.name)
    run_index = int(match.group(1)) if match else None
    if meta is not None:
        method = meta.method or meta.agent
        if meta.task is None or not method:
            warnings.append(f"{run_json}: no task id or method; skipped")
            return None
        scores = results.get("agent") if results else meta.scores
        baseline = results.get("baseline") if results else meta.baseline
        recorded = (meta.task.metric, meta.task.higher_is_better) if meta.task.metric else None
        run = Run(path, method, meta.task.id, meta.model,
                  run_index if run_index is not None else meta.seed,
                  scores if isinstance(scores, list) else [], baseline if isinstance(baseline, dict) else {},
                  exit_status=meta.exit_status or None, exit_detail=meta.error or meta.exit_reason,
                  tokens_sent=meta.cost.tokens_sent, tokens_received=meta.cost.tokens_received,
                  api_calls=meta.cost.api_calls, recorded_cost=meta.cost.total_cost,
                  steps_count=meta.steps, recorded_metric=recorded, layout=meta.record_schema,
                  scale=meta.scale or DEFAULT_SCALE, infra_failure=meta.infra_failure(),
                  model_calls=[c.model_dump() for c in meta.model_calls], ended=meta.timings.ended)
    else:
        if results is None:
            return None
        fields = path.name.split("__")
        if len(fields) < 2 or not fields[0] or not fields[1]:
            warnings.append(f"{path}: folder name is not <model>__<taskId>__...; skipped")
            return None
        scores, baseline = results.get("agent"), results.get("baseline")
        run = Run(path, fields[0], fields[1], fields[0], run_index,
                  scores if isinstance(scores, list) else [], baseline if isinstance(baseline, dict) else {})
    if results is not None and "agent" in results and not isinstance(results.get("agent"), list):
        warnings.append(f"{path / 'results.json'}: 'agent' is not a list; treated as empty")
    traj = path / f"{run.task}.traj"
    if not traj.is_file():
        trajs = sorted(path.glob("*.traj"))
        traj = trajs[0] if trajs else traj
    if traj.is_file():
        _read_traj(run, traj, keep_steps, warnings)
    return run


PARALLEL_MIN_DIRS = 64
"""From this many run directories on, reading is spread over forked worker processes."""


def _read_packed(job: tuple[Path, bool]) -> tuple[Run | None, list[str]]:
    warnings: list[str] = []
    run = read_run(job[0], warnings, job[1])
    if run is not None and run.steps is not None:
        run.steps_blob, run.steps, run.messages = pack_steps(run.steps, run.messages), None, None
    return run, warnings


def load_runs(paths: list[Path], warnings: list[str], keep_steps: bool = False,
              progress: Any = None, parallel: bool = True) -> list[Run]:
    """Read every run directory under ``paths``, sorted by (method, task, run index, name).

    With many directories (and ``fork`` available) the files are parsed in worker processes,
    which hand back runs whose steps are already packed (``steps_blob``, ``steps`` None).
    """
    import multiprocessing

    dirs = find_run_dirs(paths)
    runs: list[Run] = []
    task_id = progress.add_task("reading runs", total=len(dirs)) if progress is not None else None
    workers = min(os.cpu_count() or 1, 16)
    if parallel and len(dirs) >= PARALLEL_MIN_DIRS and workers >= 4 \
            and "fork" in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            jobs = [(d, keep_steps) for d in dirs]
            for run, notes in pool.imap(_read_packed, jobs, chunksize=max(1, len(dirs) // (workers * 4))):
                warnings.extend(notes)
                if run is not None:
                    runs.append(run)
                if progress is not None:
                    progress.advance(task_id)
    else:
        for d in dirs:
            run = read_run(d, warnings, keep_steps)
            if run is not None:
                runs.append(run)
            if progress is not None:
                progress.advance(task_id)
    runs.sort(key=lambda r: r.sort_key)
    return runs
