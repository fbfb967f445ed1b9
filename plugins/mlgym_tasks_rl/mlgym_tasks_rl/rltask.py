"""Task classes of the RL pack: a shared starter ``src/`` and a configuration per scale.

The workspace gets ``src/`` (train.py, policy.py, networks.py, helpers.py, __init__.py and
``config.yaml`` for the chosen scale), the task's ``evaluate.py`` and the grading module
``rlgrader.py`` it imports. The artifact is ``checkpoints/`` plus ``config.yaml`` at the
workspace root (a fixed name; MLGym took the first YAML found anywhere); ``src/`` travels to
the grader too, because the evaluator rebuilds the network from ``src/networks.py``.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from mlgym_core import MlgymError, SubmissionNotFoundError, Task

GRADER_MODULE = "rlgrader.py"
SRC_FILES = ("__init__.py", "helpers.py", "networks.py", "train.py")


class RLTask(Task):
    """A gymnax task trained by the starter PPO; ``scale`` picks ``src/config.yaml``."""

    policy_file = "policy.py"

    def __init__(self, spec, scale: str = "default") -> None:  # type: ignore[no-untyped-def]
        super().__init__(spec, scale)
        if not self._config_file().is_file():
            raise MlgymError(f"task '{spec.id}': no training configuration for scale '{self.scale}' "
                             f"({self._config_file().name} is missing from the package)")

    @staticmethod
    def common() -> Path:
        return Path(str(files("mlgym_tasks_rl") / "common"))

    def _config_file(self) -> Path:
        return self.common() / "configs" / f"{self.spec.id}.{self.scale}.yaml"

    def layout_workspace(self, workspace: Path) -> None:
        super().layout_workspace(workspace)
        src = workspace / "src"
        src.mkdir(parents=True, exist_ok=True)
        for name in SRC_FILES:
            shutil.copyfile(self.common() / "src" / name, src / name)
        shutil.copyfile(self.common() / "src" / self.policy_file, src / "policy.py")
        shutil.copyfile(self._config_file(), src / "config.yaml")
        shutil.copyfile(self.common() / GRADER_MODULE, workspace / GRADER_MODULE)

    def layout_grader(self, folder: Path) -> None:
        super().layout_grader(folder)
        shutil.copyfile(self.common() / GRADER_MODULE, folder / GRADER_MODULE)

    def check_artifacts(self, workspace: Path) -> str:
        path = super().check_artifacts(workspace)
        if not any((workspace / "checkpoints").glob("*.pkl")):
            raise SubmissionNotFoundError(
                "No valid submission artefact found: checkpoints/ holds no .pkl checkpoint. "
                "Follow the SUBMISSION FORMAT in the task description.")
        return path


class ReinforceTask(RLTask):
    """MountainCar with a plain REINFORCE ``policy.py`` as the starter."""

    policy_file = "policy_reinforce.py"
