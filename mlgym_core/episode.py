"""The episode an agent drives: ``step`` runs an action in the environment and records it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import MlgymError
from .records import TrajectoryWriter, new_trajectory

if TYPE_CHECKING:  # pragma: no cover
    from .env import MLGymEnv
    from .run import RunSpec


class Episode:
    """What an agent drives: ``step`` runs an action in the environment and records it."""

    def __init__(self, env: MLGymEnv, spec: RunSpec, traj_path: Path, model: Any = None,
                 on_step: Any = None) -> None:
        self.env = env
        self.spec = spec
        self.task = env.task
        self.task_spec = env.spec_task
        self.model = model
        self.tools = env.tool_specs
        self.max_steps = env.max_steps
        self.traj_path = traj_path
        self.traj = new_trajectory()
        self.writer = TrajectoryWriter(traj_path)
        self.options = dict(spec.agent_options)
        self.done = False
        self.observation = ""
        self.info: dict[str, Any] = {}
        self.on_step = on_step
        self.model_calls: list[dict[str, Any]] = []

    # -- used by agents --------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, Any]:
        return self.traj["info"]["model_stats"]

    def add_history(self, role: str, content: str, **extra: Any) -> None:
        self.traj["history"].append({"role": role, "content": content, "agent": "primary_0", **extra})

    def add_usage(self, tokens_sent: int, tokens_received: int, cost: float) -> None:
        s = self.stats
        s["tokens_sent"] += int(tokens_sent)
        s["tokens_received"] += int(tokens_received)
        s["total_cost"] = round(s["total_cost"] + cost, 8)
        s["task_cost"] = s["total_cost"]
        s["api_calls"] += 1
        # per call, for the report's viewer (run.json): the step it chose, i.e. the next step's index
        self.model_calls.append({"step": len(self.traj["trajectory"]), "tokens_sent": int(tokens_sent),
                                 "tokens_received": int(tokens_received), "cost": cost})

    def step(self, action: str, *, thought: str = "", response: str = "", state: str | None = None,
             ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.done:
            raise MlgymError("the episode is over")
        t0 = time.perf_counter()
        obs, reward, term, trunc, info = self.env.step(action)
        elapsed = time.perf_counter() - t0
        if state is None:
            state = json.dumps({"open_file": "n/a", "working_dir": info.get("cwd", "")})
        self.traj["trajectory"].append({"action": action, "observation": obs, "response": response,
                                        "state": state, "thought": thought, "execution_time": elapsed})
        self.observation, self.info = obs, info
        self.done = term or trunc
        self._sync_info()
        self.writer.write(self.traj)
        if self.on_step is not None:
            self.on_step(self, reward)
        return obs, reward, term, trunc, info

    def _sync_info(self) -> None:
        i = self.traj["info"]
        i["exit_status"] = self.env.exit_status
        i["submission"] = self.env.submission
        i["score"] = list(self.env.scores)
