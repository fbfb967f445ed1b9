"""Entry module of mlgym-runtimes: the ``docker`` runtime and the ``image`` and ``gc`` commands.

Cheap to import: the docker SDK loads only when a runtime is made or a command runs.
"""

from __future__ import annotations

from typing import Any

import click

from mlgym_core import RuntimeSpec, hookimpl


def _docker(**options: Any) -> Any:
    from .docker_runtime import DockerRuntime

    return DockerRuntime(**options)


@hookimpl
def register_runtimes() -> list[RuntimeSpec]:
    return [RuntimeSpec(name="docker", description="One Docker container per episode (network none, read-only "
                        "root, non-root agent, dropped capabilities); graders in fresh containers",
                        factory=_docker)]


@click.group("image")
def image_group() -> None:
    """The Docker image of the agent's sandbox."""


@image_group.command("build")
@click.option("--base", default="debian:bookworm-slim", show_default=True,
              help="Base image (any Debian-like image; e.g. one imported from a debootstrap folder).")
@click.option("--tag", default=None, help="Image tag (default: $MLGYM_IMAGE or mlgym-agent:latest).")
@click.option("--no-task-requirements", is_flag=True, help="Do not install the task packs' requirements.")
def image_build(base: str, tag: str | None, no_task_requirements: bool) -> None:
    """Build the agent image from the Dockerfile shipped with mlgym-runtimes."""
    import os

    from .docker_runtime import DEFAULT_IMAGE
    from .image import build_image

    tag = tag or os.environ.get("MLGYM_IMAGE", DEFAULT_IMAGE)
    image_id = build_image(base, tag, with_tasks=not no_task_requirements, log=click.echo)
    click.echo(f"built {tag} ({image_id[:19]}) from {base}")


@click.command("gc")
@click.option("--all", "all_owners", is_flag=True, help="Remove every mlgym container, live owners' too.")
@click.pass_context
def gc_cmd(ctx: click.Context, all_owners: bool) -> None:
    """Remove what runs whose process is gone left: the local runtime's folders and cgroups, then
    mlgym containers (when a docker engine answers)."""
    from mlgym_core import SandboxError
    from mlgym_core import reap_local

    from .docker_runtime import reap

    local = reap_local(all_owners)
    for name in local:
        click.echo(f"removed {name}")
    click.echo(f"{len(local)} local leftover(s) removed")
    try:
        removed = reap(all_owners=all_owners)
    except SandboxError as exc:
        click.echo(f"containers not checked: {exc}")
        return
    for name in removed:
        click.echo(f"removed {name}")
    click.echo(f"{len(removed)} container(s) removed")


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(image_group)
    cli.add_command(gc_cmd)
