"""Frozen pydantic specs: what plugins return from ``register_<plural>()``.

Task and dataset descriptors are YAML package data loaded with :func:`load_tasks` and
:func:`load_datasets`; unknown keys are rejected and every error names the file and field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import DescriptorError, MlgymError

_FROZEN = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class _Spec(BaseModel):
    model_config = _FROZEN
    plugin: str = ""
    """Name of the plugin that provided the item; filled in by core when it collects the hook."""
    plugin_version: str = ""

    @property
    def key(self) -> str:
        raise NotImplementedError

    @property
    def qualified(self) -> str:
        return f"{self.plugin}/{self.key}" if self.plugin else self.key


class Resources(BaseModel):
    """What one episode of a task needs."""

    model_config = _FROZEN
    cpus: float = 1
    gpus: int = 0
    memory_gb: float | None = None
    pids: int = 1024


class ScaleBaseline(BaseModel):
    """The baseline measured at one scale of a task: mean scores, their standard errors, how many runs."""

    model_config = _FROZEN
    scores: Mapping[str, float]
    stderr: Mapping[str, float] = Field(default_factory=dict)
    """Standard error of each mean in ``scores`` (0 when repeated runs gave the same value)."""
    runs: int | None = None
    note: str = ""
    """How it was measured (machine, command)."""


class TaskSpec(_Spec):
    """A benchmark task, loaded from ``tasks/<id>/task.yaml`` in a plugin package."""

    id: str
    name: str
    version: int = 1
    domain: str = ""
    description: str
    """Prompt text shown to the agent; ``{dataset_docs}`` expands to the datasets' docs."""
    submission: Literal["csv", "python", "model", "lm"]
    """Kind of artifact (MLGym's CSV/Python/Model/LM submission tasks)."""
    metric: str
    """Priority metric: the key of the evaluator's JSON output used for ranking."""
    higher_is_better: bool = True
    machine_dependent: tuple[str, ...] = ()
    """Metrics that measure the machine as much as the submission (wall-clock time): a recorded value
    of one comes from another machine, so ``mlgym audit`` checks a baseline's only within a factor
    (:data:`mlgym_core.audit.runner.MACHINE_FACTOR`) of it."""
    baseline_scores: Mapping[str, float] = Field(default_factory=dict)
    """Baseline of the first scale in ``scales`` (MLGym's published baseline for its tasks)."""
    scale_baselines: Mapping[str, ScaleBaseline] = Field(default_factory=dict)
    """Baselines of the other scales (e.g. ``smoke``), measured there; never the first scale's."""
    baseline_command: str | None = None
    """Command the ``baseline`` agent runs before submitting (None: submit the starter as is)."""
    starter_files: tuple[str, ...] = ()
    """Files or folders of the task folder copied into the workspace root."""
    read_only: tuple[str, ...] = ()
    """Workspace paths the agent cannot change (bound read-only where the runtime can)."""
    evaluator: str = "evaluate.py"
    """Evaluation script in the task folder; the grader always runs this pristine copy."""
    evaluate_args: str = ""
    grader_files: tuple[str, ...] = ()
    """Support files of the task folder copied next to the evaluator at grading time."""
    hidden_files: tuple[str, ...] = ()
    """Files of the task folder that only the grader sees (answers, labels)."""
    artifacts: tuple[str, ...] = ()
    """Workspace globs copied (read-only) into the grading sandbox."""
    required_artifacts: tuple[str, ...] = ()
    """Workspace paths that must exist, else the submission is not found."""
    datasets: tuple[str, ...] = ()
    training_timeout: int = 1800
    eval_timeout: int | None = None
    requirements: tuple[str, ...] = ()
    resources: Resources = Resources()
    network: bool = False
    scales: tuple[str, ...] = ("full",)
    """Scales the task runs at; the first is the default (``--scale default``), MLGym's own setting."""
    factory: str | None = None
    """``module:callable`` that builds the live :class:`~mlgym_core.task.Task` (default: core's)."""
    files: Any = None
    """The task folder (a Traversable inside the plugin package); set by :func:`load_tasks`."""

    @property
    def key(self) -> str:
        return self.id

    def resolve_scale(self, scale: str | None = None) -> str:
        """The scale a run uses: ``default`` (or None) is the first of ``scales``; an unknown one raises."""
        if scale in (None, "", "default"):
            return self.scales[0] if self.scales else "full"
        if scale not in self.scales:
            raise MlgymError(f"task '{self.id}' has no scale '{scale}' (scales: {', '.join(self.scales)})")
        return scale

    def baseline_for(self, scale: str | None = None) -> dict[str, float]:
        """Baseline scores at ``scale`` (resolved); {} when none was measured at that scale."""
        scale = self.resolve_scale(scale)
        if scale in self.scale_baselines:
            return dict(self.scale_baselines[scale].scores)
        return dict(self.baseline_scores) if not self.scales or scale == self.scales[0] else {}

    @model_validator(mode="after")
    def _scale_baselines_ok(self) -> TaskSpec:
        for scale in self.scale_baselines:
            if scale not in self.scales or scale == self.scales[0]:
                raise ValueError(f"scale_baselines: '{scale}' must be one of the other scales "
                                 f"({', '.join(self.scales[1:]) or 'none'}); the first scale's baseline is "
                                 "baseline_scores")
            if self.metric not in self.scale_baselines[scale].scores:
                raise ValueError(f"scale_baselines: '{scale}' has no score for the priority metric '{self.metric}'")
        known = {self.metric, *self.baseline_scores}
        for name in self.machine_dependent:
            if name not in known:
                raise ValueError(f"machine_dependent: '{name}' is neither the metric nor in baseline_scores "
                                 f"({', '.join(sorted(known))})")
        return self

    @field_validator("id")
    @classmethod
    def _id_ok(cls, v: str) -> str:
        if not v or "/" in v or not v.replace("_", "").replace("-", "").isalnum():
            raise ValueError("must be non-empty letters, digits, '_' or '-'")
        return v


class DatasetSpec(_Spec):
    """A dataset used by tasks, loaded from ``datasets/<id>.yaml`` or built in Python."""

    id: str
    name: str = ""
    description: str
    source: str = "local"
    """``hf:<hub id>``, ``local`` (under MLGYM_DATA_DIR/<id>/), or ``generated``."""
    splits: Mapping[str, str] = Field(default_factory=dict)
    license: str | None = None

    @property
    def key(self) -> str:
        return self.id


class ToolArgument(BaseModel):
    model_config = _FROZEN
    name: str
    type: str = "string"
    description: str = ""
    required: bool = True


class ToolSpec(_Spec):
    """One command available in the sandbox, with its documentation as data.

    ``source`` is a file installed into the sandbox's tool directory: ``*.sh`` files are
    sourced into the persistent shell; other files become executables named by their stem.
    Several tools may share one source file. ``end_name`` marks multi-line commands
    (``edit`` ... ``end_of_edit``), which the environment turns into here-documents.
    """

    name: str
    signature: str
    docstring: str
    arguments: tuple[ToolArgument, ...] = ()
    end_name: str | None = None
    source: Any = None
    extra_files: tuple[Any, ...] = ()
    """Other files installed next to ``source`` (helpers whose names start with ``_``)."""
    service: Callable[..., Any] | None = None
    """Host-side service factory ``(task_id, options) -> HostService`` reached through a socket."""
    group: str = "default"
    """Tool set this belongs to (``default``, ``memory``, ``literature``, ``core``)."""
    env: dict[str, str] = {}
    """Environment variables the tool needs in the sandbox (the editor's window size, say), set when chosen."""

    @property
    def key(self) -> str:
        return self.name


class _NamedSpec(_Spec):
    """A spec whose key is its ``name``."""

    name: str
    description: str

    @property
    def key(self) -> str:
        return self.name


class AgentSpec(_NamedSpec):
    factory: Callable[..., Any]
    uses_model: bool = True
    tool_groups: tuple[str, ...] = ("core", "default")
    """Tool groups installed in the agent's sandbox: by default core's ``validate``/``submit`` and the ACI
    editing tools (group ``default`` of mlgym-tools; left out with a warning when not installed)."""


class MetricSpec(_NamedSpec):
    """An aggregate over runs. ``compute(table)`` receives a :class:`~mlgym_core.report.ScoreTable`-like object."""

    compute: Callable[..., Any]
    higher_is_better: bool = True


class RuntimeSpec(_NamedSpec):
    factory: Callable[..., Any]


class ModelBackendSpec(_NamedSpec):
    factory: Callable[..., Any]
    """``factory(model_name, **options) -> ModelBackend``."""


def _format_validation(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "<root>"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required field is missing"
    return f"field '{field}': {msg}"


def _read_yaml(path: Traversable | Path, plugin: str) -> dict[str, Any]:
    who = f"plugin '{plugin}', " if plugin else ""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise DescriptorError(f"{who}{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise DescriptorError(f"{who}{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def with_baseline_script(specs: list[TaskSpec], task_id: str, script: Traversable | Path,
                         end: str = "MLGYM_BASELINE_EOF") -> list[TaskSpec]:
    """Give task ``task_id`` a ``baseline_command`` that pipes ``script`` into python, so the
    ``baseline`` agent runs it while the workspace never holds it (MLGym's L1 variants: no
    baseline code is given, the baseline is the main task's). A command already set is kept."""
    command = f"python - <<'{end}'\n{script.read_text().rstrip()}\n{end}"
    return [s.model_copy(update={"baseline_command": command}) if s.id == task_id and not s.baseline_command
            else s for s in specs]


def load_tasks(folder: Traversable | Path, plugin: str = "") -> list[TaskSpec]:
    """Load every ``<folder>/<taskId>/task.yaml`` into TaskSpecs (sorted by id)."""
    specs = []
    for sub in sorted(folder.iterdir(), key=lambda p: p.name):
        desc = sub / "task.yaml"
        if not sub.is_dir() or not desc.is_file():
            continue
        data = _read_yaml(desc, plugin)
        try:
            spec = TaskSpec(**data, files=sub)
        except ValidationError as exc:
            who = f"plugin '{plugin}', " if plugin else ""
            raise DescriptorError(f"{who}{desc}: {_format_validation(exc)}") from None
        specs.append(spec)
    return specs


def load_datasets(folder: Traversable | Path, plugin: str = "") -> list[DatasetSpec]:
    """Load every ``<folder>/*.yaml`` into DatasetSpecs."""
    specs = []
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith((".yaml", ".yml")):
            continue
        data = _read_yaml(item, plugin)
        try:
            specs.append(DatasetSpec(**data))
        except ValidationError as exc:
            who = f"plugin '{plugin}', " if plugin else ""
            raise DescriptorError(f"{who}{item}: {_format_validation(exc)}") from None
    return specs


SPEC_KINDS: dict[str, tuple[str, type[_Spec]]] = {
    "tasks": ("register_tasks", TaskSpec),
    "datasets": ("register_datasets", DatasetSpec),
    "tools": ("register_tools", ToolSpec),
    "agents": ("register_agents", AgentSpec),
    "metrics": ("register_metrics", MetricSpec),
    "runtimes": ("register_runtimes", RuntimeSpec),
    "models": ("register_model_backends", ModelBackendSpec),
}
"""Kind name (as on the CLI) -> (hook name, spec class)."""


def iter_specs(items: Iterable[Any]) -> list[Any]:
    return list(items or ())
