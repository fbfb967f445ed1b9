"""Run records: MLGym's ``<taskId>.traj`` and ``results.json``, plus our ``run.json``.

Every file is written atomically (temporary file + rename), the trajectory after every step,
so a killed run always leaves readable files.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False, default=str)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
