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
from .records import read_json


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


def _model_name(run: dict[str, Any]) -> str:
    model = run.get("model")
    if not model:
        return f"none/{run['agent'].split('/')[-1]}"
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


def _input(traj: dict[str, Any], run: dict[str, Any]) -> str:
    for h in traj.get("history") or []:
        if h.get("role") == "user":
            return str(h.get("content") or "")
    return f"MLGym task {run['task']['id']}"


def _usage(run: dict[str, Any]) -> Any:
    from inspect_ai.model import ModelUsage

    c = run.get("cost") or {}
    tin, tout = int(c.get("tokens_sent", 0)), int(c.get("tokens_received", 0))
    return ModelUsage(input_tokens=tin, output_tokens=tout, total_tokens=tin + tout,
                      total_cost=float(c.get("total_cost", 0.0)))


def _sample(run_dir: Path, run: dict[str, Any], epoch: int) -> Any:
    from inspect_ai.log import EvalSample
    from inspect_ai.scorer import Score

    task_id = run["task"]["id"]
    traj_path = run_dir / f"{task_id}.traj"
    traj = read_json(traj_path) if traj_path.is_file() else {"trajectory": [], "history": []}
    metric = run["task"]["metric"]
    best = run.get("best_score")
    score = Score(value=best if best is not None else float("nan"), answer=str(traj.get("info", {}).get("submission")),
                  explanation=run.get("exit_status") or "",
                  metadata={"metric": metric, "higher_is_better": run["task"]["higher_is_better"],
                            "best": best, "last": run.get("last_score"), "baseline": run["baseline"].get(metric),
                            "scores": run.get("scores", []), "exit_reason": run.get("exit_reason")})
    timings = run.get("timings") or {}
    return EvalSample(
        id=task_id, epoch=epoch, input=_input(traj, run), target="", messages=_messages(traj),
        scores={"mlgym": score}, model_usage={_model_name(run): _usage(run)},
        started_at=timings.get("started"), completed_at=timings.get("ended"), total_time=timings.get("wall_s"),
        metadata={"run_name": run.get("run_name"), "run_dir": str(run_dir), "exit_status": run.get("exit_status"),
                  "seed": run.get("seed"), "steps": run.get("steps"), "isolation": run.get("isolation")})


def _eval_log(group: list[tuple[Path, dict[str, Any]]]) -> Any:
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
    samples = [_sample(d, r, k) for k, (d, r) in enumerate(group, 1)]
    bests = [r["best_score"] for _, r in group if r.get("best_score") is not None]
    model = _model_name(first)
    total = ModelUsage()
    for s in samples:
        total = total + s.model_usage[model]
    starts = [r["timings"]["started"] for _, r in group if r.get("timings", {}).get("started")]
    ends = [r["timings"]["ended"] for _, r in group if r.get("timings", {}).get("ended")]
    metrics = {"mean": EvalMetric(name="mean", value=sum(bests) / len(bests) if bests else float("nan")),
               "count": EvalMetric(name="count", value=len(bests))}
    if bests:
        better = max if first["task"]["higher_is_better"] else min
        metrics["best"] = EvalMetric(name="best", value=better(bests))
    spec = EvalSpec(
        created=min(starts) if starts else _dt.datetime.now(_dt.timezone.utc).isoformat(),
        task=f"mlgym/{first['task']['id']}", task_version=first["task"].get("version", 0),
        dataset=EvalDataset(name=first["task"]["id"], samples=len(samples)), model=model,
        solver=first["agent"], config=EvalConfig(epochs=len(samples)),
        metadata={"method": first.get("method"), "metric": first["task"]["metric"],
                  "plugin": first["task"].get("plugin"), "versions": first.get("versions")})
    return EvalLog(
        status="success", eval=spec, plan=EvalPlan(name="mlgym", steps=[EvalPlanStep(solver=first["agent"])]),
        results=EvalResults(total_samples=len(samples), completed_samples=len(samples), scores=[
            EvalScore(name="mlgym", scorer="mlgym", metrics=metrics,
                      metadata={"metric": first["task"]["metric"]})]),
        stats=EvalStats(started_at=min(starts) if starts else "", completed_at=max(ends) if ends else "",
                        model_usage={model: total}),
        samples=samples)


def export_inspect(paths: Sequence[str | Path], output: str | Path) -> list[Path]:
    """Write one inspect_ai ``.eval`` log per (task, method) found under ``paths``; return the files."""
    try:
        from inspect_ai.log import write_eval_log
    except ImportError:
        raise MlgymError("--format inspect needs inspect_ai: pip install inspect_ai") from None
    groups: dict[tuple[str, str], list[tuple[Path, dict[str, Any]]]] = {}
    for d in find_runs(paths):
        run = read_json(d / "run.json")
        if not isinstance(run, dict) or "task" not in run:
            raise MlgymError(f"{d / 'run.json'}: not an mlgym run record")
        groups.setdefault((run["task"]["id"], run.get("method") or run["agent"]), []).append((d, run))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for (task_id, method), group in sorted(groups.items()):
        stamp = (group[0][1].get("timings", {}).get("started") or "").replace(":", "-")[:19]
        slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in method)
        path = out / f"{stamp}_mlgym-{task_id}_{slug}.eval"
        write_eval_log(_eval_log(group), str(path), format="eval")
        written.append(path)
    return written
