"""The bench's total cost limit, checked before every model call of every episode.

Each episode attempt owns one slot holding what it has spent so far; the total is the spend
before this bench process (from the ledger) plus every slot. Slots are files in
DIR/.spend (local executor, and Ray on one machine) or live in a Ray actor (a cluster).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..protocols import CostLimitError


class FileSpend:
    def __init__(self, folder: str | Path, prior: float = 0.0) -> None:
        self.folder = Path(folder)
        self.prior = float(prior)

    def reset(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for p in self.folder.glob("*"):
            p.unlink()

    def set(self, key: str, value: float) -> None:
        tmp = self.folder / f".{key}.{os.getpid()}"
        tmp.write_text(repr(float(value)))
        os.replace(tmp, self.folder / key)

    def total(self) -> float:
        s = self.prior
        for p in self.folder.glob("[!.]*"):
            try:
                s += float(p.read_text() or 0)
            except (OSError, ValueError):
                pass
        return s

    def handle(self) -> dict[str, Any]:
        return {"kind": "file", "folder": str(self.folder), "prior": self.prior}


class _ActorSpend:
    """Client side of the Ray spend actor."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def set(self, key: str, value: float) -> None:
        import ray

        ray.get(self.actor.set.remote(key, float(value)))

    def total(self) -> float:
        import ray

        return float(ray.get(self.actor.total.remote()))


def open_spend(handle: dict[str, Any] | None) -> Any:
    if handle is None:
        return None
    if handle["kind"] == "file":
        return FileSpend(handle["folder"], handle["prior"])
    return _ActorSpend(handle["actor"])


class CostGuard:
    """Wraps a model backend: refuses a call once the bench's total spend reached its limit."""

    def __init__(self, model: Any, spend: Any, key: str, limit: float) -> None:
        self._model = model
        self._spend = spend
        self._key = key
        self._limit = float(limit)
        self.spent = 0.0

    def complete(self, messages: Any, **kw: Any) -> Any:
        total = self._spend.total()
        if total >= self._limit:
            raise CostLimitError(f"the bench's total cost limit ${self._limit:g} is reached (${total:.4f} spent)")
        c = self._model.complete(messages, **kw)
        if getattr(c, "cost", 0.0):
            self.spent += float(c.cost)
            self._spend.set(self._key, self.spent)
        return c

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)
