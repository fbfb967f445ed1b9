"""One episode end to end: task + agent + model backend + runtime -> run directory."""

from __future__ import annotations

import datetime as _dt
import re
import signal
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from . import __version__
from .datacache import check_available
from .env import MLGymEnv
from .episode import RecordedEpisode, agent_tool_groups, warn
from .errors import ConfigError
from .exits import INTERRUPTED, unknown_error
from .records import (ModelCall, ModelStats, RunRecord, TaskRef, Timings, best_of, metric_values, redact_secrets,
                      split_status, write_json)
from .run_options import DEFAULT_MAX_STEPS, DEFAULT_RUNTIME, DEFAULT_SCALE, DEFAULT_SEED


class RunSpec(BaseModel):
    """Everything that defines a run; stored whole in run.json."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    task: str
    agent: str
    model: str | None = None
    runtime: str = DEFAULT_RUNTIME
    max_steps: int = DEFAULT_MAX_STEPS
    seed: int = DEFAULT_SEED
    scale: str = DEFAULT_SCALE
    """The scale as given; :func:`run_episode` resolves ``default`` from the task spec before anything else."""
    output: str = "runs"
    run_name: str | None = None
    workspace_from: str | None = None
    trajectory: str | None = None
    """Trajectory to re-execute (replay agent)."""
    resume_from: str | None = None
    """An episode snapshot to continue (``mlgym replay --until`` writes one in its run directory)."""
    agent_options: dict[str, Any] = Field(default_factory=dict)
    model_options: dict[str, Any] = Field(default_factory=dict)
    short_timeout: float | None = None
    training_timeout: float | None = None
    devices: tuple[str, ...] = ()
    cost_limit: float | None = None


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") or "none"


def run_name_for(spec: RunSpec, task_id: str, out: Path) -> str:
    if spec.run_name:
        return spec.run_name
    model = spec.model.split(":", 1)[1] if spec.model and ":" in spec.model else (spec.model or spec.agent)
    stem = f"{_slug(Path(model).stem if spec.model and spec.model.startswith('scripted:') else model)}__" \
           f"{task_id}__{_slug(spec.agent)}__s-{spec.seed}__run_"
    k = 0
    while (out / f"{stem}{k}").exists():
        k += 1
    return f"{stem}{k}"


class _Interrupted(BaseException):
    pass


def run_episode(spec: RunSpec, *, env: MLGymEnv | None = None, on_step: Any = None,
                wrap_model: Any = None) -> dict[str, Any]:
    """Run one episode; write ``<taskId>.traj``, ``results.json`` and ``run.json`` (a :class:`RunRecord`);
    return run.json's object with ``run_dir`` added.

    ``wrap_model(model)``, when given, returns the object the agent calls instead of the backend
    (``mlgym bench`` enforces its total cost limit this way).
    """
    from .registry import get_agent, get_model_backend, get_task

    task_spec = get_task(spec.task)
    spec = spec.model_copy(update={"scale": task_spec.resolve_scale(spec.scale)})  # never "default" on record
    baseline = task_spec.baseline_for(spec.scale)
    agent_spec = get_agent(spec.agent)
    if agent_spec.uses_model and not spec.model:
        raise ConfigError(f"agent '{agent_spec.name}' needs --model BACKEND:NAME")
    model = None
    if spec.model:
        backend, sep, name = spec.model.partition(":")
        if not sep:
            raise ConfigError(f"--model must be BACKEND:NAME (e.g. openai:gpt-4o), got '{spec.model}'")
        model = get_model_backend(backend).factory(name, task_id=task_spec.id, **spec.model_options)
        if wrap_model is not None:
            model = wrap_model(model)
    check_available(task_spec, spec.scale)  # no run directory for a run that cannot get its data
    # before any file is written: a bad agent option (a broken trajectory to replay) is an error, not a run
    agent = agent_spec.factory(**{k: v for k, v in spec.agent_options.items() if k not in ("tools", "tool_options")})
    out = Path(spec.output)
    out.mkdir(parents=True, exist_ok=True)
    run_dir = out / run_name_for(spec, task_spec.id, out)
    run_dir.mkdir(parents=True, exist_ok=True)
    traj_path = run_dir / f"{task_spec.id}.traj"
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    record = RunRecord(
        run_name=run_dir.name, method=agent_spec.name if not spec.model else f"{agent_spec.name}:{spec.model}",
        task=TaskRef(id=task_spec.id, qualified_id=task_spec.qualified, version=task_spec.version,
                     plugin=task_spec.plugin, plugin_version=task_spec.plugin_version, metric=task_spec.metric,
                     higher_is_better=task_spec.higher_is_better),
        agent=agent_spec.qualified, model=spec.model, runtime=spec.runtime, seed=spec.seed,
        max_steps=spec.max_steps, scale=spec.scale, baseline=baseline, steps=0,
        timings=Timings(started=started.isoformat()),
        versions={"mlgym-core": __version__, task_spec.plugin: task_spec.plugin_version,
                  agent_spec.plugin: agent_spec.plugin_version},
        spec=redact_secrets(spec.model_dump(mode="json")))  # keys stay in memory only
    record.write(run_dir)
    own_env = env is None
    if env is None:
        agent_tools, tools_warning = agent_tool_groups(agent_spec, spec.agent_options.get("tools"))
        if tools_warning:
            record.warnings.append(tools_warning)
            warn(tools_warning)
        env = MLGymEnv(task_spec, runtime=spec.runtime, max_steps=spec.max_steps, scale=spec.scale,
                       tools=agent_tools, short_timeout=spec.short_timeout,
                       training_timeout=spec.training_timeout, devices=spec.devices,
                       workspace_from=spec.workspace_from, tool_options=spec.agent_options.get("tool_options"),
                       prestart=False, resume_from=spec.resume_from)  # one episode: no next sandbox to start ahead
    episode = RecordedEpisode(env, spec, traj_path, model=model, on_step=on_step)
    prev = signal.getsignal(signal.SIGTERM)

    def _term(signum: int, frame: Any) -> None:
        raise _Interrupted()

    try:
        signal.signal(signal.SIGTERM, _term)
    except ValueError:  # not the main thread
        prev = None
    error: BaseException | None = None
    from .progress import log_to

    stop_log = log_to(run_dir / "run.log")  # service tracebacks and library warnings, not the terminal
    try:
        episode.observation, reset_info = env.reset(seed=spec.seed)
        # what the environment uses, resolved (a given env may differ from the spec)
        record.max_steps, record.scale = env.max_steps, env.task.scale
        record.short_timeout, record.training_timeout = env.short_timeout, env.training_timeout
        record.isolation = env.isolation
        envelope = getattr(env.sandbox, "envelope", None)  # the local runtime's resource envelope
        record.resources = envelope.record() if envelope is not None else None
        if env.isolation == "none":
            record.warnings.append("bwrap is not installed: commands ran without isolation")
        record.timings.reset_s = reset_info["timings"]["reset_s"]
        for h in env.history:  # a resumed episode: its trajectory starts with the snapshot's steps
            episode.traj["trajectory"].append({"action": h["action"], "observation": h["observation"],
                                               "response": "", "state": "", "thought": "", "execution_time": 0.0})
        episode.writer.write(episode.traj)
        episode.drive(agent)  # ends the episode if the agent did not
    except (KeyboardInterrupt, _Interrupted) as exc:
        env.exit_status = env.exit_status or INTERRUPTED
        error = exc
    except Exception as exc:
        record.warnings.append(f"{type(exc).__name__}: {exc}")
        record.error = split_status(unknown_error(exc))[1]  # the run crashed: not an agent's exit status
        error = exc
        if not episode.done and env.sandbox is not None:
            try:  # the agent crashed: autosubmit as MLGym does for a runtime error
                episode.step("exit_error")
            except Exception as exc2:
                record.warnings.append(f"autosubmission failed: {type(exc2).__name__}: {exc2}")
        if not env.exit_status:
            env.exit_status = unknown_error(exc)
    finally:
        if prev is not None:
            signal.signal(signal.SIGTERM, prev)
        episode._sync_info()
        episode.writer.write(episode.traj)
        ended = _dt.datetime.now(_dt.timezone.utc)
        scores = list(env.scores)
        reason = episode.traj["info"].get("exit_reason")
        if not reason and error is not None and not isinstance(error, (KeyboardInterrupt, _Interrupted)):
            reason = f"{type(error).__name__}: {error}"
        status, text = split_status(env.exit_status)  # the .traj keeps MLGym's string; run.json the constant
        record.exit_status, record.exit_reason = status, reason or (text if record.error is None else None)
        record.scores, record.steps = scores, len(episode.traj["trajectory"])
        record.cost = ModelStats.model_validate(episode.stats)
        record.model_calls = [ModelCall.model_validate(c) for c in episode.model_calls]
        record.notes = episode.notes
        record.warnings.extend(str(w) for w in (getattr(model, "warnings", None) or ()))
        record.timings.ended, record.timings.wall_s = ended.isoformat(), round(time.perf_counter() - t0, 3)
        vals = metric_values(scores, task_spec.metric)
        record.best_score = best_of(vals, task_spec.higher_is_better)
        record.last_score = vals[-1] if vals else None
        write_json(run_dir / "results.json", {"agent": scores, "baseline": baseline})
        record.write(run_dir)
        if own_env:
            env.close()
        stop_log()
    if isinstance(error, (KeyboardInterrupt, _Interrupted)):
        raise KeyboardInterrupt from None
    return {**record.to_json(), "run_dir": str(run_dir)}
