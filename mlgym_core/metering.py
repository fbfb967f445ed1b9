"""Core meters every model call: the model an agent gets is a :class:`MeteredModel`.

Each ``complete()`` adds its tokens and cost to the episode's :class:`Usage` (MLGym's
``model_stats`` in the ``.traj``: ``tokens_sent``, ``tokens_received``, ``api_calls``,
``total_cost``, ``task_cost``) and keeps one record per call for ``run.json``. The per-episode cost
limit holds for every agent, as MLGym's ``per_instance_cost_limit`` (reference 3.6): once a call
brings the cost to the limit or over it, that call's reply is dropped and :class:`CostLimitError`
raised (``exit_cost``); a later call is refused before it is sent. A limit of None or 0 is no limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .protocols import Completion, CostLimitError

DEFAULT_COST_LIMIT = 4.0
"""US dollars per episode when ``--cost-limit`` is not given: MLGym's published runs used $4.00."""


@dataclass
class Usage:
    """Running totals of one episode's model calls, and one record per call."""

    cost_limit: float | None = DEFAULT_COST_LIMIT
    tokens_sent: int = 0
    tokens_received: int = 0
    api_calls: int = 0
    total_cost: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)
    """Per call: ``step`` (the index of the step it chose), ``tokens_sent``, ``tokens_received``, ``cost``."""

    def add(self, completion: Completion, step: int) -> None:
        sent, received = int(completion.input_tokens or 0), int(completion.output_tokens or 0)
        cost = float(completion.cost or 0.0)
        self.tokens_sent += sent
        self.tokens_received += received
        self.api_calls += 1
        self.total_cost = round(self.total_cost + cost, 8)
        self.calls.append({"step": step, "tokens_sent": sent, "tokens_received": received, "cost": cost})

    @property
    def limit_reached(self) -> bool:
        return bool(self.cost_limit) and self.cost_limit > 0 and self.total_cost >= self.cost_limit

    def model_stats(self) -> dict[str, Any]:
        """MLGym's ``info.model_stats`` of the ``.traj``."""
        return {"total_cost": self.total_cost, "task_cost": self.total_cost, "tokens_sent": self.tokens_sent,
                "tokens_received": self.tokens_received, "api_calls": self.api_calls}

    def limit_error(self) -> CostLimitError:
        return CostLimitError(f"cost ${self.total_cost:.4f} reached the limit ${self.cost_limit:.2f}")


class MeteredModel:
    """Wraps a model backend: counts every call into ``usage`` and enforces its cost limit.

    ``step()`` tells which step the reply is for (recorded per call). Other attributes of the backend
    (``name``, ``max_input_tokens``, ``warnings`` ...) read through.
    """

    def __init__(self, backend: Any, usage: Usage, step: Callable[[], int] = lambda: 0) -> None:
        self.backend = backend
        self.usage = usage
        self._step = step

    def complete(self, messages: Sequence[dict[str, Any]], *, tools: Sequence[dict[str, Any]] | None = None,
                 **kw: Any) -> Completion:
        if self.usage.limit_reached:
            raise self.usage.limit_error()
        c = self.backend.complete(messages, tools=tools, **kw)
        self.usage.add(c, self._step())
        if self.usage.limit_reached:  # MLGym checks after the call: the reply that crossed it is not used
            raise self.usage.limit_error()
        return c

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)
