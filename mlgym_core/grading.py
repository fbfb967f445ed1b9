"""Grading outside the agent's shell: a fresh folder, the pristine evaluator, artifacts read-only."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from .errors import MlgymError
from .sandbox import GRADER_DIR, GradeConfig
from .task import Task


class EvaluationTimeoutError(MlgymError):
    """The evaluator ran past the task's evaluation timeout."""


def grade(task: Task, runtime: object, workspace: Path, *, devices: tuple[str, ...] = (),
          hide: tuple[Path, ...] = ()) -> tuple[dict[str, float], str]:
    """Evaluate the artifacts in ``workspace``; return (metrics, artifact path).

    Raises SubmissionNotFoundError, EvaluationFormatError or EvaluationTimeoutError.
    """
    path = task.check_artifacts(workspace)
    root = Path(tempfile.mkdtemp(prefix="mlgym-grade-"))
    try:
        folder = root / "workspace"
        folder.mkdir()
        grader = root / "grader"
        grader.mkdir()
        for rel in task.artifact_files(workspace):
            dst = folder / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            src = workspace / rel
            if src.is_symlink() or not src.is_file():
                continue
            shutil.copyfile(src, dst)
            dst.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        task.layout_grader(grader)
        res = runtime.grade(GradeConfig(  # type: ignore[attr-defined]
            folder=folder, command=task.evaluate_command(), timeout=task.eval_timeout(),
            ro_binds={GRADER_DIR: grader, **task.grader_binds()}, devices=devices, pids=task.spec.resources.pids,
            memory_gb=task.spec.resources.memory_gb, hide=hide))
    finally:
        _rmtree(root)
    if res.timed_out:
        raise EvaluationTimeoutError(f"evaluation took longer than {task.eval_timeout():g} s")
    return task.parse_metrics(res.output), path


def _rmtree(p: Path) -> None:
    def onerror(func, path, _exc):  # type: ignore[no-untyped-def]
        try:
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            func(path)
        except OSError:
            pass

    shutil.rmtree(p, onerror=onerror)
