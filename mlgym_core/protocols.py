"""Behaviour contracts: what agents and model backends implement, and the episode an agent drives.

:class:`Episode` is the whole agent-side contract: an agent gets one in ``Agent.run(episode)`` and
uses nothing else (tests scan the built-in agents for ``.env`` and ``.traj``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .specs import TaskSpec, ToolSpec


@dataclass
class Completion:
    """One model reply with its usage."""

    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    raw: Any = None


class ModelBackend(Protocol):
    """A chat model. ``complete`` raises :class:`ModelError` subclasses on failure."""

    name: str

    def complete(self, messages: Sequence[dict[str, Any]], *, tools: Sequence[dict[str, Any]] | None = None,
                 ) -> Completion: ...


class Usage(Protocol):
    """What the episode's model calls have used so far (core counts every call; read-only for agents)."""

    tokens_sent: int
    tokens_received: int
    api_calls: int
    total_cost: float
    cost_limit: float | None
    """US dollars per episode (``--cost-limit``; MLGym's $4.00 by default); None or 0: no limit."""


class Episode(Protocol):
    """One episode as an agent sees it: the whole agent-side contract.

    Life of an episode: core resets the task's sandbox, builds the agent (``AgentSpec.factory(**options)``)
    and calls ``agent.run(episode)``. The agent reads :attr:`observation` (the task description at
    first), asks :attr:`model`, and sends shell commands with :meth:`step` until :attr:`done`. An agent
    that returns early forfeits (``exit_forfeit``); a :class:`ModelError` it lets through ends the
    episode with the error's exit action (``exit_cost``, ``exit_api``, ...) and an autosubmission; any
    other exception ends it with ``exit_error``. Every step, message, note and model call is recorded
    in ``<taskId>.traj`` (MLGym's format) and ``run.json``; the agent never writes records itself.

    Model calls are metered by core: :attr:`model` is already wrapped, so each ``complete()`` adds its
    tokens and cost to :attr:`usage`, and once the cost limit is reached it raises
    :class:`CostLimitError` (``exit_action = "exit_cost"``).
    """

    observation: str
    """The last observation: the task description after reset, then each step's output."""
    done: bool
    """True once the episode has ended (submitted, autosubmitted, forfeited, or past ``max_steps``)."""
    max_steps: int
    task_spec: TaskSpec
    """The task: ``id``, ``description``, ``metric``, ``baseline_command`` ..."""
    tools: Sequence[ToolSpec]
    """The tools installed in the sandbox (name, signature, docstring, arguments, group): for prompts."""
    model: ModelBackend | None
    """The model, metered by core; None for an agent registered with ``uses_model=False``."""
    options: Mapping[str, Any]
    """The agent options of the run (``-o key=value``), as the factory received them."""

    @property
    def current_step(self) -> int:
        """Steps taken so far (a resumed episode counts the snapshot's steps)."""
        ...

    @property
    def steps_left(self) -> int:
        """Steps the agent may still take before the environment autosubmits (``max_steps``)."""
        ...

    @property
    def training_timeout(self) -> float:
        """Seconds a long command (``python``, ``torchrun`` ...) may run; prompts quote it."""
        ...

    @property
    def usage(self) -> Usage:
        """Tokens, calls and cost of the model calls so far, and the cost limit."""
        ...

    @property
    def history(self) -> Sequence[dict[str, Any]]:
        """The messages so far (``role``, ``content`` and extra fields), oldest first; read-only."""
        ...

    def add_message(self, role: str, content: str, **extra: Any) -> None:
        """Append a message to the history (``.traj`` ``history``): the prompts the agent sent and the
        replies it got; ``extra`` keeps fields such as ``thought``, ``action``, ``tool_calls``,
        ``tool_call_id``."""
        ...

    def read_state(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """The shell's state: runs the sandbox's ``state`` tool when installed (the ACI's open file and
        window) and always gives ``open_file`` (``"n/a"`` when none) and ``working_dir``. The state read
        last is recorded with the next step (MLGym's ``state`` field). Never raises for a broken tool."""
        ...

    def step(self, action: str, *, thought: str = "", response: str = "", state: str | None = None,
             ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Run one shell command (or ``validate``, ``submit``, ``skip``, an exit action) and record it.

        ``thought`` and ``response`` go into the trajectory step; ``state`` (a JSON string) overrides
        the state read last. Returns gymnasium's ``(observation, reward, terminated, truncated, info)``.
        Raises MlgymError when the episode is already over.
        """
        ...

    def exit(self, action: str, reason: str, *, response: str | None = None) -> None:
        """End the episode with an exit action (``exit_cost``, ``exit_format`` ...; see
        :mod:`mlgym_core.exits`): records MLGym's thought/response for it and ``reason`` as the run's
        exit reason, then steps, so the environment autosubmits."""
        ...

    def note(self, text: str) -> None:
        """Add one line to the record (``.traj`` ``info.notes``): what the agent wants a reader to know."""
        ...

    def keep_snapshot(self) -> Path:
        """Save the episode (workspace and history) for another agent to continue with
        ``mlgym run --resume-from``; returns the snapshot folder."""
        ...

    def fork(self, traj_path: str | Path | None = None) -> Episode:
        """A new independent episode equal to this one now, to branch from (tree search, best-of-n).

        The fork gets a copy of the sandbox (``env.fork()``: workspace files, working directory,
        exported variables, functions, aliases; background processes are not carried), of the
        history and trajectory so far and of the model usage (each branch's :attr:`usage` then counts
        its own calls; the cost limit holds for the episode and all its forks together, the shared
        prefix counted once). Each branch steps on its own; the fork records to its own ``.traj``:
        ``traj_path`` or ``<taskId>.fork-<k>.traj`` beside this one (run.json and the score are the
        original episode's). Core closes every fork when the agent returns; :meth:`close` ends a
        branch earlier. Forking reads this episode's shell: do not step it from another thread
        meanwhile (branches may each be stepped in a thread of their own)."""
        ...

    def close(self) -> None:
        """End a fork made by :meth:`fork` now: its sandbox stops, its ``.traj`` stays. Core closes
        the episode it gave the agent itself; closing that one does nothing."""
        ...


class Agent(Protocol):
    """Runs one episode: calls ``episode.step(action, ...)`` until ``episode.done``."""

    def run(self, episode: Episode) -> None: ...


class ModelError(Exception):
    """A model call failed; ``exit_action`` says how the episode ends (``exit_api`` ...)."""

    exit_action = "exit_api"


class ContextWindowError(ModelError):
    exit_action = "exit_context"


class CostLimitError(ModelError):
    exit_action = "exit_cost"
