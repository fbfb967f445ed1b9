"""Built-in plugin: the ``baseline`` and ``replay`` agents, which need no model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..exits import EXIT_FORFEIT, MAX_STEPS, SKIP, forced_reason
from ..hookspecs import hookimpl
from ..records import load_actions, read_json
from ..specs import AgentSpec


@hookimpl
def register_agents() -> list[AgentSpec]:
    return [
        AgentSpec(name="baseline", description="Runs the task's baseline, validates and submits",
                  factory=BaselineAgent, uses_model=False, tool_groups=("core",)),
        AgentSpec(name="replay", description="Re-executes the actions of a trajectory file (ours or MLGym's)",
                  factory=ReplayAgent, uses_model=False, tool_groups=("core", "default")),
    ]


class BaselineAgent:
    """MLGym's ``submit_baseline``: run the baseline command (if any), validate, submit."""

    def __init__(self, **_options: Any) -> None:
        pass

    def run(self, episode: Any) -> None:
        cmd = episode.task_spec.baseline_command
        if cmd:
            episode.step(cmd, thought="Run the baseline as given.")
        if not episode.done:
            episode.step("validate", thought="Score the baseline artifact.")
        if not episode.done:
            episode.step("submit", thought="Submit the baseline.")


class ReplayAgent:
    """Re-execute every recorded ``action`` of a trajectory, keeping its thoughts and responses."""

    def __init__(self, trajectory: str | None = None, until: int | None = None, **_options: Any) -> None:
        if until is not None and (isinstance(until, bool) or not isinstance(until, int) or until < 1):
            raise ConfigError(f"replay: until must be a positive integer, got {until!r}")
        self.until = until
        if not trajectory:
            raise ConfigError("the replay agent needs a trajectory file (mlgym replay TRAJ --task ID)")
        self.path = Path(trajectory)
        self.steps = load_actions(self.path)
        if not self.steps:
            raise ConfigError(f"{self.path}: the trajectory has no steps to replay")
        info = read_json(self.path).get("info")
        self.recorded_status = str(info.get("exit_status") or "") if isinstance(info, dict) else ""

    def run(self, episode: Any) -> None:
        for i, st in enumerate(self.steps):
            if episode.done:
                break
            if self.until is not None and i == self.until:  # keep the episode for an agent to continue
                episode.keep_snapshot()
                return
            episode.step(st["action"], thought=str(st.get("thought") or ""),
                         response=str(st.get("response") or ""),
                         state=st.get("state") if isinstance(st.get("state"), str) else None)
        if episode.done:
            return
        reason = forced_reason(self.recorded_status)
        if reason is not None and reason != MAX_STEPS:
            episode.step(reason)
        elif episode.steps_left == 0:
            episode.step(SKIP)  # past max_steps: the environment autosubmits (max_steps)
        else:
            episode.step(EXIT_FORFEIT)
