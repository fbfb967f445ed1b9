"""Hook implementations of mlgym-agents. Cheap to import: agents and the openai client load lazily."""

from __future__ import annotations

from typing import Any

from mlgym_core import AgentSpec, ModelBackendSpec, hookimpl

_WANTED_GROUPS = ("core", "default")


def _tool_groups() -> tuple[str, ...]:
    """The ACI groups that are installed (``core`` always is); missing tool sets are left out."""
    try:
        from mlgym_core.registry import collect

        have = {t.group for t in collect("tools")}
    except Exception:
        return ("core",)
    return tuple(g for g in _WANTED_GROUPS if g == "core" or g in have)


def _default_agent(**options: Any) -> Any:
    from .react import DefaultAgent

    return DefaultAgent(**options)


def _tool_calling_agent(**options: Any) -> Any:
    from .tool_calling import ToolCallingAgent

    return ToolCallingAgent(**options)


def _openai(model: str, **options: Any) -> Any:
    from .openai_backend import OpenAIBackend

    return OpenAIBackend(model, **options)


@hookimpl
def register_agents() -> list[AgentSpec]:
    groups = _tool_groups()
    return [
        AgentSpec(name="default", description="MLGym's research agent: DISCUSSION + one command per step",
                  factory=_default_agent, tool_groups=groups),
        AgentSpec(name="tool-calling", description="Native function calling over the same tools and limits",
                  factory=_tool_calling_agent, tool_groups=groups),
    ]


@hookimpl
def register_model_backends() -> list[ModelBackendSpec]:
    return [ModelBackendSpec(name="openai", description="Any OpenAI-compatible chat endpoint (OpenAI, vLLM, "
                             "Ollama, SGLang, LiteLLM, OpenRouter)", factory=_openai)]
