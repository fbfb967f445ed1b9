"""Collect what plugins register, stamped with provenance, and look items up by name."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .errors import AmbiguousNameError, PluginSpecError, UnknownNameError
from .plugins import plugin_manager
from .specs import SPEC_KINDS

KNOWN_PROVIDERS: dict[str, tuple[str, str]] = {
    # id prefix or name -> (what, distribution folder)
    "image": ("CV tasks", "mlgym_tasks_cv"),
    "languageModeling": ("NLP tasks", "mlgym_tasks_nlp"),
    "naturalLanguage": ("NLP tasks", "mlgym_tasks_nlp"),
    "rl": ("RL tasks", "mlgym_tasks_rl"),
    "regression": ("tabular tasks", "mlgym_tasks_tabular"),
    "titanic": ("tabular tasks", "mlgym_tasks_tabular"),
    "docker": ("the docker runtime", "mlgym_runtimes"),
    "openai": ("the openai model backend", "mlgym_agents"),
    "default": ("the MLGym research agent", "mlgym_agents"),
    "tool-calling": ("the tool-calling agent", "mlgym_agents"),
    "open": ("the ACI tools", "mlgym_tools"),
    "edit": ("the ACI tools", "mlgym_tools"),
    "memory": ("memory tools", "mlgym_tools"),
}


def collect(kind: str) -> list[Any]:
    """Call the hook of ``kind`` on every plugin; validate and stamp each item.

    A plugin whose hook raises (a bad ``task.yaml`` included) or returns something invalid is
    marked failed (``mlgym list-plugins`` shows its one-line error) and gives no items of any kind:
    the first time a plugin is asked, all its registration hooks are called. The other plugins'
    items are returned. Under ``MLGYM_STRICT_PLUGINS=1`` the error is raised instead.
    """
    hook_name = SPEC_KINDS[kind][0]
    m = plugin_manager()
    out: list[Any] = []
    for impl in reversed(getattr(m.pm.hook, hook_name).get_hookimpls()):
        name = m.pm.get_name(impl.plugin) or "?"
        try:
            if name not in m.vetted:
                m.vetted.add(name)
                for other in SPEC_KINDS:
                    if other != kind:
                        _plugin_items(name, other)
            out.extend(_plugin_items(name, kind))
        except PluginSpecError as exc:
            m.fail(name, exc)
    return out


def _plugin_items(name: str, kind: str) -> list[Any]:
    """What plugin ``name`` registers of ``kind``, checked and stamped; PluginSpecError if it fails."""
    hook_name, cls = SPEC_KINDS[kind]
    m = plugin_manager()
    plugin = m.pm.get_plugin(name)
    rec = m.records.get(name)
    out: list[Any] = []
    for impl in getattr(m.pm.hook, hook_name).get_hookimpls():
        if impl.plugin is plugin:
            out += _items_of(name, hook_name, cls, impl.function, rec.version if rec else "")
    return out


def _items_of(name: str, hook_name: str, cls: type, function: Any, version: str) -> list[Any]:
    try:
        items = list(function() or ())
    except Exception as exc:
        raise PluginSpecError(f"plugin '{name}' failed in {hook_name}(): {type(exc).__name__}: {exc}") from exc
    if os.environ.get("MLGYM_TRACE_PLUGINS", "") not in ("", "0"):
        print(f"mlgym: {name}.{hook_name}() -> {[getattr(i, 'key', i) for i in items]}", file=sys.stderr)
    seen: set[str] = set()
    for i, item in enumerate(items, 1):
        if not isinstance(item, cls):
            raise PluginSpecError(
                f"plugin '{name}' returned {type(item).__name__} from {hook_name}() "
                f"(item {i}: {item!r:.40}); expected {cls.__name__}")
        if item.key in seen:
            raise PluginSpecError(f"plugin '{name}' returned '{item.key}' twice from {hook_name}()")
        seen.add(item.key)
    return [item.model_copy(update={"plugin": name, "plugin_version": version}) for item in items]


def items(kind: str) -> Mapping[str, Any]:
    """All items of a kind keyed by qualified name (``plugin/id``), read-only."""
    return MappingProxyType({it.qualified: it for it in collect(kind)})


def get(kind: str, name: str) -> Any:
    """One item by plain or qualified name; errors list choices or suggest a close match."""
    all_items = collect(kind)
    if "/" in name:
        for it in all_items:
            if it.qualified == name:
                return it
    matches = [it for it in all_items if it.key == name]
    if len(matches) == 1:
        return matches[0]
    singular = kind.rstrip("s") if kind != "models" else "model backend"
    if len(matches) > 1:
        choices = ", ".join(sorted(it.qualified for it in matches))
        raise AmbiguousNameError(f"{singular} '{name}' is provided by several plugins; use one of: {choices}")
    names = sorted({it.key for it in all_items} | {it.qualified for it in all_items})
    msg = f"No {singular} '{name}'."
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        msg += f" Did you mean '{close[0]}'?"
    hint = _install_hint(name, kind)
    if hint:
        msg += " " + hint
    elif all_items:
        msg += f" Available: {', '.join(sorted({it.key for it in all_items}))}."
    failed = sorted(r.name for r in plugin_manager().records.values() if r.status == "error")
    if failed:
        msg += f" Plugins that failed (see mlgym list-plugins): {', '.join(failed)}."
    raise UnknownNameError(msg)


def _install_hint(name: str, kind: str) -> str:
    import importlib.util

    for prefix, (what, folder) in KNOWN_PROVIDERS.items():
        if name.split("/")[-1].startswith(prefix):
            dist = folder.replace("_", "-")
            if importlib.util.find_spec(folder) is None:
                return (f"{what[0].upper()}{what[1:]} ship in {dist}, which is not installed: "
                        f"pip install -e plugins/{folder}")
            return (f"{what[0].upper()}{what[1:]} ship in {dist}, which is installed but not loaded "
                    "(see mlgym list-plugins, MLGYM_LOAD_PLUGINS, MLGYM_DISABLE_PLUGINS).")
    return ""


def tasks() -> Mapping[str, Any]:
    """Every task, keyed by qualified name (``plugin/id``)."""
    return items("tasks")


def datasets() -> Mapping[str, Any]:
    return items("datasets")


def tools() -> Mapping[str, Any]:
    return items("tools")


def agents() -> Mapping[str, Any]:
    return items("agents")


def metrics() -> Mapping[str, Any]:
    return items("metrics")


def runtimes() -> Mapping[str, Any]:
    return items("runtimes")


def model_backends() -> Mapping[str, Any]:
    return items("models")


def get_task(name: str) -> Any:
    return get("tasks", name)


def get_dataset(name: str) -> Any:
    return get("datasets", name)


def get_tool(name: str) -> Any:
    return get("tools", name)


def get_agent(name: str) -> Any:
    return get("agents", name)


def get_metric(name: str) -> Any:
    return get("metrics", name)


def get_runtime(name: str) -> Any:
    return get("runtimes", name)


def get_model_backend(name: str) -> Any:
    return get("models", name)
