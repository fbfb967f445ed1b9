"""Helpers for testing plugins and core: fake plugins, fake entry points, quick specs."""

from __future__ import annotations

import importlib.metadata as md
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .plugins import Manager, plugin_manager, reset_plugin_manager
from .specs import TaskSpec


@contextmanager
def registered(plugin: object, name: str = "test_plugin") -> Iterator[object]:
    """Register ``plugin`` (a module or an object with @hookimpl methods) for the block."""
    m = plugin_manager()
    m.register(plugin, name, distribution="test", version="0")
    try:
        yield plugin
    finally:
        m.unregister(name)


@contextmanager
def fresh_manager() -> Iterator[Manager]:
    """A freshly loaded plugin manager for the block; the previous one is restored after."""
    from . import plugins

    saved = plugins._manager
    reset_plugin_manager()
    try:
        yield plugin_manager()
    finally:
        reset_plugin_manager(saved)


class FakeEntryPoint:
    def __init__(self, name: str, obj: Any, dist: str = "fake-dist", version: str = "0.0") -> None:
        self.name = name
        self._obj = obj
        self.group = "mlgym"
        self.dist = type("D", (), {"name": dist, "version": version})()

    def load(self) -> Any:
        if isinstance(self._obj, BaseException):
            raise self._obj
        if callable(self._obj) and getattr(self._obj, "_lazy", False):
            return self._obj()
        return self._obj


@contextmanager
def fake_entry_points(monkeypatch: Any, *eps: FakeEntryPoint) -> Iterator[None]:
    """Make ``importlib.metadata.entry_points(group="mlgym")`` return ``eps``."""
    real = md.entry_points

    def _eps(**kw: Any) -> Any:
        if kw.get("group") == "mlgym":
            return list(eps)
        return real(**kw)

    monkeypatch.setattr(md, "entry_points", _eps)
    monkeypatch.delenv("MLGYM_LOAD_PLUGINS", raising=False)
    with fresh_manager():
        yield


def make_task_spec(folder: Path | None = None, **fields: Any) -> TaskSpec:
    """A valid TaskSpec with defaults for the fields not given."""
    base: dict[str, Any] = {"id": "dummyTask", "name": "Dummy", "description": "A dummy task.",
                            "submission": "python", "metric": "Score", "files": folder}
    base.update(fields)
    return TaskSpec(**base)


def list_plugins_json() -> list[dict[str, Any]]:
    """What ``mlgym list-plugins --json --all`` prints, parsed."""
    from click.testing import CliRunner

    from .cli import cli

    res = CliRunner().invoke(cli, ["list-plugins", "--json", "--all"])
    if res.exit_code != 0:
        raise AssertionError(res.output)
    return json.loads(res.output)
