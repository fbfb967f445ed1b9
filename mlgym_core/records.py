"""Run records: MLGym's ``<taskId>.traj`` and ``results.json``, plus our ``run.json``.

Every file is written atomically (temporary file + rename), the trajectory after every step,
so a killed run always leaves readable files.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically: readers see the old file or the new one, never half of one."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give (0644 with the usual umask), not mkstemp's 0600


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        # a lone surrogate (no UTF-8 for it) is written as \udXXX, which JSON reads back as the same string
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


SECRET_KEY = re.compile(r"key|token|secret|passw|credential|authorization", re.I)
REDACTED = "<redacted>"


def redact_secrets(obj: Any) -> Any:
    """A copy of ``obj`` for files: the string value of every key that names a secret (``api_key``,
    ``*token*``, ``*secret*``, ``*password*``, ...) becomes ``<redacted>``, at any depth. Numbers
    stay (``max_tokens: 512`` is no secret)."""
    if isinstance(obj, dict):
        return {k: REDACTED if isinstance(v, str) and v and isinstance(k, str) and SECRET_KEY.search(k)
                else redact_secrets(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_secrets(x) for x in obj]
    return obj


class TrajectoryWriter:
    """Rewrites a trajectory file after every step without re-encoding all of it each time.

    The ``trajectory`` and ``history`` lists are treated as append-only except for their last
    two items (an agent may still amend the newest message); older items are encoded once and
    their JSON text is reused, so a step costs the encoding of what changed plus one write.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._done: dict[str, list[str]] = {"trajectory": [], "history": []}
        self._ids: dict[str, list[int]] = {"trajectory": [], "history": []}

    def _encode_list(self, key: str, items: list[Any]) -> str:
        done, ids = self._done[key], self._ids[key]
        stable = max(0, len(items) - 2)
        # drop cached text whose item is gone or replaced (the list was edited, not appended to)
        keep = 0
        for keep in range(min(len(ids), stable) + 1):
            if keep == min(len(ids), stable) or ids[keep] != id(items[keep]):
                break
        del done[keep:], ids[keep:]
        while len(done) < stable:
            item = items[len(done)]
            done.append(_dumps(item))
            ids.append(id(item))
        return ",\n".join(done + [_dumps(x) for x in items[stable:]])

    def write(self, traj: dict[str, Any]) -> None:
        parts = []
        for key, value in traj.items():
            if key in self._done and isinstance(value, list):
                parts.append(f"{json.dumps(key)}: [\n{self._encode_list(key, value)}\n]")
            else:
                parts.append(f"{json.dumps(key)}: {_dumps(value)}")
        write_text_atomic(self.path, "{\n" + ",\n".join(parts) + "\n}\n")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def read_json(path: Path) -> Any:
    from .errors import MlgymError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MlgymError(f"{path}: no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MlgymError(f"{path}: not valid JSON ({exc})") from None


def new_trajectory() -> dict[str, Any]:
    return {"environment": "mlgym_main", "trajectory": [], "history": [],
            "info": {"model_stats": {"total_cost": 0.0, "task_cost": 0.0, "tokens_sent": 0,
                                     "tokens_received": 0, "api_calls": 0},
                     "exit_status": "", "submission": None, "score": [], "summarizer": {}}}


def load_actions(path: Path) -> list[dict[str, Any]]:
    """The steps of a trajectory file (ours or MLGym's), each with at least an ``action``."""
    from .errors import MlgymError

    data = read_json(path)
    steps = data.get("trajectory") if isinstance(data, dict) else None
    if not isinstance(steps, list):
        raise MlgymError(f"{path}: not a trajectory file (no 'trajectory' list)")
    for i, st in enumerate(steps):
        if not isinstance(st, dict) or not isinstance(st.get("action"), str):
            raise MlgymError(f"{path}: step {i} has no 'action' string")
    return steps
