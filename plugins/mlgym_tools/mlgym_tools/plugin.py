"""mlgym-tools: MLGym's agent-computer interface, memory and literature tools."""

from __future__ import annotations

from mlgym_core import ToolSpec, hookimpl


@hookimpl
def register_tools() -> list[ToolSpec]:
    from .tools import all_tools  # imported here: mlgym_core may load this plugin while tools.py imports it

    return all_tools()
