"""Task classes of the pack: the two-player games share one match runner."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from mlgym_core import Task

RUNNER = "gamerunner.py"


class GameTask(Task):
    """A game task: the shared match runner sits next to evaluate.py, for the agent and the grader."""

    def _runner(self) -> Path:
        return Path(str(files("mlgym_tasks_games") / "common" / RUNNER))

    def layout_workspace(self, workspace: Path) -> None:
        super().layout_workspace(workspace)
        (workspace / RUNNER).write_bytes(self._runner().read_bytes())

    def layout_grader(self, folder: Path) -> None:
        super().layout_grader(folder)
        (folder / RUNNER).write_bytes(self._runner().read_bytes())
