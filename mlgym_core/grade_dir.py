"""``mlgym grade --task ID DIR``: grade a folder of artifacts in the grading sandbox, as a standalone
command (MLE-bench's ``grade``). The folder is copied, never written to; the task's pristine
evaluator scores it exactly as ``submit`` would at the end of an episode."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from .errors import EvaluationFormatError, MlgymError, SubmissionNotFoundError


def grade_directory(task: str, directory: str | Path, *, scale: str = "default", runtime: str = "local",
                    devices: tuple[str, ...] = ()) -> dict[str, Any]:
    """Grade ``directory`` for ``task``; return a JSON-ready record with ``metrics`` or ``error``."""
    from .env import MLGymEnv
    from .grading import grade
    from .workspace import hidden_task_folders

    folder = Path(directory).resolve()
    if not folder.is_dir():
        raise MlgymError(f"{directory}: not a directory")
    env = MLGymEnv(task, runtime=runtime, scale=scale, devices=devices, prestart=False)
    spec = env.spec_task
    rec: dict[str, Any] = {"schema": "mlgym-grade/1", "task": spec.id, "qualified_id": spec.qualified,
                           "task_version": spec.version, "scale": env.task.scale, "directory": str(folder),
                           "metric": spec.metric, "higher_is_better": spec.higher_is_better,
                           "baseline": dict(spec.baseline_scores), "metrics": None, "artifact": None, "error": None,
                           "graded_at": _dt.datetime.now(_dt.timezone.utc).isoformat()}
    try:
        env.task.prepare()
        metrics, path = grade(env.task, env.runtime, folder, devices=env.devices, hide=hidden_task_folders(spec))
    except (SubmissionNotFoundError, EvaluationFormatError) as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"
        return rec
    finally:
        env.close()
    rec.update(metrics=metrics, artifact=path)
    value, base = metrics.get(spec.metric), spec.baseline_scores.get(spec.metric)
    if value is not None and base is not None:
        rec["beats_baseline"] = value > base if spec.higher_is_better else value < base
    return rec
