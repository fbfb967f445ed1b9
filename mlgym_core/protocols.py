"""Behaviour contracts: what agents and model backends implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .episode import Episode


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
