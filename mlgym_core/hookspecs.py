"""The plugin contract of mlgym: every hook a plugin may implement.

Plugins implement these with ``from mlgym_core import hookimpl``. Contribution hooks
(``register_<plural>``) are called on first use, never at import; every implementation
is called and each returned item is stamped with the plugin's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import click

    from .audit.attacks import AttackSpec
    from .specs import (
        AgentSpec,
        DatasetSpec,
        MetricSpec,
        ModelBackendSpec,
        RuntimeSpec,
        TaskSpec,
        ToolSpec,
    )

PROJECT = "mlgym"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_tasks() -> Iterable[TaskSpec]:
    """Tasks the plugin provides.

    Called when core first needs the task registry (``mlgym list tasks``, ``mlgym run``,
    ``gymnasium.make("mlgym/<id>")``).

    Returns:
        TaskSpec objects; ids must be unique within the plugin.
    """


@hookspec
def register_datasets() -> Iterable[DatasetSpec]:
    """Datasets the plugin provides (descriptions, hub ids, local layouts).

    Called when core first needs the dataset registry.

    Returns:
        DatasetSpec objects; ids must be unique within the plugin.
    """


@hookspec
def register_tools() -> Iterable[ToolSpec]:
    """Commands an agent may call inside its sandbox, with their documentation.

    Called when an episode installs tools into a sandbox and by ``mlgym list tools``.

    Returns:
        ToolSpec objects; names must be unique within the plugin.
    """


@hookspec
def register_agents() -> Iterable[AgentSpec]:
    """Agents (scaffolds) the plugin provides.

    Called when ``mlgym run --agent NAME`` resolves the agent and by ``mlgym list agents``.

    Returns:
        AgentSpec objects; names must be unique within the plugin.
    """


@hookspec
def register_metrics() -> Iterable[MetricSpec]:
    """Aggregate metrics over runs (best attempt@k, AUP, ...).

    Called by ``mlgym report`` and ``mlgym list metrics``.

    Returns:
        MetricSpec objects; names must be unique within the plugin.
    """


@hookspec
def register_runtimes() -> Iterable[RuntimeSpec]:
    """Runtimes: kinds of place where an episode's sandbox and grader run.

    Called when an episode starts its sandbox and by ``mlgym list runtimes``.

    Returns:
        RuntimeSpec objects; names must be unique within the plugin.
    """


@hookspec
def register_model_backends() -> Iterable[ModelBackendSpec]:
    """Model backends, addressed as ``<backend>:<model name>`` on the command line.

    Called when an episode resolves ``--model`` and by ``mlgym list models``.

    Returns:
        ModelBackendSpec objects; names must be unique within the plugin.
    """


@hookspec
def register_attacks() -> Iterable[AttackSpec]:
    """Attacks on a task's grading, as data (usually ``load_attacks(files(__package__) / "attacks")``).

    Called when ``mlgym audit`` plans a task's checks and when the ``cheater`` agent picks its
    attacks; each applicable attack runs in an episode of its own (attacks marked
    ``shares_validation`` share one grading, and are rerun alone if it is not clean) and any that pays
    fails the audit.

    Returns:
        AttackSpec objects; names must be unique within the plugin.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``mlgym`` command line.

    Called once when the CLI starts, after the built-in commands exist.

    Args:
        cli: the top-level click group; call ``cli.add_command`` or decorate with ``cli.command``.
    """
