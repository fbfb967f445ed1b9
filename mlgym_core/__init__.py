"""mlgym core: the plugin contract, the gymnasium environment, sandboxes and run records.

``import mlgym_core`` registers a gymnasium environment ``mlgym/<taskId>`` for every task
of the installed plugins (plugin errors become one line on stderr, never an exception here).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    AmbiguousNameError,
    CheckError,
    ConfigError,
    DescriptorError,
    EvaluationFormatError,
    MlgymError,
    PluginLoadError,
    PluginSpecError,
    SandboxError,
    SubmissionNotFoundError,
    UnknownNameError,
)
from .hookspecs import hookimpl, hookspec
from .progress import notify
from .sandbox import WORKSPACE, GradeConfig, GradeResult, SandboxConfig
from .specs import (
    AgentSpec,
    DatasetSpec,
    MetricSpec,
    ModelBackendSpec,
    Resources,
    RuntimeSpec,
    TaskSpec,
    ToolArgument,
    ToolSpec,
    load_datasets,
    load_tasks,
)
from .task import Task, data_home, make_task
from . import datacache  # after .task, which it imports
from .datacache import DataSource, DataUnavailableError

__all__ = [
    "AgentSpec", "AmbiguousNameError", "CheckError", "ConfigError", "DataSource", "DataUnavailableError",
    "DatasetSpec", "DescriptorError",
    "EvaluationFormatError", "GradeConfig", "GradeResult", "MetricSpec", "MlgymError", "ModelBackendSpec",
    "PluginLoadError", "PluginSpecError", "Resources", "RuntimeSpec", "SandboxConfig", "SandboxError",
    "SubmissionNotFoundError", "Task", "TaskSpec", "ToolArgument", "ToolSpec", "UnknownNameError", "WORKSPACE",
    "__version__", "data_home", "datacache", "get_agent", "get_dataset", "get_metric", "get_model_backend",
    "get_runtime", "get_task", "get_tool", "hookimpl", "hookspec", "load_datasets", "load_tasks", "make_task",
    "notify", "register_envs", "tasks",
]

from .registry import (  # noqa: E402
    get_agent,
    get_dataset,
    get_metric,
    get_model_backend,
    get_runtime,
    get_task,
    get_tool,
    tasks,
)


def register_envs() -> list[str]:
    """Register ``mlgym/<taskId>`` gymnasium environments for the installed tasks."""
    from .env import register_envs as _register

    return _register()


def _autoregister() -> None:
    import os

    if os.environ.get("MLGYM_NO_GYM_REGISTER"):
        return
    try:
        register_envs()
    except Exception as exc:  # a broken plugin must not break ``import mlgym_core``
        import sys

        print(f"mlgym: gymnasium environments not registered: {exc}", file=sys.stderr)


_autoregister()
