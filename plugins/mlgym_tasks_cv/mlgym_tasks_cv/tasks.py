"""The live tasks of the CV pack: data from :mod:`mlgym_tasks_cv.data`, labels only for the grader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlgym_core import WORKSPACE, DataSource, MlgymError, Task

from . import data


class CVTask(Task):
    """A task over one dataset of the pack (``datasets[0]`` of its task.yaml).

    The agent's ``data/`` holds training data and the test inputs; the grader's ``data/`` holds only the
    test labels (classification) or the reference captions (captioning).
    """

    @property
    def dataset(self) -> str:
        if not self.spec.datasets:
            raise MlgymError(f"task '{self.spec.id}': task.yaml names no dataset")
        return self.spec.datasets[0]

    def data_sources(self) -> list[DataSource]:
        return data.sources(self.dataset, self.scale)

    def prepare(self) -> None:
        data.prepare(self.dataset, self.scale)

    def data_dir(self) -> Path:
        return data.cache_dir(self.dataset, self.scale) / "agent"

    def grader_binds(self) -> dict[str, Path]:
        return {f"{WORKSPACE}/data": data.cache_dir(self.dataset, self.scale) / "grader"}

    def layout_workspace(self, workspace: Path) -> None:
        super().layout_workspace(workspace)
        self.write_sample_submission(workspace / "sample_submission.csv")

    def write_sample_submission(self, path: Path) -> None:
        """A well-formed, uninformative submission matching the prepared test split."""
        info = json.loads((self.data_dir() / "info.json").read_text())
        if self.dataset == "coco":
            import pandas as pd

            ids = pd.read_parquet(self.data_dir() / "val_images.parquet", columns=["id"])["id"].tolist()
            path.write_text("image_id,caption\n" + "".join(f"{i},a photo of an object\n" for i in ids))
        else:
            rng = np.random.default_rng(0)
            labels = rng.integers(0, len(info["classes"]), size=info["num_test"])
            path.write_text("label\n" + "".join(f"{v}\n" for v in labels))
