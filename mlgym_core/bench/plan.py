"""What a bench runs: the episodes of tasks x agents x models x runs, each with a stable id."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..run_options import DEFAULT_MAX_STEPS, DEFAULT_RUNTIME, DEFAULT_SCALE, DEFAULT_SEED


@dataclass(frozen=True)
class BenchConfig:
    tasks: tuple[str, ...]
    agents: tuple[str, ...]
    models: tuple[str | None, ...] = (None,)
    runs: int = 4
    output: Path = Path("bench")
    executor: str = "local"
    workers: int = 1
    gpus: tuple[str, ...] = ()
    gpus_per_run: int | None = None
    total_cost_limit: float | None = None
    cost_limit: float | None = None
    runtime: str = DEFAULT_RUNTIME
    max_steps: int = DEFAULT_MAX_STEPS
    seed: int = DEFAULT_SEED
    scale: str = DEFAULT_SCALE
    agent_options: dict[str, Any] = field(default_factory=dict)
    ray_address: str | None = None
    retries: int = 1
    """In-run retries of an episode that failed for an infrastructure reason."""


@dataclass(frozen=True)
class PlannedEpisode:
    id: str
    task: str
    agent: str
    model: str | None
    run: int
    seed: int
    cpus: float
    gpus: int

    def spec_fields(self, cfg: BenchConfig) -> dict[str, Any]:
        """RunSpec fields of this episode, without output and run_name (the worker sets them)."""
        return {"task": self.task, "agent": self.agent, "model": self.model, "runtime": cfg.runtime,
                "max_steps": cfg.max_steps, "seed": self.seed, "scale": cfg.scale,
                "agent_options": dict(cfg.agent_options), "cost_limit": cfg.cost_limit}


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") or "none"


def model_label(model: str | None) -> str:
    if not model:
        return ""
    backend, _, name = model.partition(":")
    if backend == "scripted":
        name = Path(name).stem
    return _slug(name)


def plan_episodes(cfg: BenchConfig) -> list[PlannedEpisode]:
    """Resolve tasks and agents and list every episode; bad input gives a one-line ConfigError."""
    from ..registry import get_agent, get_task, tasks

    if cfg.runs < 1:
        raise ConfigError(f"--runs must be at least 1, got {cfg.runs}")
    task_ids = (sorted({t.qualified for t in tasks().values()}) if cfg.tasks == ("all",) else list(cfg.tasks))
    if not task_ids:
        raise ConfigError("--tasks: no task given (and none installed for 'all')")
    specs = [get_task(t) for t in task_ids]
    agents = [get_agent(a) for a in cfg.agents]
    if not agents:
        raise ConfigError("--agents: no agent given")
    out: list[PlannedEpisode] = []
    seen: dict[str, str] = {}
    for ag in agents:
        models: tuple[str | None, ...] = cfg.models if ag.uses_model else (None,)
        if ag.uses_model and not [m for m in models if m]:
            raise ConfigError(f"--models: agent '{ag.name}' uses a model; give --models BACKEND:NAME[,...]")
        for model in models:
            if model and ":" not in model:
                raise ConfigError(f"--models: '{model}' must be BACKEND:NAME (e.g. scripted:replies.json)")
            method = _slug(ag.name) + (f"__{model_label(model)}" if model else "")
            if method in seen and seen[method] != f"{ag.name}|{model}":
                raise ConfigError(f"--models: '{model}' and '{seen[method].split('|')[1]}' give the same run "
                                  f"name '{method}'; rename one of the files")
            seen[method] = f"{ag.name}|{model}"
            for t in specs:
                k_gpus = cfg.gpus_per_run if cfg.gpus_per_run is not None else t.resources.gpus
                if cfg.executor == "local" and not cfg.gpus and cfg.gpus_per_run is None:
                    k_gpus = 0  # no GPUs listed: the task runs on the CPU (as `mlgym run` does)
                if k_gpus and cfg.executor == "local" and k_gpus > len(cfg.gpus):
                    raise ConfigError(f"task '{t.id}' needs {k_gpus} GPU(s) per run but --gpus lists "
                                      f"{len(cfg.gpus)}")
                for k in range(cfg.runs):
                    out.append(PlannedEpisode(id=f"{method}__{t.id}__run_{k}", task=t.qualified, agent=ag.name,
                                              model=model, run=k, seed=cfg.seed + k, cpus=float(t.resources.cpus),
                                              gpus=int(k_gpus)))
    return out
