"""mlgym core: the plugin contract, the gymnasium environment, sandboxes and run records.

This module is the public surface: plugins import from ``mlgym_core`` (and ``mlgym_core.testing``)
only. ``import mlgym_core`` loads no plugin and registers nothing; the plugin manager is built on
first use (``get_task``, ``tasks()``, the CLI). ``import mlgym_core.gym_envs`` registers the
gymnasium environments ``mlgym/<taskId>``.
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
from .exits import ExitAction
from .protocols import Agent, Completion, ContextWindowError, CostLimitError, Episode, ModelBackend, ModelError, Usage
from .sandbox import WORKSPACE, GradeConfig, GradeResult, Runtime, Sandbox, SandboxConfig
from .shell import ShellDied, ShellResult
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
    with_baseline_script,
)
from .task import Task, data_home, make_task, worker_lib
from . import datacache  # after .task, which it imports
from .datacache import DataSource, DataUnavailableError

# What a runtime plugin builds on (docs/writing-a-runtime.md): the shell and its transport seam,
# sandbox paths, the envelope numbers, the sandbox users and the grader output caps.
from .cgroups import proc_start
from .etc_files import passwd_files
from .grading import OUTPUT_CAP, STDERR_CAP, keep_tail
from .leftovers import reap_local
from .limits import disk_cap_bytes, memory_limit_bytes
from .privileges import give_to, sandbox_uids
from .sandbox import AGENT_HOME, SERVICES_DIR, TOOLS_DIR, agent_env, inside_workspace
from .shell import PersistentShell, ShellTransport, Started, bootstrap_script
from .pricing import cost_of, price_for

__all__ = [
    "AGENT_HOME", "Agent", "AgentSpec", "AmbiguousNameError", "AttackSpec", "CheckError", "Completion",
    "ConfigError", "ContextWindowError", "CostLimitError", "DataSource", "DataUnavailableError", "DatasetSpec",
    "DescriptorError", "EvaluationFormatError", "GradeConfig", "GradeResult", "MLGymEnv", "MetricSpec",
    "MlgymError", "ModelBackend", "ModelBackendSpec", "ModelError", "OUTPUT_CAP", "PersistentShell",
    "PluginLoadError", "PluginSpecError", "Resources", "Runtime", "RuntimeSpec", "SERVICES_DIR", "STDERR_CAP",
    "Sandbox", "SandboxConfig", "SandboxError", "ShellDied", "ShellResult", "ShellTransport", "Started",
    "SubmissionNotFoundError", "TOOLS_DIR", "Task", "TaskSpec", "ToolArgument", "ToolSpec", "UnknownNameError",
    "WORKSPACE", "__version__", "agent_env", "agents", "attacks", "bootstrap_script", "cost_of", "data_home",
    "datacache", "datasets", "disk_cap_bytes", "get_agent", "get_dataset", "get_metric", "get_model_backend",
    "get_runtime", "get_task", "get_tool", "give_to", "hookimpl", "hookspec", "inside_workspace", "keep_tail",
    "load_attacks", "load_datasets", "load_tasks", "make_task", "memory_limit_bytes", "metrics", "model_backends",
    "notify", "passwd_files", "price_for", "proc_start", "reap_local", "register_envs", "runtimes", "sandbox_uids",
    "tasks", "tools", "with_baseline_script", "worker_lib",
    "Episode", "ExitAction", "Usage",  # the agent-side contract
    "RunRecord", "ScoreTable",  # run.json, typed; what a metric's compute() receives (docs/writing-a-metric.md)
]

from .registry import (  # noqa: E402
    agents,
    datasets,
    get_agent,
    get_dataset,
    get_metric,
    get_model_backend,
    get_runtime,
    get_task,
    get_tool,
    metrics,
    model_backends,
    runtimes,
    tasks,
    tools,
)

# name -> module, imported on first use (gymnasium and the environment; the attack catalogue)
_LAZY = {"MLGymEnv": "mlgym_core.env", "RunRecord": "mlgym_core.records", "ScoreTable": "mlgym_core.report.build",
         "AttackSpec": "mlgym_core.audit.attacks",
         "attacks": "mlgym_core.audit.attacks", "load_attacks": "mlgym_core.audit.attacks"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlgym_core' has no attribute '{name}'")


def register_envs() -> list[str]:
    """Register ``mlgym/<taskId>`` gymnasium environments for the installed tasks; returns their ids.

    Same as ``import mlgym_core.gym_envs`` (gymnasium's idiom), callable again after plugins change.
    """
    from . import gym_envs

    return gym_envs.register_envs()
