"""The episode core runs and records; agents see it through :class:`mlgym_core.protocols.Episode`.

:class:`RecordedEpisode` holds the environment, the ``.traj`` record and the metered model. Agents
use only what the protocol lists (a test scans them); ``env``, ``traj`` and ``drive`` are core's.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import MlgymError
from .exits import EXIT_ACTIONS, EXIT_FORFEIT, exit_words
from .metering import DEFAULT_COST_LIMIT, MeteredModel, Usage
from .protocols import CostLimitError, ModelError
from .records import TrajectoryWriter, new_trajectory

if TYPE_CHECKING:  # pragma: no cover
    from .env import MLGymEnv
    from .run import RunSpec
    from .specs import AgentSpec

ACI_GROUP = "default"
"""The tool group of mlgym-tools' agent-computer interface: open, goto, scroll, create, edit, search ..."""


class RecordedEpisode:
    """What an agent drives: ``step`` runs an action in the environment and records it."""

    def __init__(self, env: MLGymEnv, spec: RunSpec, traj_path: Path, model: Any = None,
                 on_step: Any = None) -> None:
        self.env = env
        self.spec = spec
        self.task_spec = env.spec_task
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
        self._family: _Family = _Family()
        """Shared by an episode and all its forks: the forks to close when the agent returns, and the
        cost of all their model calls, which the one cost limit bounds."""
        self._usage = _BranchUsage(cost_limit=DEFAULT_COST_LIMIT if spec.cost_limit is None else float(spec.cost_limit),
                                   family=self._family)
        self._family.usages.append(self._usage)
        self.model = None if model is None else MeteredModel(model, self._usage,
                                                             step=lambda: len(self.traj["trajectory"]))
        warnings = [str(w) for w in (getattr(model, "warnings", None) or ())]
        if warnings:  # e.g. a model without a list price: its cost counts as 0
            self.traj["info"]["warnings"] = warnings
        self._state: str | None = None
        self._is_fork = False

    # -- the agent-side contract (protocols.Episode) ------------------------------------------
    @property
    def current_step(self) -> int:
        return int(self.env.current_step)

    @property
    def steps_left(self) -> int:
        return max(0, self.max_steps - self.current_step)

    @property
    def training_timeout(self) -> float:
        return float(self.env.training_timeout)

    @property
    def usage(self) -> Usage:
        return self._usage

    @property
    def history(self) -> Sequence[dict[str, Any]]:
        return tuple(self.traj["history"])

    def add_message(self, role: str, content: str, **extra: Any) -> None:
        self.traj["history"].append({"role": role, "content": content, "agent": "primary_0", **extra})

    def read_state(self, timeout_s: float = 10.0) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if any(t.name == "state" for t in self.tools) and self.env.sandbox is not None:
            try:
                out = self.env.sandbox.run("state", timeout_s).output
                for line in reversed(out.strip().splitlines()):
                    if line.lstrip().startswith("{"):
                        data = json.loads(line)
                        break
            except Exception:  # a broken state command must not end the episode
                data = {}
        if not isinstance(data, dict):
            data = {}
        data.setdefault("open_file", "n/a")
        if not data.get("working_dir"):
            data["working_dir"] = self.env.cwd
        self._state = json.dumps(data)
        return data

    def step(self, action: str, *, thought: str = "", response: str = "", state: str | None = None,
             ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.done:
            raise MlgymError("the episode is over")
        t0 = time.perf_counter()
        obs, reward, term, trunc, info = self.env.step(action)
        elapsed = time.perf_counter() - t0
        if state is None:
            state = self._state or json.dumps({"open_file": "n/a", "working_dir": info.get("cwd", "")})
        self._state = None  # a state is recorded with the one step that follows its reading
        self.traj["trajectory"].append({"action": action, "observation": obs, "response": response,
                                        "state": state, "thought": thought, "execution_time": elapsed})
        self.observation, self.info = obs, info
        self.done = term or trunc
        self._sync_info()
        self.writer.write(self.traj)
        if self.on_step is not None:
            self.on_step(self, reward)
        return obs, reward, term, trunc, info

    def exit(self, action: str, reason: str, *, response: str | None = None) -> None:
        action = str(action)  # an ExitAction too
        if action not in EXIT_ACTIONS:
            raise MlgymError(f"episode.exit: {action!r} is not an exit action; use one of {', '.join(EXIT_ACTIONS)}")
        thought, words = exit_words(action, reason)
        response = words if response is None else response
        self.add_message("assistant", response, thought=thought, action=action)
        self.traj["info"].setdefault("exit_reason", reason)
        self.step(action, thought=thought, response=response)

    def note(self, text: str) -> None:
        self.traj["info"].setdefault("notes", []).append(str(text))

    def keep_snapshot(self) -> Path:
        name = f"{self.traj_path.stem}.snapshot" if self._is_fork else "snapshot"
        return Path(self.env.snapshot(self.traj_path.parent / name))

    def fork(self, traj_path: str | Path | None = None) -> RecordedEpisode:
        if self.env.sandbox is None:
            raise MlgymError("episode.fork(): the episode is closed")
        path = self._family.claim(self.traj_path, None if traj_path is None else Path(traj_path))
        try:
            child_env = self.env.fork()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        child = RecordedEpisode.__new__(RecordedEpisode)
        child.__dict__.update(self.__dict__)
        usage = dataclasses.replace(self._usage, calls=copy.deepcopy(self._usage.calls),
                                    prefix_cost=self._usage.total_cost)
        child.__dict__.update(
            env=child_env, traj_path=path, traj=copy.deepcopy(self.traj), writer=TrajectoryWriter(path),
            options=dict(self.options), info=copy.deepcopy(self.info), on_step=None, _usage=usage, _is_fork=True,
            model=None if self.model is None else MeteredModel(self.model.backend, usage,
                                                               step=lambda: len(child.traj["trajectory"])))
        child.traj["info"].pop("forks", None)
        child.traj["info"]["forked_from"] = {"traj": self.traj_path.name, "step": self.current_step}
        self.traj["info"].setdefault("forks", []).append({"traj": path.name, "step": self.current_step})
        self._family.add(child, usage)
        try:
            child.writer.write(child.traj)
        except BaseException:
            child.close()
            raise
        return child

    def close(self) -> None:
        if not self._is_fork:
            return
        self.done = True
        self.env.close()

    # -- core's side ----------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, Any]:
        """MLGym's ``model_stats`` of the model calls so far."""
        return self._usage.model_stats()

    @property
    def model_calls(self) -> list[dict[str, Any]]:
        return self._usage.calls

    @property
    def notes(self) -> list[str]:
        return list(self.traj["info"].get("notes") or ())

    def drive(self, agent: Any) -> None:
        """Run ``agent`` on this episode and make sure the episode ends.

        A :class:`ModelError` the agent lets through (the cost limit, an API failure) ends the episode
        with its exit action, as MLGym's agent loop does; an agent that returns early forfeits. The
        forks the agent made are closed when it returns (their trajectories stay)."""
        try:
            agent.run(self)
        except ModelError as exc:
            if self.done:  # a call after the end: nothing left to end
                self.note(f"model call after the episode ended: {type(exc).__name__}: {exc}")
                return
            self.exit(getattr(exc, "exit_action", "exit_api"), f"{type(exc).__name__}: {exc}")
            return
        finally:
            self._family.close_all()
        if not self.done:
            self.step(EXIT_FORFEIT)

    def _sync_info(self) -> None:
        i = self.traj["info"]
        i["model_stats"] = self._usage.model_stats()
        i["exit_status"] = self.env.exit_status
        i["submission"] = self.env.submission
        i["score"] = list(self.env.scores)


@dataclasses.dataclass
class _BranchUsage(Usage):
    """An episode's or a fork's usage: its own counts (copied into a fork up to the fork), while the
    cost limit holds for the episode and all its forks together (forking does not multiply it)."""

    family: _Family | None = dataclasses.field(default=None, repr=False, compare=False)
    prefix_cost: float = 0.0
    """The cost copied from the parent at the fork (counted once, in the parent)."""

    @property
    def limit_reached(self) -> bool:
        total = self.total_cost if self.family is None else self.family.total_cost()
        return bool(self.cost_limit) and self.cost_limit > 0 and total >= self.cost_limit

    def limit_error(self) -> CostLimitError:
        total = self.total_cost if self.family is None else self.family.total_cost()
        forks = " (the episode and its forks)" if self.family is not None and len(self.family.usages) > 1 else ""
        return CostLimitError(f"cost ${total:.4f}{forks} reached the limit ${self.cost_limit:.2f}")


class _Family:
    """An episode's forks (and their forks): their ``.traj`` names, closing them all, and the cost of
    every model call made in any of them."""

    def __init__(self) -> None:
        self.forks: list[RecordedEpisode] = []
        self.usages: list[_BranchUsage] = []
        self._lock = threading.Lock()

    def total_cost(self) -> float:
        return sum(u.total_cost - u.prefix_cost for u in list(self.usages))

    def claim(self, origin: Path, path: Path | None) -> Path:
        """The fork's trajectory path: ``path``, or the first free ``<taskId>.fork-<k>.traj`` beside ``origin``."""
        with self._lock:
            taken = {f.traj_path.resolve() for f in self.forks} | {origin.resolve()}
            if path is not None:
                if path.resolve() in taken or path.exists():
                    raise MlgymError(f"episode.fork(): {path} exists already; give a new file")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
                return path
            stem = origin.name.split(".", 1)[0]
            k = 1
            while (p := origin.with_name(f"{stem}.fork-{k}.traj")).resolve() in taken or p.exists():
                k += 1
            p.touch()  # claimed (a fork made in another thread skips it)
            return p

    def add(self, fork: RecordedEpisode, usage: _BranchUsage) -> None:
        with self._lock:
            self.forks.append(fork)
            self.usages.append(usage)

    def close_all(self) -> None:
        with self._lock:
            forks, self.forks = self.forks, []
        for f in forks:
            try:
                f.close()
            except Exception as exc:  # one broken fork must not keep the others' sandboxes running
                warn(f"closing the fork {f.traj_path.name} failed: {type(exc).__name__}: {exc}")


def agent_tool_groups(agent: AgentSpec, requested: Sequence[str] | None = None,
                      ) -> tuple[list[str], str | None]:
    """The tool groups (or tool names) the agent's sandbox gets, and a one-line warning or None.

    ``requested`` (``-o tools=[...]``) is taken as given. Otherwise the agent's ``tool_groups``
    apply (by default ``core`` + the ACI ``default`` group, what a scaffold expects); the ACI group is
    left out when no installed plugin provides it, with a warning that the agent gets no
    file-editing tools.
    """
    if requested:
        return list(requested), None
    groups = list(agent.tool_groups)
    if ACI_GROUP not in groups:
        return groups, None
    from .registry import _install_hint, collect

    if any(t.group == ACI_GROUP for t in collect("tools")):
        return groups, None
    groups.remove(ACI_GROUP)
    return groups, (f"agent '{agent.name}' gets no file-editing tools (open, edit, create ...): no plugin loaded "
                    f"provides the tool group '{ACI_GROUP}'. {_install_hint('edit', 'tools')}").strip()


def warn(message: str) -> None:
    """One line on stderr (or in run.log while a run logs there)."""
    logging.getLogger("mlgym").warning("mlgym: %s", message)
