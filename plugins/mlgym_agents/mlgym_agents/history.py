"""History processors: what the model sees of the (unprocessed) trajectory history.

``last_n_observations`` is MLGym's ``Last5Observations`` for n=5: system and assistant turns and
demonstrations are kept; of the other observation turns (user, and tool results for the
tool-calling agent) the first (the task) and the last ``n`` stay verbatim, every other one
becomes ``Old output omitted (<N> lines)``. Messages sent to the model carry only the fields the
chat API needs (``role``, ``content``, plus ``tool_calls`` / ``tool_call_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_API_FIELDS = ("role", "content", "tool_calls", "tool_call_id", "name")


def _observation(item: dict[str, Any]) -> bool:
    return item.get("role") in ("user", "tool") and not item.get("is_demo")


def last_n_observations(history: Sequence[dict[str, Any]], n: int = 5) -> list[dict[str, Any]]:
    obs_idx = [i for i, item in enumerate(history) if _observation(item)]
    keep = set(obs_idx[:1]) | set(obs_idx[-n:] if n > 0 else [])
    out = []
    for i, item in enumerate(history):
        msg = {k: item[k] for k in _API_FIELDS if k in item and item[k] is not None}
        if _observation(item) and i not in keep:
            lines = len(str(item.get("content") or "").splitlines())
            msg["content"] = f"Old output omitted ({lines} lines)"
        out.append(msg)
    return out


def identity(history: Sequence[dict[str, Any]], n: int = 0) -> list[dict[str, Any]]:
    return [{k: item[k] for k in _API_FIELDS if k in item and item[k] is not None} for item in history]


PROCESSORS = {"Last5Observations": lambda h: last_n_observations(h, 5),
              "Last2Observations": lambda h: last_n_observations(h, 2),
              "Last100Observations": lambda h: last_n_observations(h, 100),
              "DefaultHistoryProcessor": identity}
