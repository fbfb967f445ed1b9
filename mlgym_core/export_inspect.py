"""``mlgym export --format inspect``: run directories as inspect_ai eval logs (``inspect view`` shows them).

Runs are grouped by task and method (agent + model); each group becomes one ``.eval`` log whose
samples are the episodes (sample id = task id, epoch = 1, 2, ... in run order). A sample holds the
task prompt as input, the conversation (system and task messages, then for every step an assistant
message with its action as a ``bash`` tool call and the observation as the tool's answer), the
score (the priority metric's best value, with last, baseline and exit status), and the model usage.
inspect_ai is imported here only (``pip install inspect_ai``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import MlgymError
from .records import RunRecord, best_of, read_json


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories (holding run.json) given directly or anywhere under the given folders."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if (p / "run.json").is_file():
            runs.append(p)
        elif p.is_dir():
            runs.extend(sorted(r.parent for r in p.rglob("run.json")))
        else:
            raise MlgymError(f"{p}: not a run directory (no run.json) nor a folder of runs")
    if not runs:
        raise MlgymError(f"no run directories (with run.json) under {', '.join(map(str, paths))}")
    return runs


def _model_name(run: RunRecord) -> str:
    model = run.model
    if not model:
        return f"none/{(run.agent or 'agent').split('/')[-1]}"
    backend, _, name = model.partition(":")
    return f"{backend}/{name}"


def _messages(traj: dict[str, Any]) -> list[Any]:
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageTool, ChatMessageUser
    from inspect_ai.tool import ToolCall

    history = traj.get("history") or []
    msgs: list[Any] = []
    for h in history[:2]:  # the agent's system prompt and the task message, when it kept them
        if h.get("role") == "system":
            msgs.append(ChatMessageSystem(content=str(h.get("content") or "")))
        elif h.get("role") == "user":
            msgs.append(ChatMessageUser(content=str(h.get("content") or "")))
    for i, st in enumerate(traj.get("trajectory") or [], 1):
        call_id = f"step_{i}"
        text = st.get("thought") or st.get("response") or ""
        msgs.append(ChatMessageAssistant(content=str(text), tool_calls=[
            ToolCall(id=call_id, function="bash", arguments={"command": st.get("action", "")})]))
        msgs.append(ChatMessageTool(content=str(st.get("observation") or ""), tool_call_id=call_id, function="bash"))
    return msgs


def _input(traj: dict[str, Any], run: RunRecord) -> str:
    for h in traj.get("history") or []:
        if h.get("role") == "user":
            return str(h.get("content") or "")
    return f"MLGym task {_task(run).id}"


def _task(run: RunRecord) -> Any:
    assert run.task is not None  # export_inspect reads only records with a task
    return run.task


def _usage(run: RunRecord) -> Any:
    from inspect_ai.model import ModelUsage

    tin, tout = run.cost.tokens_sent or 0, run.cost.tokens_received or 0
    return ModelUsage(input_tokens=tin, output_tokens=tout, total_tokens=tin + tout,
                      total_cost=run.cost.total_cost or 0.0)


def _sample(run_dir: Path, run: RunRecord, epoch: int) -> Any:
    from inspect_ai.log import EvalSample
    from inspect_ai.scorer import Score

    task = _task(run)
    task_id = task.id
    traj_path = run_dir / f"{task_id}.traj"
    traj = read_json(traj_path) if traj_path.is_file() else {"trajectory": [], "history": []}
    metric = task.metric
    best = run.best_score
    score = Score(value=best if best is not None else float("nan"), answer=str(traj.get("info", {}).get("submission")),
                  explanation=run.exit_status,
                  metadata={"metric": metric, "higher_is_better": task.higher_is_better,
                            "best": best, "last": run.last_score, "baseline": run.baseline.get(metric or ""),
                            "scores": run.scores, "exit_reason": run.exit_reason, "error": run.error})
    timings = run.timings
    return EvalSample(
        id=task_id, epoch=epoch, input=_input(traj, run), target="", messages=_messages(traj),
        scores={"mlgym": score}, model_usage={_model_name(run): _usage(run)},
        started_at=timings.started, completed_at=timings.ended, total_time=timings.wall_s,
        metadata={"run_name": run.run_name, "run_dir": str(run_dir), "exit_status": run.exit_status,
                  "seed": run.seed, "steps": run.steps, "isolation": run.isolation, "scale": run.scale})


def _eval_log(group: list[tuple[Path, RunRecord]]) -> Any:
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalLog,
        EvalMetric,
        EvalPlan,
        EvalPlanStep,
        EvalResults,
        EvalScore,
        EvalSpec,
        EvalStats,
    )
    from inspect_ai.model import ModelUsage

    first = group[0][1]
    task = _task(first)
    samples = [_sample(d, r, k) for k, (d, r) in enumerate(group, 1)]
    bests = [r.best_score for _, r in group if r.best_score is not None]
    model = _model_name(first)
    total = ModelUsage()
    for s in samples:
        total = total + s.model_usage[model]
    starts = [r.timings.started for _, r in group if r.timings.started]
    ends = [r.timings.ended for _, r in group if r.timings.ended]
    metrics = {"mean": EvalMetric(name="mean", value=sum(bests) / len(bests) if bests else float("nan")),
               "count": EvalMetric(name="count", value=len(bests))}
    if bests:
        metrics["best"] = EvalMetric(name="best", value=best_of(bests, task.higher_is_better))
    spec = EvalSpec(
        created=min(starts) if starts else _dt.datetime.now(_dt.timezone.utc).isoformat(),
        task=f"mlgym/{task.id}", task_version=task.version or 0,
        dataset=EvalDataset(name=task.id, samples=len(samples)), model=model,
        solver=first.agent, config=EvalConfig(epochs=len(samples)),
        metadata={"method": first.method, "metric": task.metric, "plugin": task.plugin, "versions": first.versions})
    return EvalLog(
        status="success", eval=spec, plan=EvalPlan(name="mlgym", steps=[EvalPlanStep(solver=first.agent or "")]),
        results=EvalResults(total_samples=len(samples), completed_samples=len(samples), scores=[
            EvalScore(name="mlgym", scorer="mlgym", metrics=metrics,
                      metadata={"metric": task.metric})]),
        stats=EvalStats(started_at=min(starts) if starts else "", completed_at=max(ends) if ends else "",
                        model_usage={model: total}),
        samples=samples)


def export_inspect(paths: Sequence[str | Path], output: str | Path) -> list[Path]:
    """Write one inspect_ai ``.eval`` log per (task, method) found under ``paths``; return the files."""
    try:
        from inspect_ai.log import write_eval_log
    except ImportError:
        raise MlgymError("--format inspect needs inspect_ai: pip install inspect_ai") from None
    groups: dict[tuple[str, str], list[tuple[Path, RunRecord]]] = {}
    for d in find_runs(paths):
        run = RunRecord.read(d / "run.json")
        if run.task is None or not (run.method or run.agent):
            raise MlgymError(f"{d / 'run.json'}: not an mlgym run record (no task or agent)")
        groups.setdefault((run.task.id, run.method or run.agent or ""), []).append((d, run))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for (task_id, method), group in sorted(groups.items()):
        stamp = (group[0][1].timings.started or "").replace(":", "-")[:19]
        slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in method)
        path = out / f"{stamp}_mlgym-{task_id}_{slug}.eval"
        write_eval_log(_eval_log(group), str(path), format="eval")
        written.append(path)
    return written
