"""``mlgym data prepare TASK``: make a task's data ready in the cache (download, tokenize, generate).

The ``data`` group is shared: another plugin may have created it already, and ``prepare`` works
for any installed task (it calls the task's own ``prepare``).
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import click


def add_data_commands(cli: click.Group) -> None:
    group = cli.commands.get("data")
    if group is None:
        group = click.Group("data", help="Prepare and inspect task data (cached under MLGYM_HOME).")
        cli.add_command(group)
    if not isinstance(group, click.Group) or "prepare" in group.commands:
        return
    group.add_command(prepare_cmd)


@click.command("prepare")
@click.argument("task_id")
@click.option("--scale", default="default", show_default=True, help="full | smoke | default")
@click.option("--option", "-o", "options", multiple=True,
              help="KEY=VALUE passed to the task's prepare(), e.g. -o train_shards=2 (value as YAML).")
@click.option("--force", is_flag=True, help="Rebuild even when the cache is complete.")
def prepare_cmd(task_id: str, scale: str, options: tuple[str, ...], force: bool) -> None:
    """Prepare the data of TASK_ID (e.g. languageModelingFineWeb: GPT-2 token shards from FineWeb)."""
    import yaml

    from mlgym_core import MlgymError, get_task, make_task

    opts: dict[str, Any] = {}
    for o in options:
        k, sep, v = o.partition("=")
        if not sep:
            raise MlgymError(f"--option {o!r}: expected KEY=VALUE")
        opts[k.strip()] = yaml.safe_load(v)
    if force:
        opts["force"] = True
    task = make_task(get_task(task_id), scale)
    try:
        params = inspect.signature(task.prepare).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        unknown = [k for k in opts if k not in params and not takes_any]
        if unknown:
            raise MlgymError(f"task '{task_id}': prepare() takes no option {', '.join(unknown)}")
        task.prepare(**opts)
        out = {"task": task.spec.id, "scale": task.scale,
               "data_dir": str(task.data_dir()) if task.data_dir() else None}
        click.echo(json.dumps(out))
    finally:
        task.close()
