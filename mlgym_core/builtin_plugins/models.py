"""Built-in plugin: the ``scripted`` model backend, which replays canned replies (for tests).

``--model scripted:<file>``: a JSON list of replies, a JSONL file of replies (strings or
``{"content": ..., "tool_calls": [...], "cost": 0.5}``), or MLGym's replay JSONL ``{"<taskId>": [replies]}``.
A reply's ``cost`` (US dollars, default 0) lets tests exercise cost metering and limits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..protocols import Completion, ModelError
from ..specs import ModelBackendSpec


@hookimpl
def register_model_backends() -> list[ModelBackendSpec]:
    return [ModelBackendSpec(name="scripted", description="Replays canned replies from a file (tests)",
                             factory=ScriptedBackend)]


class ScriptedBackend:
    """Returns the next canned reply at each call; token counts are words, cost is the reply's ``cost`` or 0."""

    def __init__(self, model: str, *, replies: Sequence[Any] | None = None, task_id: str | None = None,
                 **_options: Any) -> None:
        self.name = f"scripted:{model}"
        if replies is None:
            replies = load_replies(Path(model), task_id)
        self.replies = list(replies)
        self.calls = 0

    def complete(self, messages: Sequence[dict[str, Any]], *, tools: Sequence[dict[str, Any]] | None = None,
                 ) -> Completion:
        if self.calls >= len(self.replies):
            raise ModelError(f"scripted model ran out of replies after {len(self.replies)}")
        r = self.replies[self.calls]
        self.calls += 1
        content, calls = (r, []) if isinstance(r, str) else (r.get("content") or "", r.get("tool_calls") or [])
        cost = 0.0 if isinstance(r, str) else float(r.get("cost") or 0.0)
        sent = sum(len(str(m.get("content", "")).split()) for m in messages)
        return Completion(content=content, tool_calls=list(calls), input_tokens=sent, cost=cost,
                          output_tokens=len(content.split()))


def load_replies(path: Path, task_id: str | None = None) -> list[Any]:
    if not path.is_file():
        raise ConfigError(f"scripted model: reply file {path} not found (use --model scripted:<file>)")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise ConfigError(f"scripted model: {path} is neither JSON nor JSONL: {exc}") from None
        if len(data) == 1 and isinstance(data[0], dict) and "content" not in data[0]:
            data = data[0]
    if isinstance(data, dict):
        if task_id and task_id in data:
            data = data[task_id]
        elif len(data) == 1:
            data = next(iter(data.values()))
        else:
            raise ConfigError(f"scripted model: {path} maps several tasks; none is '{task_id}'")
    if not isinstance(data, list):
        raise ConfigError(f"scripted model: {path} must hold a list of replies")
    return data
