"""mlgym-tools: MLGym's agent-computer interface, memory and literature tools."""

from __future__ import annotations

from mlgym_core import ToolSpec, hookimpl

from .tools import all_tools


@hookimpl
def register_tools() -> list[ToolSpec]:
    return all_tools()
