"""Plugin discovery: one entry-point group, ``mlgym``; built-ins are ordinary plugins."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import sys
from dataclasses import dataclass, field

import pluggy

from . import hookspecs
from .errors import PluginLoadError, PluginSpecError

GROUP = "mlgym"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "mlgym_core.builtin_plugins.runtimes",
    "mlgym_core.builtin_plugins.models",
    "mlgym_core.builtin_plugins.agents",
    "mlgym_core.builtin_plugins.tools",
    "mlgym_core.builtin_plugins.metrics",
    "mlgym_core.builtin_plugins.bench",
)


@dataclass
class PluginRecord:
    """What ``mlgym list-plugins`` shows about one plugin."""

    name: str
    distribution: str
    version: str
    status: str = "ok"
    error: str | None = None
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    return None if raw is None else [x.strip() for x in raw.split(",") if x.strip()]


class Manager:
    """A pluggy manager plus the records of every plugin it tried to load."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.vetted: set[str] = set()  # plugins whose registration hooks were all called once (registry)

    def register(self, plugin: object, name: str, *, distribution: str = "", version: str = "",
                 builtin: bool = False) -> None:
        rec = PluginRecord(name, distribution or ("mlgym-core" if builtin else "?"), version, builtin=builtin)
        self.records[name] = rec
        self.vetted.discard(name)
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            self.fail(name, exc)
            return
        rec.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or ())

    def unregister(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.records.pop(name, None)

    def fail(self, name: str, exc: BaseException) -> None:
        """Plugin ``name`` failed (to load, or in a hook): one error line, no items from now on; strict raises."""
        rec = self.records.setdefault(name, PluginRecord(name, "?", "?"))
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)  # pluggy allows re-registering the name later (tests do)
        spec_error = isinstance(exc, PluginSpecError)  # it names the plugin and the hook already
        rec.status = "error"
        line = str(exc).removeprefix(f"plugin '{name}' ") if spec_error else f"{type(exc).__name__}: {exc}"
        rec.error = line.splitlines()[0]
        if os.environ.get("MLGYM_STRICT_PLUGINS", "") not in ("", "0"):
            if spec_error:
                raise exc
            raise PluginLoadError(f"plugin '{rec.name}' ({rec.distribution} {rec.version}): {rec.error}") from exc
        print(f"mlgym: skipped plugin '{rec.name}' ({rec.distribution} {rec.version}): {rec.error}\n"
              "       (set MLGYM_STRICT_PLUGINS=1 for the traceback)", file=sys.stderr)

    def load_defaults(self) -> None:
        from . import __version__

        for modname in DEFAULT_PLUGINS:
            name = modname.rsplit(".", 1)[1].removeprefix("default_")
            self.register(importlib.import_module(modname), f"core.{name}", version=__version__, builtin=True)

    def load_entry_points(self) -> None:
        allow = _env_list("MLGYM_LOAD_PLUGINS")
        block = set(_env_list("MLGYM_DISABLE_PLUGINS") or ())
        for ep in md.entry_points(group=GROUP):
            if (allow is not None and ep.name not in allow) or ep.name in block:
                if ep.name in block:
                    self.pm.set_blocked(ep.name)
                continue
            if ep.name in self.records:  # already registered (tests) or failed
                continue
            dist, version = (ep.dist.name, ep.dist.version) if ep.dist else ("?", "?")
            try:
                plugin = ep.load()
                if getattr(getattr(plugin, "__spec__", None), "_initializing", False):
                    raise PluginLoadError(f"module '{plugin.__name__}' is still being imported (its import "
                                          "asked for the plugin manager); registering it would miss its hooks")
            except Exception as exc:
                self.records[ep.name] = PluginRecord(ep.name, dist, version)
                self.fail(ep.name, exc)
                continue
            self.register(plugin, ep.name, distribution=dist, version=version)
        if os.environ.get("MLGYM_TRACE_PLUGINS", "") not in ("", "0"):
            self.pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
            self.pm.enable_tracing()


_manager: Manager | None = None


def plugin_manager() -> Manager:
    """The process-wide manager, built and loaded on first use."""
    global _manager
    if _manager is None:
        _manager = m = Manager()
        try:
            m.load_defaults()
            m.load_entry_points()
        except BaseException:
            _manager = None
            raise
    return _manager


def reset_plugin_manager(manager: Manager | None = None) -> None:
    """Forget the cached manager (tests); the next use builds a fresh one."""
    global _manager
    _manager = manager


def list_plugins(include_builtin: bool = False) -> list[PluginRecord]:
    """Records of every plugin, optionally with core's built-ins."""
    m = plugin_manager()
    return [r for r in m.records.values() if include_builtin or not r.builtin]
