"""Host services of an episode: tools whose work happens on the host (memory, literature search),
reached from the sandbox through sockets in a folder the sandbox mounts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .sandbox import SERVICES_DIR
from .specs import ToolSpec


def wants_services(specs: Iterable[ToolSpec]) -> bool:
    return any(t.service is not None for t in specs)


def start_services(specs: Sequence[ToolSpec], *, task_id: str, episode_dir: Path, options: dict[str, Any],
                   started: list[Any]) -> Path | None:
    """Start one service per distinct ``ToolSpec.service`` factory, appending each to ``started``
    as it starts (so a caller can close those already running if a later one fails); return the
    host folder of their sockets, or None when no tool has a service."""
    wanted = [t for t in specs if t.service is not None]
    if not wanted:
        return None
    sdir = episode_dir / "services"
    sdir.mkdir()
    seen: set[int] = set()
    for t in wanted:
        if id(t.service) in seen:
            continue
        seen.add(id(t.service))
        started.append(t.service(task_id=task_id, socket_dir=sdir, sandbox_dir=SERVICES_DIR, options=options))
    return sdir


def close_all(items: Iterable[Any]) -> None:
    """Close each sandbox or service, ignoring one that fails to close."""
    for item in items:
        if item is None:
            continue
        try:
            item.close()
        except Exception:
            pass
