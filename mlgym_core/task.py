"""The live task: lays out the workspace, the grading folder, and parses the evaluator's metrics.

Task packs customise behaviour by subclassing :class:`Task` and naming the class in
``factory: module:Class`` of their task.yaml (data preparation, hidden answers, scales).
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import importlib.util
import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from .errors import EvaluationFormatError, MlgymError, SubmissionNotFoundError
from .sandbox import GRADER_DIR, WORKSPACE
from .specs import TaskSpec


WORKER_MODULE = "mlgym_worker.py"


def worker_module() -> bytes:
    """The source of ``mlgym_worker`` (stdlib only), laid next to every evaluator: evaluators
    run the agent's code through it, in a nested sandbox (see that module)."""
    return (files("mlgym_core") / "data" / WORKER_MODULE).read_bytes()


@functools.cache
def worker_lib() -> Any:
    """``mlgym_worker`` loaded as a module here (its pipe draining serves the host as well)."""
    spec = importlib.util.spec_from_file_location("mlgym_worker", str(files("mlgym_core") / "data" / WORKER_MODULE))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def data_home() -> Path:
    """Root of mlgym's caches: ``MLGYM_HOME`` or ``~/.cache/mlgym``."""
    return Path(os.environ.get("MLGYM_HOME") or Path.home() / ".cache" / "mlgym")


class Task:
    """Default behaviour of a task; everything comes from its TaskSpec and task folder."""

    def __init__(self, spec: TaskSpec, scale: str = "default") -> None:
        self.spec = spec
        self.scale = spec.resolve_scale(scale)
        self._stack = ExitStack()
        self._folder: Path | None = None

    # -- files ---------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        """The task folder as a real path (extracted from a zip wheel if need be)."""
        if self._folder is None:
            self._folder = Path(self._stack.enter_context(as_file(self.spec.files)))
        return self._folder

    def prepare(self) -> None:
        """Make data ready (download, split, generate). Cached; called before each episode."""

    def data_dir(self) -> Path | None:
        """Host folder bound read-only at ``workspace/data`` (None: the task has no data folder)."""
        return None

    def grader_binds(self) -> dict[str, Path]:
        """Extra read-only binds for the grading sandbox (hidden answers), sandbox path -> host path."""
        d = self.data_dir()
        return {f"{WORKSPACE}/data": d} if d is not None else {}

    def description(self) -> str:
        """The prompt text, with ``{dataset_docs}`` expanded and ``{baseline:<metric>}`` replaced by the
        baseline of that metric at the scale being run (4 significant digits)."""
        text = self.spec.description
        if "{dataset_docs}" in text:
            text = text.replace("{dataset_docs}", self.dataset_docs())
        if "{baseline:" in text:
            base = self.spec.baseline_for(self.scale)
            text = re.sub(r"\{baseline:([^}]+)\}",
                          lambda m: f"{base[m.group(1)]:.4g}" if m.group(1) in base else "(not measured)", text)
        return text

    def dataset_docs(self) -> str:
        from .registry import get_dataset

        parts = []
        for ds_id in self.spec.datasets:
            try:
                ds = get_dataset(ds_id)
            except LookupError:
                continue
            parts.append(f"{(ds.name or ds.id).upper()}:\n{ds.description.strip()}\n\n")
        return "".join(parts)

    def layout_workspace(self, workspace: Path) -> None:
        """Copy the starter files into the (empty) workspace folder."""
        for rel in self.spec.starter_files:
            _copy(self.folder / rel, workspace / rel)
        if WORKER_MODULE in self.spec.read_only:  # the task's evaluate.py runs agent code through it
            (workspace / WORKER_MODULE).write_bytes(worker_module())

    def layout_grader(self, folder: Path) -> None:
        """Copy the pristine evaluator, its support files and the hidden files into ``folder``.

        ``folder`` is mounted read-only at /home/agent/grader, apart from the artifacts in the
        workspace, so nothing the agent wrote (a ``json.py``, a ``target.py``) can shadow it."""
        for rel in (self.spec.evaluator, *self.spec.grader_files, *self.spec.hidden_files):
            _copy(self.folder / rel, folder / rel)

    # -- evaluation ----------------------------------------------------------------------
    def check_artifacts(self, workspace: Path) -> str:
        """Raise SubmissionNotFoundError unless the required artifacts exist; return the artifact path."""
        missing = [r for r in self.spec.required_artifacts if not (workspace / r).exists()]
        if missing:
            raise SubmissionNotFoundError(
                f"No valid submission artefact found: {', '.join(missing)} missing from the workspace. "
                "Follow the SUBMISSION FORMAT in the task description.")
        first = self.spec.required_artifacts[0] if self.spec.required_artifacts else ""
        return f"{WORKSPACE}/{first}" if first else WORKSPACE

    def artifact_files(self, workspace: Path) -> Iterator[str]:
        """Workspace-relative files matching the task's artifact globs (never data/)."""
        pats = self.spec.artifacts
        if not pats:
            return
        for root, dirs, names in os.walk(workspace):
            rel_root = os.path.relpath(root, workspace)
            if rel_root == ".":
                dirs[:] = [d for d in dirs if d != "data" and not d.startswith(".")]
            for name in names:
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if any(fnmatch.fnmatch(rel, p) for p in pats):
                    yield rel

    def evaluate_command(self) -> str:
        args = f" {self.spec.evaluate_args}" if self.spec.evaluate_args else ""
        return f"python {GRADER_DIR}/{self.spec.evaluator}{args}"

    def eval_timeout(self) -> float:
        return float(self.spec.eval_timeout or self.spec.training_timeout)

    def declared_metrics(self) -> list[str]:
        """Metrics every evaluation must report: the priority metric and those of the baseline."""
        return list(dict.fromkeys([self.spec.metric, *self.spec.baseline_scores]))

    def parse_metrics(self, output: str) -> dict[str, float]:
        """The metrics dict from the evaluator's standard output: the whole output as a JSON
        object, else its LAST line that is a JSON object (the evaluator prints its metrics when
        all else is done). Every value must be a finite number and every declared metric present."""
        text = output.strip()
        obj: Any = None
        for c in [text] + [ln.strip() for ln in reversed(text.splitlines()) if ln.strip().startswith("{")]:
            try:
                obj = json.loads(c)
            except ValueError:
                continue
            if isinstance(obj, dict):
                break
            obj = None
        if not obj:
            raise EvaluationFormatError(
                f"Failed to decode metrics from evaluation script. Output:\n---\n{text[-2000:]}\n---\n"
                "Please make sure the evaluation script prints the metrics in json format.")
        metrics: dict[str, float] = {}
        for k, v in obj.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise EvaluationFormatError(f"Evaluation failed: metric {str(k)[:100]!r} is not a number "
                                            f"({str(v)[:100]!r}); no score.")
            if not math.isfinite(v):
                raise EvaluationFormatError(f"Evaluation failed: metric {str(k)[:100]!r} is {v} (not a finite "
                                            "number); no score.")
            metrics[str(k)] = float(v)
        missing = [m for m in self.declared_metrics() if m not in metrics]
        if missing:
            raise EvaluationFormatError(f"Evaluation failed: the evaluator reported no {', '.join(map(repr, missing))} "
                                        f"(reported: {', '.join(map(repr, metrics))[:300]}); no score.")
        return metrics

    def close(self) -> None:
        self._stack.close()


def _copy(src: Any, dst: Path) -> None:
    src = Path(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        shutil.copyfile(src, dst)
        shutil.copymode(src, dst)


def make_task(spec: TaskSpec, scale: str = "default") -> Task:
    """Build the live task of a spec through its ``factory`` (default: :class:`Task`)."""
    if not spec.factory:
        return Task(spec, scale)
    mod, _, attr = spec.factory.partition(":")
    try:
        cls = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise MlgymError(f"task '{spec.id}': factory '{spec.factory}' cannot be loaded: {exc}") from exc
    task = cls(spec, scale)
    if not isinstance(task, Task):
        raise MlgymError(f"task '{spec.id}': factory '{spec.factory}' returned {type(task).__name__}, not a Task")
    return task
