"""An episode's host folders: the workspace laid out with the starter files, and the task folders
(every installed pack's) that its sandbox and grader must not see."""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import MlgymError
from .registry import collect
from .specs import TaskSpec
from .task import Task


def lay_out(workspace: Path, task: Task, spec: TaskSpec, workspace_from: Path | None = None) -> None:
    """The starter files, the task's read-only files made 0555 (MLGym chmods them, so `ls` shows
    ``evaluate.py*``), then the files of ``workspace_from`` laid over them."""
    task.layout_workspace(workspace)
    for rel in spec.read_only:
        if (workspace / rel).is_file():
            (workspace / rel).chmod(0o555)
    if workspace_from is not None:
        shutil.copytree(workspace_from, workspace, dirs_exist_ok=True)


def hidden_task_folders(spec: TaskSpec) -> tuple[Path, ...]:
    """The package folders of every installed task (masked in sandboxes: no task's hidden files or
    evaluator can be read); only ``spec``'s own when the installed tasks cannot be listed."""
    try:
        return tuple(s.files for s in collect("tasks") if isinstance(s.files, Path))
    except MlgymError:
        return (Path(str(spec.files)),)
