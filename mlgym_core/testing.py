"""Helpers for testing plugins and core: fake plugins, fake entry points, quick specs, core's fixture
task (:func:`fixture_task`) and the conformance check every plugin's tests/test_plugin.py runs
(:func:`check_plugin`)."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import CheckError, MlgymError
from .hookspecs import hookimpl
from .plugins import GROUP, Manager, plugin_manager, reset_plugin_manager
from .specs import TaskSpec, load_tasks


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


# -- the fixture task -----------------------------------------------------------------------
FIXTURE_TASK_ID = "fixtureTask"
"""A one-file task core ships for tests: set ``ANSWER`` in answer.py; graded in well under a second."""
FIXTURE_PLUGIN_NAME = "fixture"


class FixturePlugin:
    """The plugin that registers core's fixture task (``fixture/fixtureTask``) and nothing else."""

    @hookimpl
    def register_tasks(self) -> list[TaskSpec]:
        return load_tasks(files("mlgym_core") / "data" / "fixture_tasks", plugin=FIXTURE_PLUGIN_NAME)


FIXTURE_PLUGIN = FixturePlugin()


@contextmanager
def fixture_task() -> Iterator[TaskSpec]:
    """Register the fixture plugin for the block (nested blocks share one registration); yield the
    fixture task's spec (stamped)."""
    from .registry import get_task

    qualified = f"{FIXTURE_PLUGIN_NAME}/{FIXTURE_TASK_ID}"
    if plugin_manager().pm.get_plugin(FIXTURE_PLUGIN_NAME) is not None:
        yield get_task(qualified)
        return
    with registered(FIXTURE_PLUGIN, name=FIXTURE_PLUGIN_NAME):
        yield get_task(qualified)


def fixture_env(folder: str | Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """Environment variables under which a subprocess (``mlgym run --task fixtureTask ...``) has the
    fixture plugin installed: a one-entry-point distribution written into ``folder``, put on PYTHONPATH."""
    folder = Path(folder)
    info = folder / "mlgym_fixture-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mlgym-fixture\nVersion: 0\n")
    (info / "entry_points.txt").write_text(f"[mlgym]\n{FIXTURE_PLUGIN_NAME} = mlgym_core.testing:FIXTURE_PLUGIN\n")
    out = dict(os.environ if env is None else env)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), out.get("PYTHONPATH", "")) if p)
    allow = out.get("MLGYM_LOAD_PLUGINS")
    if allow is not None:  # an allowlist in force: the fixture is on it too
        out["MLGYM_LOAD_PLUGINS"] = ",".join(p for p in (allow, FIXTURE_PLUGIN_NAME) if p)
    return out


# -- plugin conformance ----------------------------------------------------------------------
@dataclass
class PluginReport:
    """What :func:`check_plugin` found: the plugin's identity and what it registers, by kind."""

    name: str
    distribution: str
    version: str
    items: dict[str, list[str]] = field(default_factory=dict)
    """Kind (``tasks``, ``tools``, ..., ``commands``) -> keys of the items registered."""

    @property
    def provides(self) -> dict[str, int]:
        return {kind: len(keys) for kind, keys in self.items.items() if keys}


def _entry_point(plugin: str | ModuleType) -> md.EntryPoint:
    wanted = plugin.__name__ if isinstance(plugin, ModuleType) else plugin
    eps = list(md.entry_points(group=GROUP))
    for ep in eps:
        if wanted in (ep.name, ep.value, ep.value.split(":")[0]):
            return ep
    have = ", ".join(sorted(ep.name for ep in eps)) or "none"
    raise CheckError(f"no installed distribution declares an entry point for '{wanted}' in the group '{GROUP}' "
                     f"(is it pip-installed? installed plugins: {have})")


def check_plugin(plugin: str | ModuleType, *, heavy: Iterable[str] = ()) -> PluginReport:
    """Conformance of one installed plugin, loaded through its real entry point (as ``mlgym`` loads it).

    ``plugin`` is the entry-point name (``tasks_cv``), the entry module or its name. Checks that it
    loads; that every ``register_<kind>()`` it implements returns at least one valid, uniquely named
    item (a task pack built without its ``task.yaml`` files as package data registers none); that
    each item passes its conformance check in :mod:`mlgym_core.checks` (files a task or tool names
    are there, factories callable, tool groups an agent asks for exist); and, when ``heavy`` names
    modules, that importing the entry module and calling its hooks imports none of them.

    Raises:
        CheckError: every problem found, in one line (``plugin 'x': ...; ...``).
    """
    from .checks import check_item, tool_groups_installed
    from .plugins import Manager
    from .registry import collect
    from .specs import SPEC_KINDS

    ep = _entry_point(plugin)
    dist = ep.dist.name if ep.dist else "?"
    report = PluginReport(ep.name, dist, ep.dist.version if ep.dist else "?")
    problems: list[str] = []
    groups = tool_groups_installed()
    m = Manager()
    m.load_defaults()
    try:
        m.register(ep.load(), ep.name, distribution=dist, version=report.version)
    except Exception as exc:  # an import error, or the loader's own error in strict mode
        raise CheckError(f"plugin '{ep.name}' ({dist}): does not load: {type(exc).__name__}: {exc}") from exc
    rec = m.records[ep.name]
    if rec.status != "ok":
        raise CheckError(f"plugin '{ep.name}' ({dist}): does not load: {rec.error}")
    from . import plugins

    saved = plugins._manager
    reset_plugin_manager(m)
    try:
        implemented = {kind: hook for kind, (hook, _cls) in SPEC_KINDS.items() if hook in rec.hooks}
        for kind, hook_name in implemented.items():
            try:
                mine = [it for it in collect(kind) if it.plugin == ep.name]
            except MlgymError as exc:  # strict mode: the plugin's error, raised
                problems.append(str(exc))
                continue
            if rec.status != "ok":  # the loader set the plugin aside (its items are left out)
                problems.append(str(rec.error))
                break
            report.items[kind] = [it.key for it in mine]
            if not mine:
                hint = (" (are its task folders, task.yaml included, shipped as package data?)"
                        if kind in ("tasks", "datasets") else "")
                problems.append(f"{hook_name}() registered no {kind}{hint}")
            for it in mine:
                try:
                    check_item(kind, it, tool_groups=groups | {t.group for t in collect("tools")})
                except CheckError as exc:
                    problems.append(str(exc))
        if "register_commands" in rec.hooks:
            import click

            group = click.Group()
            impl = next(i for i in m.pm.hook.register_commands.get_hookimpls() if i.plugin_name == ep.name)
            impl.function(cli=group)
            report.items["commands"] = sorted(group.commands)
            if not group.commands:
                problems.append("register_commands() added no command")
    finally:
        reset_plugin_manager(saved)
    if not implemented and "register_commands" not in rec.hooks:
        problems.append("implements no register_<kind>() hook: it provides nothing")
    heavy = tuple(heavy)
    if heavy:
        loaded = _heavy_imports(ep.value.split(":")[0], heavy)
        if loaded:
            problems.append(f"importing {ep.value} and calling its hooks imports {', '.join(loaded)} "
                            "(import heavy modules inside the factory that needs them)")
    if problems:
        raise CheckError(f"plugin '{ep.name}' ({dist}): " + "; ".join(problems))
    return report


def _heavy_imports(module: str, heavy: tuple[str, ...]) -> list[str]:
    code = ("import importlib, json, sys\n"
            f"m = importlib.import_module({module!r})\n"
            "for n in dir(m):\n"
            "    f = getattr(m, n)\n"
            "    if n.startswith('register_') and n != 'register_commands' and callable(f):\n"
            "        f()\n"
            f"print(json.dumps([h for h in {list(heavy)!r} if h in sys.modules]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # what this process sees
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    if out.returncode != 0:
        return [f"(the import failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode})"]
    return list(json.loads(out.stdout.strip().splitlines()[-1]))
