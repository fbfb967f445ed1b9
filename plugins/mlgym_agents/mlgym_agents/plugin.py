"""Hook implementations of mlgym-agents. Cheap to import: agents and the openai client load lazily."""

from __future__ import annotations

from typing import Any

from mlgym_core import AgentSpec, AttackSpec, ModelBackendSpec, hookimpl, load_attacks


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
    return [
        AgentSpec(name="default", description="MLGym's research agent: DISCUSSION + one command per step",
                  factory=_default_agent),
        AgentSpec(name="tool-calling", description="Native function calling over the same tools and limits",
                  factory=_tool_calling_agent),
        AgentSpec(name="cheater", description="Tries every attack of the library on the task (mlgym audit runs it)",
                  factory=_cheater, uses_model=False, tool_groups=("core",)),
    ]


def _cheater(**options: Any) -> Any:
    from .cheater import CheaterAgent

    return CheaterAgent(**options)


@hookimpl
def register_attacks() -> list[AttackSpec]:
    from importlib.resources import files

    return load_attacks(files(__package__) / "attacks", plugin="agents")


@hookimpl
def register_model_backends() -> list[ModelBackendSpec]:
    return [ModelBackendSpec(name="openai", description="Any OpenAI-compatible chat endpoint (OpenAI, vLLM, "
                             "Ollama, SGLang, LiteLLM, OpenRouter)", factory=_openai)]
