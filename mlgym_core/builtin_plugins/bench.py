"""Built-in plugin: the ``mlgym bench`` command (tasks x agents x models x runs, resumable)."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    from ..bench.command import bench

    cli.add_command(bench)
